"""Typed Parquet sinks: one directory per table under the output root."""
from __future__ import annotations

from typing import Dict, Iterable, List

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import WriteToParquet
from apache_beam.metrics import Metrics

from pipeline.metrics import NAMESPACE
from transforms import schemas
from transforms.schemas import Lineage


def table_dir(output: str, table: str) -> str:
  return FileSystems.join(output, table)


class WriteTable(beam.PTransform):
  """Row dicts -> ``<output>/<table>/part-SSSSS-of-NNNNN.parquet``."""

  def __init__(self, output: str, table: str):
    super().__init__()
    self._output = output
    self._table = table

  def expand(self, rows):
    return rows | WriteToParquet(
        table_dir(self._output, self._table) + '/part',
        schemas.TABLES[self._table],
        file_name_suffix='.parquet')


class CountDeadLetter(beam.DoFn):
  def __init__(self):
    self._dead = Metrics.counter(NAMESPACE, 'documents_dead_lettered')

  def process(self, letter, lineage: Lineage):
    if letter.task is None:
      self._dead.inc()
      Metrics.counter(NAMESPACE, f'dead_letter[{letter.stage}]').inc()
    else:
      Metrics.counter(NAMESPACE,
                      f'task_dead_letter[{letter.task}: {letter.stage}]').inc()
    yield schemas.dead_letter_row(letter, lineage)


class TableRows(beam.DoFn):
  """Enriched documents -> rows of one task table, counted per table."""

  def __init__(self, table: str):
    self._table = table
    self._rows = Metrics.counter(NAMESPACE, f'rows[{table}]')

  def process(self, doc, lineage: Lineage):
    for row in schemas.TASK_ROWS[self._table](doc, lineage):
      self._rows.inc()
      yield row


def output_tables(task_names: Iterable[str]) -> List[str]:
  """Tables a run writes: one per configured task, documents, dead_letter."""
  tables = [schemas.TASK_TABLES[name] for name in task_names]
  return tables + ['documents', 'dead_letter']


class WriteOutputs(beam.PTransform):
  """Enriched documents and dead letters -> the configured tasks' tables plus
  documents and dead_letter, each row stamped with the run's lineage."""

  def __init__(self, output: str, lineage: Lineage,
               task_names: Iterable[str], windowed: bool = False):
    super().__init__()
    self._output = output
    self._lineage = lineage
    self._tables = output_tables(task_names)
    # Streaming: one file per table, window and pane (see transforms.streaming).
    self._windowed = windowed

  def expand(self, inputs: Dict[str, beam.PCollection]):
    documents, dead = inputs['documents'], inputs['dead_letter']
    lineage = self._lineage
    rows = {
        'documents':
            documents | 'DocumentRows' >> beam.Map(schemas.document_row,
                                                   lineage),
        'dead_letter':
            dead | 'DeadLetterRows' >> beam.ParDo(CountDeadLetter(), lineage),
    }
    for table in self._tables:
      if table not in rows:
        rows[table] = documents | f'{table}Rows' >> beam.ParDo(
            TableRows(table), lineage)
    if self._windowed:
      from transforms.streaming import WriteWindowedTable
      writer = WriteWindowedTable
    else:
      writer = WriteTable
    return {
        table: rows[table] | f'Write_{table}' >> writer(self._output, table)
        for table in self._tables
    }
