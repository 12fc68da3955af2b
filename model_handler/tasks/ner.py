"""Named-entity recognition: the plain GLiNER prompt (labels only)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import pyarrow as pa

from common.records import CallResult, Document, Entity, Label
from common.text import label_list
from model_handler.span_rules import resolve_overlaps
from model_handler.tasks import keys as spec
from model_handler.tasks.base import PromptSpec, Task, owned_document_spans
from model_handler.tasks.base import plain_labels, span_columns


def per_document_labels(value) -> Tuple[str, ...]:
  """A label column value -> labels; ValueError says what is wrong."""
  if value is None:
    raise ValueError('label column is null')
  if isinstance(value, str) or not hasattr(value, '__iter__'):
    raise ValueError(
        f'label column is not a list of strings but {type(value).__name__}')
  for item in value:
    if not isinstance(item, str):
      raise ValueError(
          f'label column holds a {type(item).__name__}, not a string')
  labels = label_list(value)
  if not labels:
    raise ValueError('label column holds no labels')
  return tuple(labels)


@dataclass(frozen=True)
class NerTask(Task):
  """`labels` are (output name, prompt) pairs: a label -> description
  mapping prompts with the description and reports the label."""
  labels: Tuple[Label, ...] = ()
  threshold: float = 0.5
  flat_ner: bool = True
  multi_label: bool = False
  labels_column: Optional[str] = None
  name: str = 'ner'

  keys = {
      'labels': spec.Key(spec.labels),
      'labels_column': spec.Key(spec.text),
      'threshold': spec.Key(spec.threshold),
      'flat_ner': spec.Key(spec.boolean),
      'multi_label': spec.Key(spec.boolean),
  }
  table = 'entities'
  columns = (
      pa.field('start', pa.int64(), nullable=False),
      pa.field('end', pa.int64(), nullable=False),
      pa.field('text', pa.string(), nullable=False),
      pa.field('label', pa.string(), nullable=False),
      pa.field('score', pa.float64(), nullable=False),
  )

  @classmethod
  def check_spec(cls, kwargs):
    if not kwargs.get('labels') and not kwargs.get('labels_column'):
      raise spec.TaskSpecError('ner.labels: give labels or a labels_column')

  def input_columns(self):
    return {self.labels_column: 'labels_column'} if self.labels_column else {}

  def prompts(self, doc: Document):
    """With a labels column, a row's own labels replace the static ones; a
    bad value dead-letters this task for the row (never a silent fallback
    to the static labels)."""
    labels, dead = self.labels, []
    if self.labels_column:
      try:
        labels = plain_labels(
            per_document_labels(doc.extras.get(self.labels_column)))
      except ValueError as exc:
        labels = ()
        dead.append(
            self.task_dead_letter(doc, f'{self.labels_column}: {exc}',
                                  doc.extras.get(self.labels_column)))
    if not labels:
      return [], dead
    return [
        PromptSpec(self.name, 1, '', '', labels, self.threshold, self.flat_ner,
                   self.multi_label)
    ], dead

  def collect(self, results: Sequence[CallResult],
              n_windows: int) -> Tuple[Entity, ...]:
    entities: List[Entity] = []
    for result in results:
      entities.extend(owned_document_spans(result))
    if n_windows > 1:
      entities = resolve_overlaps(entities, self.flat_ner, self.multi_label)
    return tuple(sorted(entities, key=lambda e: (e.start, e.end, e.label)))

  def row_columns(self, record: Entity):
    return span_columns(record)
