"""Open extraction: a free instruction, spans reported under one label."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple

import pyarrow as pa

from common.records import CallResult, Document, Entity
from model_handler.tasks import keys as spec
from model_handler.tasks.base import PROMPT_JOIN, PromptSpec, Task
from model_handler.tasks.base import owned_document_spans, plain_labels
from model_handler.tasks.base import span_columns


@dataclass(frozen=True)
class OpenExtractionTask(Task):
  prompt: str = ''
  label: str = 'match'
  threshold: float = 0.5
  name: str = 'open_extraction'

  keys = {
      'prompt': spec.Key(spec.text, required=True),
      'label': spec.Key(spec.text),
      'threshold': spec.Key(spec.threshold),
  }
  table = 'extractions'
  columns = (
      pa.field('label', pa.string(), nullable=False),
      pa.field('start', pa.int64(), nullable=False),
      pa.field('end', pa.int64(), nullable=False),
      pa.field('text', pa.string(), nullable=False),
      pa.field('score', pa.float64(), nullable=False),
  )

  def prompts(self, doc: Document):
    return [
        PromptSpec(self.name, 1, '', self.prompt + PROMPT_JOIN,
                   plain_labels([self.label]), self.threshold)
    ], []

  def collect(self, results: Sequence[CallResult],
              n_windows: int) -> Tuple[Entity, ...]:
    spans = [s for r in results for s in owned_document_spans(r)]
    return tuple(sorted(spans, key=lambda e: (e.start, e.end)))

  def row_columns(self, record: Entity):
    return span_columns(record)
