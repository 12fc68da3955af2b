"""What every task shares: prompts it asks for, reading spans back, and the
table it writes.

gliner multi-task models are prompted by prepending an instruction to the
text (`"<instruction> \\n <text>"`) and by the label list. A task says which
prompts it needs for a document (`prompts`) and turns the model's spans for
those prompts back into records (`collect`), always in offsets of the
original document. It also declares everything the rest of the job needs to
know about it -- task-file keys, per-document input columns, its output
table's name, columns and rows -- so adding a task is one module plus one
line in the registry (`model_handler.tasks.TASK_TYPES`).
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import (Any, ClassVar, Dict, Iterable, Iterator, List, Mapping,
                    Sequence, Tuple)

import pyarrow as pa

from common.records import CallResult, DeadLetter, Document, Entity, Label
from common.records import PromptSpec  # re-exported for the task modules
from common.schemas import task_table_schema
from model_handler.span_rules import to_document_entities
from model_handler.tasks.keys import Key, TaskSpecError

# gliner.multitask joins instruction and text with " \n ".
PROMPT_JOIN = ' \n '


def plain_labels(names: Iterable[str]) -> Tuple[Label, ...]:
  return tuple((name, name) for name in names)


def text_spans(result: CallResult) -> List[Entity]:
  """Spans of the text part of a prompted window, in window offsets.

  Spans that start inside the instruction are dropped: they are not part of
  the document.
  """
  shift = len(result.call.prefix)
  spans = []
  for span in result.spans:
    if span.start >= shift:
      spans.append(
          Entity(span.start - shift, span.end - shift, span.text, span.label,
                 span.score))
  return spans


def owned_document_spans(result: CallResult) -> List[Entity]:
  """Text spans in document offsets, kept only by the window that owns them."""
  return to_document_entities(result.call.window, text_spans(result))


def span_columns(span: Entity, label: bool = True) -> Dict[str, Any]:
  """The usual columns of a span row (label optional)."""
  columns: Dict[str, Any] = {'start': span.start, 'end': span.end,
                             'text': span.text}
  if label:
    columns['label'] = span.label
  columns['score'] = float(span.score)
  return columns


class Task(ABC):
  """One extraction task: its settings, prompts, records and table.

  Concrete tasks are frozen dataclasses whose fields are their settings (the
  config hash is computed from them); the class attributes below describe
  the task to the task file loader and to the sinks.
  """
  name: str = ''
  # Task-file keys -> parser; the dataclass field of the same name receives
  # the parsed value.
  keys: ClassVar[Mapping[str, Key]] = {}
  # Output table: its name and the task's own columns (doc_id and lineage are
  # added by common.schemas.task_table_schema).
  table: ClassVar[str] = ''
  columns: ClassVar[Sequence[pa.Field]] = ()
  # Extra subwords a later stage needs beyond its stage-1 prompts.
  reserve_subwords: int = 0
  later_stage_prefix: str = ''

  @classmethod
  def schema(cls) -> pa.Schema:
    return task_table_schema(cls.columns)

  @classmethod
  def from_spec(cls, raw: Any) -> 'Task':
    """Parse this task's section of the task file; errors name the key."""
    if raw is None:
      raw = {}
    if not isinstance(raw, Mapping):
      raise TaskSpecError(f'{cls.name}: expected a mapping of settings')
    kwargs = {}
    for key, value in raw.items():
      if key not in cls.keys:
        raise TaskSpecError(
            f'{cls.name}.{key}: unknown key (known: {", ".join(cls.keys)})')
      kwargs[key] = cls.keys[key].parse(f'{cls.name}.{key}', value)
    for key, spec in cls.keys.items():
      if spec.required and key not in kwargs:
        raise TaskSpecError(f'{cls.name}.{key}: required')
    cls.check_spec(kwargs)
    return cls(**kwargs)

  @classmethod
  def check_spec(cls, kwargs: Dict[str, Any]) -> None:
    """Rules across keys (e.g. labels or a labels column); raise
    TaskSpecError naming the key."""

  def input_columns(self) -> Dict[str, str]:
    """Input columns this task reads per document -> the task-file key that
    names each (validated at start-up, read by the sources)."""
    return {}

  @abstractmethod
  def prompts(self,
              doc: Document) -> Tuple[List[PromptSpec], List[DeadLetter]]:
    """Stage-1 prompts for `doc`, plus task-level dead letters for bad
    per-document inputs (the document's other tasks still run)."""

  @abstractmethod
  def collect(self, results: Sequence[CallResult],
              n_windows: int) -> Tuple[Any, ...]:
    """All results of this task for one document -> its output records."""

  @abstractmethod
  def row_columns(self, record: Any) -> Dict[str, Any]:
    """One output record -> the task's own columns of its table row."""

  def rows(self, outputs: Sequence[Any]) -> Iterator[Dict[str, Any]]:
    for record in outputs:
      yield self.row_columns(record)

  def prompt_texts(self) -> Iterator[Tuple[str, str]]:
    """(task-file key, text) of every string this task puts in front of the
    model (labels, descriptions, questions, instructions), for start-up
    checks; column names and the task name are not prompt text."""

    def walk(key: str, value: Any):
      if isinstance(value, str):
        yield key, value
      elif (isinstance(value, tuple) and len(value) == 2 and
            all(isinstance(v, str) for v in value)):  # a (name, prompt) label
        yield key, value[0]
        if value[1] != value[0]:
          yield f'{key}.description', value[1]
      elif isinstance(value, (tuple, list)):
        for index, item in enumerate(value):
          yield from walk(f'{key}[{index}]', item)

    if dataclasses.is_dataclass(self):
      for spec_field in dataclasses.fields(self):
        if spec_field.name == 'name' or spec_field.name.endswith('_column'):
          continue
        yield from walk(f'{self.name}.{spec_field.name}',
                        getattr(self, spec_field.name))

  def task_dead_letter(self, doc: Document, reason: str,
                       payload: Any) -> DeadLetter:
    return DeadLetter(doc.record_key, doc.doc_id, 'task_input', reason,
                      payload, task=self.name)

  def spec_dict(self) -> Dict[str, Any]:
    """The task's configuration, for the run's config hash."""
    if dataclasses.is_dataclass(self):
      return dataclasses.asdict(self)
    return {}
