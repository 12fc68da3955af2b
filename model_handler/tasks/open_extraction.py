"""Open extraction: a free instruction, spans reported under one label."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence, Tuple

from model_handler.tasks.base import PROMPT_JOIN, PromptSpec, Task
from model_handler.tasks.base import owned_document_spans, plain_labels
from transforms.records import CallResult, Document, Entity


@dataclass(frozen=True)
class OpenExtractionTask(Task):
  prompt: str = ''
  label: str = 'match'
  threshold: float = 0.5
  name: str = 'open_extraction'

  def prompts(self, doc: Document):
    return [
        PromptSpec(self.name, 1, '', self.prompt + PROMPT_JOIN,
                   plain_labels([self.label]), self.threshold)
    ], []

  def collect(self, results: Sequence[CallResult],
              n_windows: int) -> Tuple[Entity, ...]:
    spans = [s for r in results for s in owned_document_spans(r)]
    return tuple(sorted(spans, key=lambda e: (e.start, e.end)))

  def spec_dict(self):
    return asdict(self)
