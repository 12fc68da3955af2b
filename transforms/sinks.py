"""Typed Parquet sinks: one directory per table under the output root."""
from __future__ import annotations

from typing import Dict

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
    self._dead.inc()
    Metrics.counter(NAMESPACE, f'dead_letter[{letter.stage}]').inc()
    yield schemas.dead_letter_row(letter, lineage)


class WriteOutputs(beam.PTransform):
  """Enriched documents and dead letters -> the entities, documents and
  dead_letter tables, each row stamped with the run's lineage."""

  def __init__(self, output: str, lineage: Lineage):
    super().__init__()
    self._output = output
    self._lineage = lineage

  def expand(self, inputs: Dict[str, beam.PCollection]):
    documents, dead = inputs['documents'], inputs['dead_letter']
    lineage = self._lineage
    entity_rows = documents | 'EntityRows' >> beam.FlatMap(
        schemas.entity_rows, lineage)
    document_rows = documents | 'DocumentRows' >> beam.Map(
        schemas.document_row, lineage)
    dead_rows = dead | 'DeadLetterRows' >> beam.ParDo(CountDeadLetter(),
                                                       lineage)
    return {
        'entities': entity_rows | 'WriteEntities' >> WriteTable(
            self._output, 'entities'),
        'documents': document_rows | 'WriteDocuments' >> WriteTable(
            self._output, 'documents'),
        'dead_letter': dead_rows | 'WriteDeadLetter' >> WriteTable(
            self._output, 'dead_letter'),
    }
