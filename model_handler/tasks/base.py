"""What every task shares: prompts it asks for, and reading spans back.

gliner multi-task models are prompted by prepending an instruction to the
text (`"<instruction> \\n <text>"`) and by the label list. A task says which
prompts it needs for a document (`prompts`) and turns the model's spans for
those prompts back into rows (`collect`), always in offsets of the original
document.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, Iterable, List, Sequence, Tuple

from model_handler.merge import to_document_entities
from transforms.records import CallResult, DeadLetter, Document, Entity, Label
from transforms.records import PromptSpec  # re-exported for the task modules

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


class Task(ABC):
  """One extraction task: its prompts, and how its spans become rows."""
  name: str = ''
  # Extra subwords a later stage needs beyond its stage-1 prompts.
  reserve_subwords: int = 0
  later_stage_prefix: str = ''

  def input_columns(self) -> Tuple[str, ...]:
    """Input columns this task reads per document (validated at start-up)."""
    return ()

  @abstractmethod
  def prompts(self,
              doc: Document) -> Tuple[List[PromptSpec], List[DeadLetter]]:
    """Stage-1 prompts for `doc`, plus task-level dead letters for bad
    per-document inputs (the document's other tasks still run)."""

  @abstractmethod
  def collect(self, results: Sequence[CallResult], n_windows: int) -> Any:
    """All results of this task for one document -> its output rows."""

  def task_dead_letter(self, doc: Document, reason: str,
                       payload: Any) -> DeadLetter:
    return DeadLetter(doc.record_key, doc.doc_id, 'task_input', reason,
                      payload, task=self.name)

  def spec_dict(self) -> Dict[str, Any]:
    """The task's configuration, for the run's config hash."""
    return {}
