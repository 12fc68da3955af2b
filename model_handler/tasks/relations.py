"""Relation extraction, two stages as the multi-task models were trained.

Stage 1 is NER on the window. Stage 2 prompts the window with the relation
instruction and one label per (head entity, relation): `"{head} <>
{relation}"`; each span found is the tail of a relation. Labels are ordered by
relation, then by the head's first occurrence (the reference iterated a
set, so its order changed between runs), and split into chunks that fit the
encoder together with the window.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

import pyarrow as pa

from common.records import CallResult, Document, Entity, Label, Relation
from model_handler.tasks import keys as spec
from model_handler.tasks.base import PROMPT_JOIN, PromptSpec, Task
from model_handler.tasks.base import owned_document_spans, text_spans

INSTRUCTION = 'Extract relationships between entities from the text: '
PREFIX = INSTRUCTION + PROMPT_JOIN
SEPARATOR = ' <> '


def relation_label(head: str, relation: str) -> str:
  return f'{head}{SEPARATOR}{relation}'


@dataclass(frozen=True)
class RelationsTask(Task):
  relations: Tuple[str, ...] = ()
  entity_labels: Tuple[Label, ...] = (('named entity', 'named entity'), )
  ner_threshold: float = 0.5
  relation_threshold: float = 0.5
  # Subwords kept free in every window for stage-2 labels.
  label_budget: int = 96
  name: str = 'relations'

  keys = {
      'relations': spec.Key(spec.strings, required=True),
      'entity_labels': spec.Key(spec.labels),
      'ner_threshold': spec.Key(spec.threshold),
      'relation_threshold': spec.Key(spec.threshold),
      'label_budget': spec.Key(spec.positive_int),
  }
  table = 'relations'
  columns = (
      pa.field('head_text', pa.string(), nullable=False),
      pa.field('head_start', pa.int64(), nullable=False),
      pa.field('head_end', pa.int64(), nullable=False),
      pa.field('head_label', pa.string(), nullable=False),
      pa.field('relation', pa.string(), nullable=False),
      pa.field('tail_text', pa.string(), nullable=False),
      pa.field('tail_start', pa.int64(), nullable=False),
      pa.field('tail_end', pa.int64(), nullable=False),
      # The stage-1 label of the tail span; null when stage 1 missed it.
      pa.field('tail_label', pa.string(), nullable=True),
      pa.field('score', pa.float64(), nullable=False),
  )

  @property
  def reserve_subwords(self) -> int:  # type: ignore[override]
    return self.label_budget

  @property
  def later_stage_prefix(self) -> str:  # type: ignore[override]
    return PREFIX

  def prompts(self, doc: Document):
    return [
        PromptSpec(self.name, 1, '', '', self.entity_labels,
                   self.ner_threshold)
    ], []

  def stage2_prompts(
      self, stage1: CallResult,
      fits: Callable[[Tuple[Label, ...]], bool]) -> Tuple[List[PromptSpec],
                                                          List[str]]:
    """Stage-2 prompts for one window from its stage-1 entities, in label
    chunks for which `fits(labels)` holds; also the labels that fit nowhere."""
    heads: List[str] = []
    for span in text_spans(stage1):
      if span.text not in heads:
        heads.append(span.text)
    labels = [(relation_label(h, r), relation_label(h, r))
              for r in self.relations for h in heads]
    chunks: List[List[Label]] = []
    too_long: List[str] = []
    for label in labels:
      if chunks and fits(tuple(chunks[-1] + [label])):
        chunks[-1].append(label)
      elif fits((label, )):
        chunks.append([label])
      else:
        too_long.append(label[0])
    return [
        PromptSpec(self.name, 2, str(i), PREFIX, tuple(chunk),
                   self.relation_threshold) for i, chunk in enumerate(chunks)
    ], too_long

  def collect(self, results: Sequence[CallResult],
              n_windows: int) -> Tuple[Relation, ...]:
    stage1 = [r for r in results if r.call.stage == 1]
    stage2 = [r for r in results if r.call.stage == 2]
    # Stage-1 label of each document span, for the tail's label.
    span_labels: Dict[Tuple[int, int], str] = {}
    for result in stage1:
      for entity in owned_document_spans(result):
        span_labels.setdefault((entity.start, entity.end), entity.label)
    # First occurrence of each head text in each window, document offsets.
    heads: Dict[Tuple[int, str], Entity] = {}
    for result in stage1:
      window = result.call.window
      for span in text_spans(result):
        heads.setdefault(
            (window.index, span.text),
            Entity(window.char_start + span.start,
                   window.char_start + span.end, span.text, span.label,
                   span.score))
    relations = []
    for result in stage2:
      window = result.call.window
      for tail in owned_document_spans(result):
        head_text, _, relation = tail.label.rpartition(SEPARATOR)
        head = heads.get((window.index, head_text))
        if head is None:
          continue  # cannot happen: labels are built from these heads
        relations.append(
            Relation(
                head, relation,
                Entity(tail.start, tail.end, tail.text,
                       span_labels.get((tail.start, tail.end), ''),
                       tail.score), tail.score))
    relations.sort(key=lambda r: (r.head.start, r.relation, r.tail.start,
                                  r.tail.end))
    return tuple(relations)

  def row_columns(self, record: Relation):
    return {
        'head_text': record.head.text,
        'head_start': record.head.start,
        'head_end': record.head.end,
        'head_label': record.head.label,
        'relation': record.relation,
        'tail_text': record.tail.text,
        'tail_start': record.tail.start,
        'tail_end': record.tail.end,
        'tail_label': record.tail.label or None,
        'score': float(record.score),
    }
