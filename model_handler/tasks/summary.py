"""Extractive summarisation: spans labelled `summary`, in document order."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Sequence, Tuple

from model_handler.tasks.base import PROMPT_JOIN, PromptSpec, Task
from model_handler.tasks.base import owned_document_spans, plain_labels
from transforms.records import CallResult, Document, Entity

INSTRUCTION = ('Summarize the following text highlighting the most important '
               'information:')
PREFIX = INSTRUCTION + PROMPT_JOIN
LABELS = plain_labels(['summary'])


@dataclass(frozen=True)
class SummaryTask(Task):
  threshold: float = 0.25  # gliner.multitask's default for summaries
  max_sentences: Optional[int] = None
  name: str = 'summary'

  def prompts(self, doc: Document):
    return [PromptSpec(self.name, 1, '', PREFIX, LABELS, self.threshold)], []

  def collect(self, results: Sequence[CallResult],
              n_windows: int) -> Tuple[Entity, ...]:
    spans = [s for r in results for s in owned_document_spans(r)]
    if self.max_sentences is not None:
      spans = sorted(spans, key=lambda e: (-e.score, e.start))
      spans = spans[:self.max_sentences]
    return tuple(sorted(spans, key=lambda e: (e.start, e.end)))

  def spec_dict(self):
    return asdict(self)
