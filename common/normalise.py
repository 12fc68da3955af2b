"""The one text normalisation the corpus tables group entities by.

The model reports a span exactly as written, so one entity shows up as
"Paris", "PARIS", "Ｐａｒｉｓ" (full-width) and "paris " across a corpus. A
corpus index that kept those apart would split one entity's counts into
several rows; one that folded too much (accents, punctuation) would merge
different names. The rule here is the smallest that removes differences of
*encoding and typography* but none of *spelling*:

1. Unicode NFKC: compatibility forms become their plain equivalents
   (full-width "Ｐａｒｉｓ" -> "Paris", the ligature "ﬁ" -> "fi", a
   no-break space -> a space, "①" -> "1") and composed/decomposed accents
   become one form ("e" + combining acute == "é").
2. Case folding (`str.casefold`, stronger than `lower`: "Straße" and "STRASSE"
   both become "strasse"), then NFKC again, because folding can leave a
   string that is no longer NFKC ("İ" folds to "i" + combining dot).
3. Every run of whitespace (any Unicode space, tab, newline) becomes one
   space, and leading/trailing whitespace is removed.

Accents and punctuation are kept: "Zürich" and "Zurich", "U.S." and "US"
stay different entries. Zero-width characters (U+200B) are not whitespace
and are kept. The function is idempotent (checked over every code point):
normalising a normalised text changes nothing.
"""
from __future__ import annotations

import unicodedata


def normalise_text(text: str) -> str:
  """`text` under the corpus-table rule (see the module docstring):
  NFKC, case-folded, whitespace runs collapsed to one space, stripped."""
  folded = unicodedata.normalize('NFKC', text).casefold()
  return ' '.join(unicodedata.normalize('NFKC', folded).split())
