"""Incremental runs: skip input rows this output has already enriched.

A row is "already enriched" when the *latest committed version* of its key
in the output's `documents` table has the same content hash (text and task
inputs), model id and task-configuration hash. The key is the document id
(`--incremental_key id`, the default: daily snapshots or renamed files skip
unchanged documents; files without an id column use `<file>#<row>` as the
id) or the input row (`source`). Comparing against the latest version only
means a text that goes A -> B -> A is enriched again on its return, so
readers of the latest version never get B's entities for text A. Only runs
in the commit log count (the launcher passes the committed files and their
runs' commit order): a killed run's files are never taken as done. The
comparison is a CoGroupByKey against those files (read with Beam, so it
scales with the corpus), not a set in the launcher's memory.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import apache_beam as beam
from apache_beam.io.parquetio import ReadAllFromParquet
from apache_beam.metrics import Metrics

from common.metrics import NAMESPACE

SKIPPED = 'skipped'
KEYS = ('id', 'source')
DOCUMENT_COLUMNS = ['doc_id', 'source', 'content_hash', 'model_id',
                    'config_hash', 'run_id']


def row_key(doc_id: Optional[str], source: str, key: str) -> tuple:
  """('id', id) or ('source', <file>#<row>); a row without an id can only
  match itself."""
  if key == 'id' and doc_id is not None:
    return ('id', doc_id)
  return ('source', source)


class LatestVersion(beam.CombineFn):
  """(commit order, version) values -> the versions of the latest order."""

  def create_accumulator(self):
    return (-1, frozenset())

  def add_input(self, accumulator, value):
    return self.merge_accumulators([accumulator, (value[0],
                                                  frozenset([value[1]]))])

  def merge_accumulators(self, accumulators):
    latest = max(order for order, _ in accumulators)
    return (latest, frozenset().union(
        *[v for order, v in accumulators if order == latest]))

  def extract_output(self, accumulator):
    return accumulator[1]


class KeepNewRowsFn(beam.DoFn):
  """(key, {'rows': [...], 'done': [versions]}) -> the rows whose version
  differs from the latest committed one; a `skipped` tagged output carries
  one element per skipped row (counted)."""

  def __init__(self, model_id: str, config_hash: str):
    self._model_id = model_id
    self._config_hash = config_hash
    self._skipped = Metrics.counter(NAMESPACE, 'documents_skipped')

  def process(self, keyed: Tuple[tuple, dict]):
    _, groups = keyed
    latest = set().union(*groups['done']) if groups['done'] else set()
    for row in groups['rows']:
      if (row.content_hash(), self._model_id, self._config_hash) in latest:
        self._skipped.inc()
        yield beam.pvalue.TaggedOutput(SKIPPED, row.record_key)
      else:
        yield row


class SkipEnriched(beam.PTransform):
  """SourceRows -> (rows to enrich, record keys skipped)."""

  def __init__(self, documents_files: List[str], run_order: List[str],
               model_id: str, config_hash: str, key: str = 'id'):
    super().__init__()
    if key not in KEYS:
      raise ValueError(f'incremental key must be one of {KEYS}, got {key!r}')
    self._files = list(documents_files)
    self._order: Dict[str, int] = {r: i for i, r in enumerate(run_order)}
    self._model_id = model_id
    self._config_hash = config_hash
    self._key = key

  def expand(self, rows):
    if not self._files:  # a first run: nothing to skip
      skipped = rows.pipeline | 'NothingSkipped' >> beam.Create([])
      return rows, skipped
    order, key = self._order, self._key
    done = (
        rows.pipeline
        | 'PreviousDocumentFiles' >> beam.Create(self._files)
        | 'ReadPreviousDocuments' >> ReadAllFromParquet(
            columns=DOCUMENT_COLUMNS)
        | 'KeyDone' >> beam.Map(lambda d: (
            row_key(d['doc_id'], d['source'], key),
            (order.get(d['run_id'], -1),
             (d['content_hash'], d['model_id'], d['config_hash']))))
        | 'LatestVersion' >> beam.CombinePerKey(LatestVersion()))
    keyed = rows | 'KeyRows' >> beam.Map(
        lambda r: (row_key(r.doc_id, r.record_key, key), r))
    kept = ({'rows': keyed, 'done': done}
            | 'JoinPrevious' >> beam.CoGroupByKey()
            | 'KeepNew' >> beam.ParDo(
                KeepNewRowsFn(self._model_id, self._config_hash)).with_outputs(
                    SKIPPED, main='rows'))
    return kept.rows, kept[SKIPPED]
