"""Splitting a long document into windows the model can read whole.

Pure functions (no Beam, no model) so the rules are unit-testable: a window
holds at most `max_words` gliner words and `budget` subwords, ends at a
sentence boundary when one is in its second half, and overlaps the next
window by `overlap` words. Each window owns the characters up to the middle
of its overlap with the next one (see `Window.own_start`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

SENTENCE_END = frozenset({'.', '!', '?', '…', '。', '！', '？'})


class WindowingError(ValueError):
  """A document cannot be windowed (e.g. one word exceeds the budget)."""


@dataclass(frozen=True)
class WindowSpan:
  """Word range [first_word, end_word) plus owned characters [own_start, own_end)."""
  first_word: int
  end_word: int
  own_start: int
  own_end: int


def _is_sentence_end(text: str, words: Sequence[Tuple[int, int]],
                     i: int) -> bool:
  """True when a sentence (or paragraph) ends after word i."""
  start, end = words[i]
  if text[start:end] in SENTENCE_END:
    return True
  if i + 1 < len(words):
    return '\n' in text[end:words[i + 1][0]]
  return True


def _word_ranges(text: str, words: Sequence[Tuple[int, int]],
                 counts: Sequence[int], max_words: int, budget: int,
                 overlap: int) -> List[Tuple[int, int]]:
  n = len(words)
  ranges: List[Tuple[int, int]] = []
  start = 0
  while True:
    end, used = start, 0
    while end < n and end - start < max_words and used + counts[end] <= budget:
      used += counts[end]
      end += 1
    if end == start:
      raise WindowingError(
          f'word {start} ({text[words[start][0]:words[start][1]][:40]!r}) has '
          f'{counts[start]} subwords, more than the {budget} a window allows')
    if end < n:
      for cut in range(end, start + (end - start) // 2, -1):
        if _is_sentence_end(text, words, cut - 1):
          end = cut
          break
    ranges.append((start, end))
    if end >= n:
      return ranges
    next_start = max(end - overlap, start + 1)
    # Prefer starting the next window at a sentence start inside the overlap.
    for candidate in range(next_start, max(end - overlap // 2, next_start)):
      if candidate > 0 and _is_sentence_end(text, words, candidate - 1):
        next_start = candidate
        break
    start = next_start


def plan_windows(text: str, words: Sequence[Tuple[int, int]],
                 counts: Sequence[int], max_words: int, budget: int,
                 overlap: int) -> List[WindowSpan]:
  """Plan windows covering every word of `text` exactly within the limits."""
  if max_words < 1 or budget < 1:
    raise WindowingError(
        f'no room for text: max_words={max_words}, subword budget={budget}')
  if not words:
    return [WindowSpan(0, 0, 0, len(text))]
  overlap = max(0, min(overlap, max_words // 2))
  ranges = _word_ranges(text, words, counts, max_words, budget, overlap)
  spans = []
  own_start = 0
  for k, (first, end) in enumerate(ranges):
    if k + 1 < len(ranges):
      next_first = ranges[k + 1][0]
      boundary_word = (next_first + end) // 2 if end > next_first else next_first
      own_end = words[boundary_word][0]
    else:
      own_end = len(text)
    spans.append(WindowSpan(first, end, own_start, own_end))
    own_start = own_end
  return spans


def default_overlap(max_words: int, max_width: int) -> int:
  """Overlap wide enough that an entity of up to `max_width` words that
  starts in a window's owned part also ends inside that window."""
  return max(8, min(2 * max_width, max_words // 4))
