"""Incremental runs: skip input rows this output has already enriched.

A row is "already enriched" when the output's `documents` table holds its
(source, content hash) under the same model id and task-configuration hash:
same file and row, same text and task inputs, same model, same tasks. New
rows, changed rows and rows enriched under another model or configuration
go through. The comparison is a CoGroupByKey against the committed
documents files (read with Beam, so it scales with the corpus), not a set
in the launcher's memory.
"""
from __future__ import annotations

from typing import List, Tuple

import apache_beam as beam
from apache_beam.io.parquetio import ReadAllFromParquet
from apache_beam.metrics import Metrics

from common.metrics import NAMESPACE

SKIPPED = 'skipped'
DOCUMENT_COLUMNS = ['source', 'content_hash', 'model_id', 'config_hash']


class KeepNewRowsFn(beam.DoFn):
  """(key, {'rows': [...], 'done': [...]}) -> the rows not done before; a
  `skipped` tagged output carries one element per skipped row (counted)."""

  def __init__(self):
    self._skipped = Metrics.counter(NAMESPACE, 'documents_skipped')

  def process(self, keyed: Tuple[tuple, dict]):
    _, groups = keyed
    rows = list(groups['rows'])
    if list(groups['done']):
      self._skipped.inc(len(rows))
      for row in rows:
        yield beam.pvalue.TaggedOutput(SKIPPED, row.record_key)
      return
    yield from rows


class SkipEnriched(beam.PTransform):
  """SourceRows -> (rows to enrich, record keys skipped)."""

  def __init__(self, documents_files: List[str], model_id: str,
               config_hash: str):
    super().__init__()
    self._files = list(documents_files)
    self._model_id = model_id
    self._config_hash = config_hash

  def expand(self, rows):
    if not self._files:  # a first run: nothing to skip
      skipped = rows.pipeline | 'NothingSkipped' >> beam.Create([])
      return rows, skipped
    model_id, config_hash = self._model_id, self._config_hash
    done = (
        rows.pipeline
        | 'PreviousDocumentFiles' >> beam.Create(self._files)
        | 'ReadPreviousDocuments' >> ReadAllFromParquet(
            columns=DOCUMENT_COLUMNS)
        | 'SameModelAndTasks' >> beam.Filter(
            lambda d: d['model_id'] == model_id and d['config_hash'] ==
            config_hash)
        | 'KeyDone' >> beam.Map(lambda d:
                                ((d['source'], d['content_hash']), None)))
    keyed = rows | 'KeyRows' >> beam.Map(
        lambda r: ((r.record_key, r.content_hash()), r))
    kept = ({'rows': keyed, 'done': done}
            | 'JoinPrevious' >> beam.CoGroupByKey()
            | 'KeepNew' >> beam.ParDo(KeepNewRowsFn()).with_outputs(
                SKIPPED, main='rows'))
    return kept.rows, kept[SKIPPED]
