"""Streaming-only sinks: windowed Parquet files and an optional Pub/Sub
topic of enriched documents. (Repeats: transforms.dedup; late data:
transforms.lateness.)"""
from __future__ import annotations

import json
import zlib
from typing import Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import PaneInfoTiming
import pyarrow as pa
import pyarrow.parquet as pq

from common.metrics import NAMESPACE
from common.records import EnrichedDocument
from model_handler.tasks import Task
from transforms.emulators import use_anonymous_gcs_for_emulator
from transforms.sinks import table_dir


# One row per message: `late_rows` counts messages written late.
MESSAGE_TABLES = ('documents', 'dead_letter')


def window_file_name(table: str, window, pane_index: int, run_id: str,
                     shard: int = 0, num_shards: int = 1) -> str:
  """Unique per (table, window, pane, shard, run) and stable across
  retries: a retried bundle replaces its own file, and a restarted job (new
  run id) never replaces an earlier run's files."""
  start = window.start.to_utc_datetime().strftime('%Y%m%dT%H%M%S')
  end = window.end.to_utc_datetime().strftime('%Y%m%dT%H%M%S')
  return (f'{table}-{start}-{end}-pane{pane_index:03d}-'
          f'shard{shard:03d}of{num_shards:03d}-{run_id}.parquet')


def shard_of(row: dict, num_shards: int) -> int:
  """A row's shard: a stable hash of its content (same row, same shard on
  every worker and retry), so a window's rows spread over `num_shards`
  writers instead of one."""
  if num_shards == 1:
    return 0
  body = json.dumps(row, sort_keys=True, default=str).encode('utf-8',
                                                              'replace')
  return zlib.crc32(body) % num_shards


class WriteWindowFileFn(beam.DoFn):
  """All rows of one table in one window pane -> one Parquet file.

  Written to a temporary name and renamed, so readers never see a partial
  file; the final name is deterministic, so a retried bundle replaces its own
  file instead of adding a second copy.
  """

  def __init__(self, output: str, table: str, schema: pa.Schema,
               run_id: str, num_shards: int = 1):
    self._output = output
    self._table = table
    self._schema = schema
    self._run_id = run_id
    self._num_shards = num_shards

  def setup(self):
    use_anonymous_gcs_for_emulator()

  def process(self, keyed, window=beam.DoFn.WindowParam,
              pane=beam.DoFn.PaneInfoParam):
    shard, rows = keyed
    rows = list(rows)
    if pane.timing == PaneInfoTiming.LATE:
      # Rows that arrived after their window's on-time pane fired.
      Metrics.counter(NAMESPACE, f'late_rows[{self._table}]').inc(len(rows))
      if self._table in MESSAGE_TABLES:
        Metrics.counter(NAMESPACE, 'late_rows').inc(len(rows))
    directory = table_dir(self._output, self._table)
    name = window_file_name(self._table, window, pane.index, self._run_id,
                            shard, self._num_shards)
    final = FileSystems.join(directory, name)
    temp = FileSystems.join(directory, '.tmp-' + name)
    table = pa.Table.from_pylist(rows, schema=self._schema)
    with FileSystems.create(temp) as handle:
      pq.write_table(table, handle)
    if FileSystems.exists(final):
      FileSystems.delete([final])
    FileSystems.rename([temp], [final])
    Metrics.counter(NAMESPACE, 'window_files_written').inc()
    yield final


class WriteWindowedTable(beam.PTransform):
  """Rows of one table -> one file per window, pane and shard."""

  def __init__(self, output: str, table: str, schema: pa.Schema, run_id: str,
               num_shards: int = 1):
    super().__init__()
    self._output = output
    self._table = table
    self._schema = schema
    self._run_id = run_id
    self._num_shards = num_shards

  def expand(self, rows):
    return (rows
            | 'KeyByShard' >> beam.Map(
                lambda row, n: (shard_of(row, n), row), self._num_shards)
            | 'GroupWindow' >> beam.GroupByKey()
            | 'WriteFile' >> beam.ParDo(
                WriteWindowFileFn(self._output, self._table, self._schema,
                                  self._run_id, self._num_shards)))


def document_message(doc: EnrichedDocument, lineage,
                     tasks: Sequence[Task]) -> bytes:
  """One JSON message per enriched document, for downstream consumers:
  each task's rows (its own columns) under its table's name."""
  body = {
      'doc_id': doc.doc_id,
      'n_windows': doc.n_windows,
      **lineage.as_dict(),
  }
  for task in tasks:
    rows = list(task.rows(doc.outputs.get(task.name, ())))
    if rows:
      body[task.table] = rows
  return json.dumps(body, sort_keys=True).encode('utf-8')
