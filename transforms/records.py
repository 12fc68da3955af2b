"""In-flight element types passed between the job's transforms.

Frozen dataclasses (not dicts) so every stage agrees on field names and a typo
fails loudly; they pickle cheaply between Beam stages and SDK processes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Tuple


@dataclass(frozen=True)
class SourceRow:
  """One input row exactly as read, before validation.

  `record_key` is unique per input row (``<file>#<row>``), so two rows that
  share a user id are never merged; `doc_id` is what the user sees.
  """
  record_key: str
  doc_id: Optional[str]
  text: Any


@dataclass(frozen=True)
class Document:
  """A validated document: non-empty text, known id."""
  record_key: str
  doc_id: str
  text: str


@dataclass(frozen=True)
class Window:
  """A slice of a document small enough for the model in one pass.

  `char_start` maps window offsets back to the document. Each window *owns*
  the document characters [own_start, own_end): an entity is kept from the
  window that owns its first character, which removes overlap duplicates and
  partial entities cut at a window edge.
  """
  record_key: str
  doc_id: str
  index: int
  n_windows: int
  char_start: int
  text: str
  own_start: int
  own_end: int
  labels: Tuple[str, ...]
  n_words: int
  cost: int
  doc_chars: int
  doc_words: int


@dataclass(frozen=True)
class Entity:
  """An entity span in document character offsets (end exclusive)."""
  start: int
  end: int
  text: str
  label: str
  score: float


@dataclass(frozen=True)
class WindowResult:
  """What the model produced for one window: entities or an error."""
  window: Window
  entities: Tuple[Entity, ...] = ()
  error: Optional[str] = None


@dataclass(frozen=True)
class DeadLetter:
  """An input that could not be enriched, and why. Never dropped silently."""
  record_key: str
  doc_id: Optional[str]
  stage: str
  reason: str
  payload: Any = None


@dataclass(frozen=True)
class EnrichedDocument:
  """A document with all windows merged back."""
  record_key: str
  doc_id: str
  n_chars: int
  n_words: int
  n_windows: int
  entities: Tuple[Entity, ...] = field(default_factory=tuple)
