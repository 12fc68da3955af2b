"""Extractive summarisation: spans labelled `summary`, in document order."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import pyarrow as pa

from common.records import CallResult, Document, Entity
from model_handler.tasks import keys as spec
from model_handler.tasks.base import PROMPT_JOIN, PromptSpec, Task
from model_handler.tasks.base import owned_document_spans, plain_labels
from model_handler.tasks.base import span_columns

INSTRUCTION = ('Summarize the following text highlighting the most important '
               'information:')
PREFIX = INSTRUCTION + PROMPT_JOIN
LABELS = plain_labels(['summary'])


@dataclass(frozen=True)
class SummaryTask(Task):
  threshold: float = 0.25  # gliner.multitask's default for summaries
  max_sentences: Optional[int] = None
  name: str = 'summary'

  keys = {
      'threshold': spec.Key(spec.threshold),
      'max_sentences': spec.Key(spec.positive_int),
  }
  table = 'summaries'
  columns = (
      pa.field('start', pa.int64(), nullable=False),
      pa.field('end', pa.int64(), nullable=False),
      pa.field('text', pa.string(), nullable=False),
      pa.field('score', pa.float64(), nullable=False),
  )

  def prompts(self, doc: Document):
    return [PromptSpec(self.name, 1, '', PREFIX, LABELS, self.threshold)], []

  def collect(self, results: Sequence[CallResult],
              n_windows: int) -> Tuple[Entity, ...]:
    spans = [s for r in results for s in owned_document_spans(r)]
    if self.max_sentences is not None:
      spans = sorted(spans, key=lambda e: (-e.score, e.start))
      spans = spans[:self.max_sentences]
    return tuple(sorted(spans, key=lambda e: (e.start, e.end)))

  def row_columns(self, record: Entity):
    return span_columns(record, label=False)
