"""In-flight element types passed between the job's transforms.

Frozen dataclasses (not dicts) so every stage agrees on field names and a typo
fails loudly; they pickle cheaply between Beam stages and SDK processes.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

# A label as the model sees it: (name written to the output, prompt text).
Label = Tuple[str, str]

# The tagged output (and table) every stage sends rejected inputs to.
DEAD_LETTER = 'dead_letter'


@dataclass(frozen=True)
class SourceRow:
  """One input row exactly as read, before validation.

  `record_key` is unique per input row (``<file>#<row>``), so two rows that
  share a user id are never merged; `doc_id` is what the user sees.
  `event_time` (streaming: seconds since the epoch) travels with the row
  through the model stages, whose batching loses Beam's element timestamp,
  so the sinks can window the results by it.
  """
  record_key: str
  doc_id: Optional[str]
  text: Any
  extras: Dict[str, Any] = field(default_factory=dict)
  event_time: Optional[float] = None

  def content_hash(self) -> str:
    """What the row says -- its text and task inputs, not where it came
    from: incremental runs skip a (source, content hash) already enriched,
    streaming tells a redelivery from a new version by it."""
    body = json.dumps([self.text, sorted(self.extras.items())],
                      sort_keys=True, default=repr, ensure_ascii=True)
    return hashlib.sha256(body.encode('ascii')).hexdigest()[:32]


@dataclass(frozen=True)
class Document:
  """A validated document: non-empty text, known id, per-document task
  inputs (e.g. its own questions) by column name."""
  record_key: str
  doc_id: str
  text: str
  extras: Dict[str, Any] = field(default_factory=dict)
  content_hash: str = ''
  event_time: Optional[float] = None


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
  n_words: int
  n_subwords: int
  doc_chars: int
  doc_words: int
  content_hash: str = ''
  event_time: Optional[float] = None


@dataclass(frozen=True)
class PromptSpec:
  """How a task prompts the model: gliner sees `prefix + text` and `labels`.

  `task`/`stage`/`tag` say which task output it feeds (`tag` is e.g. the
  question). A label set too long for one encoder pass is split into `parts`
  prompts (`part` = 0..parts-1): those are decoded without overlap rules and
  merged with the prompt's own rules afterwards.
  """
  task: str
  stage: int
  tag: str
  prefix: str
  labels: Tuple[Label, ...]
  threshold: float
  flat_ner: bool = True
  multi_label: bool = False
  part: int = 0
  parts: int = 1


@dataclass(frozen=True, eq=False)
class ModelInputs:
  """One call's encoder input, unpadded, built where the call is planned
  (model_handler.features) so the model stage runs no tokenizer; plus what
  decoding needs. `word_starts`/`word_ends`: character offsets in the
  prompted text of the words the model sees; `text_length`: their number
  (gliner's `max_len` cut applied). Arrays are int64 numpy."""
  input_ids: Any
  words_mask: Any
  word_starts: Any
  word_ends: Any
  text_length: int

  def __eq__(self, other):  # arrays compare by value
    if not isinstance(other, ModelInputs):
      return NotImplemented
    import numpy as np
    return self.text_length == other.text_length and all(
        np.array_equal(getattr(self, name), getattr(other, name))
        for name in ('input_ids', 'words_mask', 'word_starts', 'word_ends'))


@dataclass(frozen=True)
class ModelCall:
  """One prompt applied to one window; `cost` is its exact subword count.
  `doc_calls`: how many stage-1 calls its document has (progress counts
  each finished call as that fraction of a document; 0 for later stages).
  `inputs`: its prepared encoder input (None: the model stage falls back to
  gliner's `inference`); dropped from results, which never need it."""
  window: Window
  prompt: PromptSpec
  cost: int
  doc_calls: int = 0
  inputs: Optional[ModelInputs] = field(default=None, compare=False,
                                        repr=False)

  @property
  def text(self) -> str:
    return self.prompt.prefix + self.window.text

  # The prompt's fields, read through the call.
  task = property(lambda self: self.prompt.task)
  stage = property(lambda self: self.prompt.stage)
  tag = property(lambda self: self.prompt.tag)
  prefix = property(lambda self: self.prompt.prefix)
  labels = property(lambda self: self.prompt.labels)
  threshold = property(lambda self: self.prompt.threshold)
  # A part of a split label set keeps every span above the threshold; the
  # overlap rules are applied once the parts are merged.
  flat_ner = property(lambda self: self.prompt.flat_ner and
                      self.prompt.parts == 1)
  multi_label = property(lambda self: self.prompt.multi_label or
                         self.prompt.parts > 1)


@dataclass(frozen=True)
class Entity:
  """An entity span in document character offsets (end exclusive)."""
  start: int
  end: int
  text: str
  label: str
  score: float


@dataclass(frozen=True)
class CallResult:
  """What the model returned for one call: spans in offsets of the prompted
  text (`call.text`), or an error."""
  call: ModelCall
  spans: Tuple[Entity, ...] = ()
  error: Optional[str] = None


@dataclass(frozen=True)
class StagePlan:
  """How many stage-2 calls one stage-1 relations result led to (0 when
  none, or when its planning failed). A streaming job cannot group a
  document's results by window end (late documents arrive piecemeal), so it
  assembles each document once these counts say every result is in."""
  record_key: str
  n_calls: int


@dataclass(frozen=True)
class DeadLetter:
  """An input that could not be enriched, and why. Never dropped silently."""
  record_key: str
  doc_id: Optional[str]
  stage: str
  reason: str
  payload: Any = None
  task: Optional[str] = None  # set when only one task of a document failed


@dataclass(frozen=True)
class Relation:
  head: Entity
  relation: str
  tail: Entity  # label: the stage-1 label of the same span, or ''
  score: float


@dataclass(frozen=True)
class Answer:
  question: str
  answer: Entity
  rank: int


@dataclass(frozen=True)
class ClassScore:
  label: str
  score: float


@dataclass(frozen=True)
class EnrichedDocument:
  """A document with all windows merged back: each task's output (a tuple of
  that task's records) under the task's name, so a new task needs no new
  field here."""
  record_key: str
  doc_id: str
  n_chars: int
  n_words: int
  n_windows: int
  outputs: Dict[str, Tuple[Any, ...]] = field(default_factory=dict)
  content_hash: str = ''

  @property
  def entities(self) -> Tuple[Entity, ...]:
    """The NER output (the `documents` table counts it)."""
    return tuple(self.outputs.get('ner', ()))
