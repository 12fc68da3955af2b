"""Extractive question answering: one prompt per question.

The reference pipeline used only the first question; here every question
(static and per-document) gets its own prompt and its own ranked answers.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import pyarrow as pa

from common.records import Answer, CallResult, Document, Entity
from model_handler.tasks import keys as spec
from model_handler.tasks.base import PROMPT_JOIN, PromptSpec, Task
from model_handler.tasks.base import owned_document_spans, plain_labels

INSTRUCTION = 'Answer the following question: {}'
LABELS = plain_labels(['answer'])


def prefix_for(question: str) -> str:
  return INSTRUCTION.format(question) + PROMPT_JOIN


def per_document_questions(value) -> Tuple[str, ...]:
  if value is None:
    raise ValueError('question column is null')
  items = [value] if isinstance(value, str) else value
  if not hasattr(items, '__iter__'):
    raise ValueError(f'question column is a {type(value).__name__}')
  questions = []
  for item in items:
    if not isinstance(item, str):
      raise ValueError(
          f'question column holds a {type(item).__name__}, not a string')
    if item.strip() and item.strip() not in questions:
      questions.append(item.strip())
  if not questions:
    raise ValueError('question column holds no question')
  return tuple(questions)


@dataclass(frozen=True)
class QaTask(Task):
  questions: Tuple[str, ...] = ()
  questions_column: Optional[str] = None
  threshold: float = 0.5
  top_k: int = 1
  name: str = 'qa'

  keys = {
      'questions': spec.Key(spec.strings),
      'questions_column': spec.Key(spec.text),
      'threshold': spec.Key(spec.threshold),
      'top_k': spec.Key(spec.positive_int),
  }
  table = 'answers'
  columns = (
      pa.field('question', pa.string(), nullable=False),
      pa.field('answer', pa.string(), nullable=False),
      pa.field('start', pa.int64(), nullable=False),
      pa.field('end', pa.int64(), nullable=False),
      pa.field('score', pa.float64(), nullable=False),
      pa.field('rank', pa.int64(), nullable=False),
  )

  @classmethod
  def check_spec(cls, kwargs):
    if not kwargs.get('questions') and not kwargs.get('questions_column'):
      raise spec.TaskSpecError(
          'qa.questions: give questions or a questions_column')

  def input_columns(self):
    return ({self.questions_column: 'questions_column'}
            if self.questions_column else {})

  def prompts(self, doc: Document):
    questions, dead = list(self.questions), []
    if self.questions_column:
      try:
        for question in per_document_questions(
            doc.extras.get(self.questions_column)):
          if question not in questions:
            questions.append(question)
      except ValueError as exc:
        dead.append(
            self.task_dead_letter(doc, f'{self.questions_column}: {exc}',
                                  doc.extras.get(self.questions_column)))
    return [
        PromptSpec(self.name, 1, q, prefix_for(q), LABELS, self.threshold)
        for q in questions
    ], dead

  def collect(self, results: Sequence[CallResult],
              n_windows: int) -> Tuple[Answer, ...]:
    by_question: Dict[str, List[Entity]] = defaultdict(list)
    order: List[str] = []
    for result in results:
      if result.call.tag not in by_question:
        order.append(result.call.tag)
      by_question[result.call.tag].extend(owned_document_spans(result))
    answers = []
    for question in order:
      best = sorted(by_question[question],
                    key=lambda e: (-e.score, e.start, e.end))[:self.top_k]
      answers.extend(
          Answer(question, span, rank) for rank, span in enumerate(best, 1))
    return tuple(answers)

  def row_columns(self, record: Answer):
    return {
        'question': record.question,
        'answer': record.answer.text,
        'start': record.answer.start,
        'end': record.answer.end,
        'score': float(record.answer.score),
        'rank': record.rank,
    }
