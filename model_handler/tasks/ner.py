"""Named-entity recognition: the plain GLiNER prompt (labels only)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import List, Optional, Sequence, Tuple

from model_handler.merge import resolve_overlaps
from model_handler.tasks.base import PromptSpec, Task, owned_document_spans
from model_handler.tasks.base import plain_labels
from transforms.records import CallResult, Document, Entity, Label


def per_document_labels(value) -> Tuple[str, ...]:
  """A label column value -> labels; ValueError says what is wrong."""
  if value is None:
    raise ValueError('label column is null')
  if isinstance(value, str) or not hasattr(value, '__iter__'):
    raise ValueError(
        f'label column is not a list of strings but {type(value).__name__}')
  labels = []
  for item in value:
    if not isinstance(item, str):
      raise ValueError(
          f'label column holds a {type(item).__name__}, not a string')
    item = ' '.join(item.split())
    if item and item not in labels:
      labels.append(item)
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

  def input_columns(self) -> Tuple[str, ...]:
    return (self.labels_column, ) if self.labels_column else ()

  def prompts(self, doc: Document):
    labels, dead = self.labels, []
    if self.labels_column:
      try:
        labels = plain_labels(
            per_document_labels(doc.extras.get(self.labels_column)))
      except ValueError as exc:
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

  def spec_dict(self):
    return asdict(self)


