"""Corpus-level tables: what the whole corpus says, not one document.

`entity_index`: one row per normalised (entity text, label) with its
mentions, the distinct documents it occurs in, its mean score and a few
example document ids. `relation_triples`: one row per normalised (head,
relation, tail) with its count, documents and mean score. Every string of
a key goes through `common.normalise.normalise_text` (NFKC, case fold,
whitespace collapsed), so "Paris", "PARIS" and "Ｐａｒｉｓ" are one row;
configured names (label, relation) follow the same rule, so they may differ
in case from the `entities`/`relations` tables.

Both are built with one `beam.CombineFn` under `CombinePerKey`, so workers
pre-combine before the shuffle and the result does not depend on how the
input was split. Only windowing-agnostic transforms are used: in streaming
each window (each pane, under a trigger) gets its own rows; a streaming
job in the global window needs a trigger for rows to appear at all.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Set, Tuple

import apache_beam as beam
import pyarrow as pa
from apache_beam.metrics import Metrics

from common.metrics import NAMESPACE
from common.normalise import normalise_text
from common.records import EnrichedDocument
from common.schemas import LINEAGE_FIELDS, Lineage, writable

ENTITY_INDEX_TABLE = 'entity_index'
RELATION_TRIPLES_TABLE = 'relation_triples'
DEFAULT_MAX_EXAMPLES = 5

ENTITY_INDEX = pa.schema([
    pa.field('entity', pa.string(), nullable=False),
    pa.field('label', pa.string(), nullable=False),
    pa.field('mentions', pa.int64(), nullable=False),
    # Distinct input rows (`source` in the other tables), not distinct ids.
    pa.field('documents', pa.int64(), nullable=False),
    pa.field('mean_score', pa.float64(), nullable=False),
    # The smallest document ids in sort order: the same whatever the run.
    # The list item is named `element` (Parquet's standard 3-level list and
    # Iceberg's name), not Arrow's default `item`, so --sink iceberg can
    # register the files as written.
    pa.field('example_doc_ids', pa.list_(pa.field('element', pa.string())),
             nullable=False),
    *LINEAGE_FIELDS,
])

RELATION_TRIPLES = pa.schema([
    # The head and tail entities of the triple (`source`, in every other
    # table, is the input row: the triple's ends are named apart from it).
    pa.field('head', pa.string(), nullable=False),
    pa.field('relation', pa.string(), nullable=False),
    pa.field('tail', pa.string(), nullable=False),
    pa.field('count', pa.int64(), nullable=False),
    pa.field('documents', pa.int64(), nullable=False),
    pa.field('mean_score', pa.float64(), nullable=False),
    *LINEAGE_FIELDS,
])

CORPUS_TABLES: Dict[str, pa.Schema] = {
    ENTITY_INDEX_TABLE: ENTITY_INDEX,
    RELATION_TRIPLES_TABLE: RELATION_TRIPLES,
}


@dataclass(frozen=True)
class Sighting:
  """One mention of a key: the document it is in and its score."""
  record_key: str
  doc_id: str
  score: float


@dataclass
class Tally:
  """The accumulator of one key.

  `score_parts` is the exact sum of the scores as non-overlapping floats
  (Shewchuk's partials, as `math.fsum` keeps them): merging in any order
  gives the same mean to the last bit. `documents` is the set of record keys:
  the distinct count must be exact (a document seen on two workers counts
  once), so its memory grows with the documents of that key: one set entry
  (the record key string, ~100 bytes) per document. Fine for millions of
  documents per key and window; beyond that, count distinct (key, record
  key) pairs with `beam.Distinct` instead.
  `examples` holds at most `max_examples` distinct doc ids, smallest first.
  """
  mentions: int = 0
  score_parts: List[float] = field(default_factory=list)
  documents: Set[str] = field(default_factory=set)
  examples: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class Summary:
  """What a key's tally says."""
  mentions: int
  documents: int
  mean_score: float
  example_doc_ids: Tuple[str, ...]


def add_exact(parts: List[float], value: float) -> None:
  """Adds `value` to the exact partial sums `parts` in place."""
  i = 0
  for part in parts:
    if abs(value) < abs(part):
      value, part = part, value
    high = value + part
    low = part - (high - value)
    if low:
      parts[i] = low
      i += 1
    value = high
  parts[i:] = [value]


class TallyFn(beam.CombineFn):
  """Sightings of one key -> `Summary`; used for both corpus tables."""

  def __init__(self, max_examples: int = DEFAULT_MAX_EXAMPLES):
    super().__init__()
    if max_examples < 0:
      raise ValueError(f'max_examples must be >= 0, not {max_examples}')
    self._max_examples = max_examples

  def create_accumulator(self) -> Tally:
    return Tally()

  def _keep_example(self, examples: List[str], doc_id: str) -> None:
    if len(examples) >= self._max_examples and (not examples or
                                                doc_id >= examples[-1]):
      return
    at = bisect.bisect_left(examples, doc_id)
    if at < len(examples) and examples[at] == doc_id:
      return
    examples.insert(at, doc_id)
    del examples[self._max_examples:]

  def add_input(self, accumulator: Tally, sighting: Sighting) -> Tally:
    accumulator.mentions += 1
    add_exact(accumulator.score_parts, float(sighting.score))
    accumulator.documents.add(sighting.record_key)
    self._keep_example(accumulator.examples, sighting.doc_id)
    return accumulator

  def merge_accumulators(self, accumulators: Iterable[Tally]) -> Tally:
    merged = Tally()
    for tally in accumulators:
      merged.mentions += tally.mentions
      for part in tally.score_parts:
        add_exact(merged.score_parts, part)
      merged.documents |= tally.documents
      for doc_id in tally.examples:
        self._keep_example(merged.examples, doc_id)
    return merged

  def extract_output(self, accumulator: Tally) -> Summary:
    mentions = accumulator.mentions
    mean = math.fsum(accumulator.score_parts) / mentions if mentions else 0.0
    return Summary(mentions, len(accumulator.documents), mean,
                   tuple(accumulator.examples))


EntityKey = Tuple[str, str]
TripleKey = Tuple[str, str, str]


def key_text(text: str) -> str:
  """A key string: normalised, and writable by Beam's coders and Arrow (a
  lone surrogate is escaped, see `common.schemas.writable`)."""
  return writable(normalise_text(text))


def entity_sightings(doc: EnrichedDocument,
                     task_name: str) -> Iterator[Tuple[EntityKey, Sighting]]:
  """(normalised text, normalised label) -> sighting, per entity of the
  document's `task_name` output; blank texts are skipped."""
  for entity in doc.outputs.get(task_name, ()):
    text = key_text(entity.text)
    if text:
      yield ((text, key_text(entity.label)),
             Sighting(doc.record_key, writable(doc.doc_id), entity.score))


def relation_sightings(
    doc: EnrichedDocument,
    task_name: str) -> Iterator[Tuple[TripleKey, Sighting]]:
  """(head, relation, tail), each normalised -> sighting, per relation
  of the document's `task_name` output; blank heads/tails are skipped."""
  for relation in doc.outputs.get(task_name, ()):
    head = key_text(relation.head.text)
    tail = key_text(relation.tail.text)
    if head and tail:
      yield ((head, key_text(relation.relation), tail),
             Sighting(doc.record_key, writable(doc.doc_id), relation.score))


def entity_index_row(key: EntityKey, summary: Summary,
                     lineage: Lineage) -> Dict[str, Any]:
  entity, label = key
  return {
      'entity': entity,
      'label': label,
      'mentions': summary.mentions,
      'documents': summary.documents,
      'mean_score': summary.mean_score,
      'example_doc_ids': list(summary.example_doc_ids),
      **lineage.as_dict(),
  }


def relation_triple_row(key: TripleKey, summary: Summary,
                        lineage: Lineage) -> Dict[str, Any]:
  head, relation, tail = key
  return {
      'head': head,
      'relation': relation,
      'tail': tail,
      'count': summary.mentions,
      'documents': summary.documents,
      'mean_score': summary.mean_score,
      **lineage.as_dict(),
  }


class CountedRowsFn(beam.DoFn):
  """(key, summary) -> a table row, counted as `rows[<table>]`."""

  def __init__(self, table: str, to_row):
    self._table = table
    self._to_row = to_row

  def setup(self):
    self._rows = Metrics.counter(NAMESPACE, f'rows[{self._table}]')

  def process(self, keyed, lineage: Lineage):
    key, summary = keyed
    self._rows.inc()
    yield self._to_row(key, summary, lineage)


class CorpusTables(beam.PTransform):
  """Enriched documents -> {table name: PCollection of row dicts} for the
  tables asked for (`entity_index`, `relation_triples`)."""

  def __init__(self, lineage: Lineage, entity_task_name: str = 'ner',
               relation_task_name: str = 'relations',
               build_entities: bool = True, build_relations: bool = True,
               max_examples: int = DEFAULT_MAX_EXAMPLES):
    super().__init__()
    if max_examples < 0:
      raise ValueError(f'max_examples must be >= 0, not {max_examples}')
    self._lineage = lineage
    self._entity_task_name = entity_task_name
    self._relation_task_name = relation_task_name
    self._build_entities = build_entities
    self._build_relations = build_relations
    self._max_examples = max_examples

  def expand(self, documents):
    tables = {}
    if self._build_entities:
      tables[ENTITY_INDEX_TABLE] = (
          documents
          | 'EntitySightings' >> beam.FlatMap(entity_sightings,
                                              self._entity_task_name)
          | 'TallyEntities' >> beam.CombinePerKey(TallyFn(self._max_examples))
          | 'EntityIndexRows' >> beam.ParDo(
              CountedRowsFn(ENTITY_INDEX_TABLE, entity_index_row),
              self._lineage))
    if self._build_relations:
      tables[RELATION_TRIPLES_TABLE] = (
          documents
          | 'RelationSightings' >> beam.FlatMap(relation_sightings,
                                                self._relation_task_name)
          # No example ids in this table: keep none.
          | 'TallyRelations' >> beam.CombinePerKey(TallyFn(0))
          | 'RelationTripleRows' >> beam.ParDo(
              CountedRowsFn(RELATION_TRIPLES_TABLE, relation_triple_row),
              self._lineage))
    return tables
