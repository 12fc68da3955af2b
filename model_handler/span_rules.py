"""Windows back to documents: offsets, ownership, and overlap rules.

Kept apart from Beam so the rules are testable on plain values.
"""
from __future__ import annotations

import bisect
from typing import Iterable, List, Sequence

from common.records import Entity, Window


def to_document_entities(window: Window,
                         entities: Iterable[Entity]) -> List[Entity]:
  """Shift window-relative spans to document offsets, keep owned ones."""
  kept = []
  for entity in entities:
    start = window.char_start + entity.start
    if window.own_start <= start < window.own_end:
      kept.append(
          Entity(start, window.char_start + entity.end,
                 window.text[entity.start:entity.end], entity.label,
                 entity.score))
  return kept


def _overlaps(a: Entity, b: Entity, flat: bool, multi_label: bool) -> bool:
  """gliner's decoder rules on character spans (end exclusive)."""
  if (a.start, a.end) == (b.start, b.end):
    return not multi_label
  disjoint = a.end <= b.start or b.end <= a.start
  if disjoint:
    return False
  if flat:
    return True
  nested = ((a.start <= b.start and b.end <= a.end) or
            (b.start <= a.start and a.end <= b.end))
  return not nested


def resolve_overlaps(entities: Sequence[Entity], flat: bool,
                     multi_label: bool) -> List[Entity]:
  """Greedy by score, as gliner decodes one text, applied across windows.

  Inside one window gliner already did this; only entities that meet at a
  window boundary can still clash.
  """
  longest = max((e.end - e.start for e in entities), default=0)
  starts: List[int] = []  # sorted starts of chosen entities
  chosen: List[Entity] = []  # aligned with `starts`
  for entity in sorted(entities, key=lambda e: (-e.score, e.start, e.end,
                                                e.label)):
    # Only chosen entities starting within `longest` before it can touch it.
    lo = bisect.bisect_left(starts, entity.start - longest)
    hi = bisect.bisect_left(starts, entity.end)
    if not any(_overlaps(entity, chosen[i], flat, multi_label)
               for i in range(lo, hi)):
      at = bisect.bisect_left(starts, entity.start)
      starts.insert(at, entity.start)
      chosen.insert(at, entity)
  return sorted(chosen, key=lambda e: (e.start, e.end, e.label))
