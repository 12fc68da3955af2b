"""Relation extraction, two stages as the multi-task models were trained.

Stage 1 is NER on the window. Stage 2 prompts the window with the relation
instruction and one label per (source entity, relation): `"{source} <>
{relation}"`; each span found is a relation target. Labels are ordered by
relation, then by the source's first occurrence (the reference iterated a
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


def relation_label(source: str, relation: str) -> str:
  return f'{source}{SEPARATOR}{relation}'


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
      pa.field('source_text', pa.string(), nullable=False),
      pa.field('source_start', pa.int64(), nullable=False),
      pa.field('source_end', pa.int64(), nullable=False),
      pa.field('source_label', pa.string(), nullable=False),
      pa.field('relation', pa.string(), nullable=False),
      pa.field('target_text', pa.string(), nullable=False),
      pa.field('target_start', pa.int64(), nullable=False),
      pa.field('target_end', pa.int64(), nullable=False),
      # The stage-1 label of the target span; null when stage 1 missed it.
      pa.field('target_label', pa.string(), nullable=True),
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
    sources: List[str] = []
    for span in text_spans(stage1):
      if span.text not in sources:
        sources.append(span.text)
    labels = [(relation_label(s, r), relation_label(s, r))
              for r in self.relations for s in sources]
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
    # Stage-1 label of each document span, for the target's label.
    span_labels: Dict[Tuple[int, int], str] = {}
    for result in stage1:
      for entity in owned_document_spans(result):
        span_labels.setdefault((entity.start, entity.end), entity.label)
    # First occurrence of each source text in each window, document offsets.
    sources: Dict[Tuple[int, str], Entity] = {}
    for result in stage1:
      window = result.call.window
      for span in text_spans(result):
        sources.setdefault(
            (window.index, span.text),
            Entity(window.char_start + span.start,
                   window.char_start + span.end, span.text, span.label,
                   span.score))
    relations = []
    for result in stage2:
      window = result.call.window
      for target in owned_document_spans(result):
        source_text, _, relation = target.label.rpartition(SEPARATOR)
        source = sources.get((window.index, source_text))
        if source is None:
          continue  # cannot happen: labels are built from these sources
        relations.append(
            Relation(
                source, relation,
                Entity(target.start, target.end, target.text,
                       span_labels.get((target.start, target.end), ''),
                       target.score), target.score))
    relations.sort(key=lambda r: (r.source.start, r.relation, r.target.start,
                                  r.target.end))
    return tuple(relations)

  def row_columns(self, record: Relation):
    return {
        'source_text': record.source.text,
        'source_start': record.source.start,
        'source_end': record.source.end,
        'source_label': record.source.label,
        'relation': record.relation,
        'target_text': record.target.text,
        'target_start': record.target.start,
        'target_end': record.target.end,
        'target_label': record.target.label or None,
        'score': float(record.score),
    }
