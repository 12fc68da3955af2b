"""Classification: the classes are listed in the instruction and the model
extracts the matching class name *from the instruction* (label `match`).

This is the one task whose spans lie inside the prompt; a span counts only
when its text is one of the configured classes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Sequence, Tuple

import pyarrow as pa

from common.records import CallResult, ClassScore, Document
from model_handler.tasks import keys as spec
from model_handler.tasks.base import PROMPT_JOIN, PromptSpec, Task
from model_handler.tasks.base import plain_labels

INSTRUCTION = 'Classify text into the following classes: {}'
LABELS = plain_labels(['match'])


def prefix_for(classes: Sequence[str]) -> str:
  return INSTRUCTION.format(', '.join(classes)) + PROMPT_JOIN


@dataclass(frozen=True)
class ClassificationTask(Task):
  classes: Tuple[str, ...] = ()
  multi_label: bool = False
  threshold: float = 0.5
  name: str = 'classification'

  keys = {
      'classes': spec.Key(spec.strings, required=True),
      'multi_label': spec.Key(spec.boolean),
      'threshold': spec.Key(spec.threshold),
  }
  table = 'classifications'
  columns = (
      pa.field('label', pa.string(), nullable=False),
      pa.field('score', pa.float64(), nullable=False),
  )

  def prompts(self, doc: Document):
    return [
        PromptSpec(self.name, 1, '', prefix_for(self.classes), LABELS,
                   self.threshold)
    ], []

  def collect(self, results: Sequence[CallResult],
              n_windows: int) -> Tuple[ClassScore, ...]:
    """Best score per class over all windows; the top class only unless
    multi_label. Scores are the model's own (not re-normalised)."""
    best: Dict[str, float] = {}
    for result in results:
      shift = len(result.call.prefix)
      for span in result.spans:
        if span.end <= shift and span.text in self.classes:
          best[span.text] = max(best.get(span.text, 0.0), span.score)
    ranked = sorted(best.items(),
                    key=lambda kv: (-kv[1], self.classes.index(kv[0])))
    if not self.multi_label:
      ranked = ranked[:1]
    return tuple(ClassScore(label, score) for label, score in ranked)

  def row_columns(self, record: ClassScore):
    return {'label': record.label, 'score': float(record.score)}
