"""Small text rules every layer must agree on, kept in one place.

* gliner's whitespace word splitter (`WordsSplitter('whitespace')`) is the
  regex below: benchmarks, fixtures and the training-data builders count and
  cut words with it, so their words are the model's words.
* Text that cannot be written as UTF-8 (a lone surrogate that JSON let
  through) is caught where it enters, before Beam's coders, the tokenizer or
  Arrow fail on it mid-job.
* A label list given as text or as a list is normalised the same way
  everywhere (command line, task file, per-document label column, evaluation):
  whitespace collapsed, empties and duplicates dropped, order kept.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, List, Optional, Tuple, Union

# gliner 0.2.x `WhitespaceTokenSplitter`: words, hyphen/underscore compounds,
# and every other non-space character on its own.
WORD_PATTERN = re.compile(r'\w+(?:[-_]\w+)*|\S')


def words_with_offsets(text: str) -> List[Tuple[str, int, int]]:
  """(word, start, end) for gliner's whitespace splitter, end exclusive."""
  return [(m.group(), m.start(), m.end()) for m in WORD_PATTERN.finditer(text)]


def count_words(text: str) -> int:
  return sum(1 for _ in WORD_PATTERN.finditer(text))


def normalise_label(label: str) -> str:
  """One label as the model is prompted with it: single spaces, no ends."""
  return ' '.join(label.split())


def label_list(value: Union[str, Iterable[str]]) -> Tuple[str, ...]:
  """Comma-separated text or an iterable of strings -> unique labels in
  order. Raises TypeError naming a non-string item; may return ()."""
  items = value.split(',') if isinstance(value, str) else value
  labels: List[str] = []
  for item in items:
    if not isinstance(item, str):
      raise TypeError(f'{item!r} is a {type(item).__name__}, not a string')
    item = normalise_label(item)
    if item and item not in labels:
      labels.append(item)
  return tuple(labels)


def not_utf8(value: Any) -> Optional[str]:
  """Why `value` (a string, or strings nested in lists/dicts) cannot be
  written as UTF-8 -- e.g. a lone surrogate from JSON -- else None."""
  if isinstance(value, str):
    try:
      value.encode('utf-8')
    except UnicodeEncodeError as exc:
      return f'{exc.reason} at position {exc.start}'
  elif isinstance(value, dict):
    for key, item in value.items():
      reason = not_utf8(key) or not_utf8(item)
      if reason:
        return reason
  elif isinstance(value, (list, tuple)):
    for item in value:
      reason = not_utf8(item)
      if reason:
        return reason
  return None
