"""Reading documents from Parquet files (local or any Beam file system).

Read per row group (not Beam's ReadFromParquet) so that every row keeps a
stable, unique source key ``<file>#<row>``, which is also the documented id
when the file has no id column, and so a corrupt row group becomes
dead-letter rows, one per row its footer declares, instead of a crash.
"""
from __future__ import annotations

from typing import Iterator, List, NamedTuple, Optional, Tuple

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
import pyarrow as pa
import pyarrow.parquet as pq

from common.metrics import NAMESPACE
from common.records import DEAD_LETTER, DeadLetter, SourceRow
from transforms.emulators import use_anonymous_gcs_for_emulator



class RowGroup(NamedTuple):
  path: str
  index: int
  first_row: int
  num_rows: int


def source_key(path: str, row: int) -> str:
  """The unique key of an input row; also its id when there is no id column."""
  return f'{path}#{row}'


def open_parquet(path: str) -> pq.ParquetFile:
  handle = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
  return pq.ParquetFile(handle)


def _column_values(table: pa.Table, name: str) -> List:
  """Python values of a column; bytes for values that are not valid text."""
  column = table.column(name)
  try:
    return column.to_pylist()
  except (UnicodeDecodeError, pa.ArrowException):
    # One bad value must not take the others down: fall back to raw bytes,
    # which validation decodes (or rejects) value by value.
    return column.cast(pa.binary()).to_pylist()


class ListRowGroupsFn(beam.DoFn):
  def __init__(self):
    self._read = Metrics.counter(NAMESPACE, 'documents_read')

  def setup(self):
    use_anonymous_gcs_for_emulator()

  def process(self, path: str) -> Iterator:
    try:
      metadata = open_parquet(path).metadata
    except Exception as exc:  # pylint: disable=broad-except
      self._read.inc()  # an unreadable file counts as one input
      yield beam.pvalue.TaggedOutput(
          DEAD_LETTER,
          DeadLetter(path, None, 'read',
                     f'cannot read Parquet footer: {type(exc).__name__}: {exc}'))
      return
    first = 0
    for index in range(metadata.num_row_groups):
      rows = metadata.row_group(index).num_rows
      yield RowGroup(path, index, first, rows)
      first += rows


class ReadRowGroupFn(beam.DoFn):
  def __init__(self, text_column: str, id_column: str,
               extra_columns: Tuple[str, ...] = ()):
    self._text_column = text_column
    self._id_column = id_column
    self._extra_columns = tuple(extra_columns)
    self._read = Metrics.counter(NAMESPACE, 'documents_read')

  def setup(self):
    use_anonymous_gcs_for_emulator()

  def process(self, group: RowGroup) -> Iterator:
    try:
      parquet = open_parquet(group.path)
      names = parquet.schema_arrow.names
      for column in (self._text_column, ) + self._extra_columns:
        if column not in names:
          raise KeyError(f'column {column!r} is missing (columns: {names})')
      has_id = self._id_column in names
      columns = [self._text_column] + list(self._extra_columns) + (
          [self._id_column] if has_id else [])
      table = parquet.read_row_group(group.index, columns=columns)
      texts = _column_values(table, self._text_column)
      extras = {c: _column_values(table, c) for c in self._extra_columns}
      ids: Optional[List] = _column_values(table,
                                           self._id_column) if has_id else None
    except Exception as exc:  # pylint: disable=broad-except
      reason = f'cannot read row group {group.index}: {type(exc).__name__}: {exc}'
      self._read.inc(group.num_rows)
      for offset in range(group.num_rows):
        yield beam.pvalue.TaggedOutput(
            DEAD_LETTER,
            DeadLetter(source_key(group.path, group.first_row + offset), None,
                       'read', reason))
      return
    self._read.inc(len(texts))
    for offset, text in enumerate(texts):
      key = source_key(group.path, group.first_row + offset)
      if ids is None:
        doc_id = key
      else:
        raw_id = ids[offset]
        if isinstance(raw_id, bytes):
          raw_id = raw_id.decode('utf-8', errors='backslashreplace')
        doc_id = None if raw_id is None else str(raw_id)
      yield SourceRow(key, doc_id, text,
                      {c: values[offset] for c, values in extras.items()})


class ReadParquetDocuments(beam.PTransform):
  """File pattern -> (SourceRows, dead letters), split by row group."""

  def __init__(self, file_pattern: str, text_column: str, id_column: str,
               extra_columns: Tuple[str, ...] = ()):
    super().__init__()
    self._pattern = file_pattern
    self._text_column = text_column
    self._id_column = id_column
    self._extra_columns = tuple(extra_columns)

  def expand(self, pbegin):
    groups = (
        pbegin
        | 'Match' >> fileio.MatchFiles(self._pattern)
        | 'Path' >> beam.Map(lambda metadata: metadata.path)
        | 'ListRowGroups' >> beam.ParDo(ListRowGroupsFn()).with_outputs(
            DEAD_LETTER, main='groups'))
    rows = (
        groups.groups
        | 'Spread' >> beam.Reshuffle()
        | 'ReadRowGroups' >> beam.ParDo(
            ReadRowGroupFn(self._text_column, self._id_column,
                           self._extra_columns)).with_outputs(
                DEAD_LETTER, main='rows'))
    dead = (groups[DEAD_LETTER], rows[DEAD_LETTER]) | 'FlattenReadDead' >> beam.Flatten()
    return rows.rows, dead
