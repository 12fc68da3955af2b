"""Typed Parquet sinks: one directory per table under the output root."""
from __future__ import annotations

import functools
from typing import Dict, Sequence

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import WriteToParquet
from apache_beam.metrics import Metrics

from common import schemas
from common.metrics import NAMESPACE
from common.records import DEAD_LETTER, DeadLetter
from common.schemas import Lineage
from model_handler.tasks import Task
from transforms.corpus_tables import CORPUS_TABLES, ENTITY_INDEX_TABLE
from transforms.corpus_tables import RELATION_TRIPLES_TABLE, CorpusTables


def table_dir(output: str, table: str) -> str:
  return FileSystems.join(output, table)


def corpus_tables_for(tasks: Sequence[Task]) -> Dict[str, pa.Schema]:
  """The corpus-level tables the configured tasks feed: entity_index with
  ner, relation_triples with relations."""
  names = {task.name for task in tasks}
  wanted = {ENTITY_INDEX_TABLE: 'ner' in names,
            RELATION_TRIPLES_TABLE: 'relations' in names}
  return {t: s for t, s in CORPUS_TABLES.items() if wanted[t]}


def output_tables(tasks: Sequence[Task],
                  corpus_tables: bool = False) -> Dict[str, pa.Schema]:
  """Tables a run writes -> schema: one per configured task, the corpus
  tables they feed (unless turned off), then documents and dead_letter."""
  tables = {task.table: task.schema() for task in tasks}
  if corpus_tables:
    tables.update(corpus_tables_for(tasks))
  tables.update(schemas.SHARED_TABLES)
  return tables


class WriteTable(beam.PTransform):
  """Row dicts -> ``<output>/<table>/part-SSSSS-of-NNNNN.parquet``."""

  def __init__(self, output: str, table: str, schema: pa.Schema):
    super().__init__()
    self._output = output
    self._table = table
    self._schema = schema

  def expand(self, rows):
    return rows | WriteToParquet(
        table_dir(self._output, self._table) + '/part',
        self._schema,
        file_name_suffix='.parquet')


class CountDeadLetter(beam.DoFn):
  def __init__(self, snippet_chars: int = schemas.SNIPPET_CHARS):
    self._dead = Metrics.counter(NAMESPACE, 'documents_dead_lettered')
    self._snippet_chars = snippet_chars

  def process(self, letter, lineage: Lineage):
    if letter.task is None:
      self._dead.inc()
      Metrics.counter(NAMESPACE, f'dead_letter[{letter.stage}]').inc()
    else:
      Metrics.counter(NAMESPACE,
                      f'task_dead_letter[{letter.task}: {letter.stage}]').inc()
    yield schemas.dead_letter_row(letter, lineage, self._snippet_chars)


class TaskRowsFn(beam.DoFn):
  """Enriched documents -> rows of one task's table, counted per table."""

  def __init__(self, task: Task):
    self._task = task
    self._rows = Metrics.counter(NAMESPACE, f'rows[{task.table}]')

  def process(self, doc, lineage: Lineage):
    try:
      rows = [schemas.task_row(doc, columns, lineage) for columns in
              self._task.rows(doc.outputs.get(self._task.name, ()))]
    except Exception as exc:  # pylint: disable=broad-except
      # This document's rows of this table only; its other tables are
      # written, and the dead letter says which table is missing.
      yield beam.pvalue.TaggedOutput(
          DEAD_LETTER,
          DeadLetter(doc.record_key, doc.doc_id, 'sink',
                     f'{self._task.table} rows: {type(exc).__name__}: '
                     f'{exc}'[:500], task=self._task.name))
      return
    self._rows.inc(len(rows))
    yield from rows


class WriteOutputs(beam.PTransform):
  """Enriched documents and dead letters -> the configured tasks' tables plus
  documents and dead_letter, each row stamped with the run's lineage."""

  def __init__(self, output: str, lineage: Lineage, tasks: Sequence[Task],
               windowed: bool = False,
               snippet_chars: int = schemas.SNIPPET_CHARS,
               num_shards: int = 1, corpus_tables: bool = False):
    super().__init__()
    self._num_shards = num_shards
    self._corpus_tables = corpus_tables
    self._snippet_chars = snippet_chars
    self._output = output
    self._lineage = lineage
    self._tasks = tuple(tasks)
    # Streaming: one file per table, window and pane (see transforms.windowed_sinks).
    self._windowed = windowed

  def expand(self, inputs: Dict[str, beam.PCollection]):
    documents, dead = inputs['documents'], inputs[DEAD_LETTER]
    lineage = self._lineage
    rows, sink_dead = {}, [dead]
    for task in self._tasks:
      built = documents | f'{task.table}Rows' >> beam.ParDo(
          TaskRowsFn(task), lineage).with_outputs(DEAD_LETTER, main='rows')
      rows[task.table] = built.rows
      sink_dead.append(built[DEAD_LETTER])
    corpus = corpus_tables_for(self._tasks) if self._corpus_tables else {}
    if corpus:
      rows.update(documents | 'CorpusTables' >> CorpusTables(
          lineage,
          build_entities=ENTITY_INDEX_TABLE in corpus,
          build_relations=RELATION_TRIPLES_TABLE in corpus))
    rows['documents'] = documents | 'DocumentRows' >> beam.Map(
        schemas.document_row, lineage)
    rows[DEAD_LETTER] = (
        sink_dead
        | 'AllSinkDead' >> beam.Flatten()
        | 'DeadLetterRows' >> beam.ParDo(CountDeadLetter(self._snippet_chars),
                                         lineage))
    if self._windowed:
      from transforms.windowed_sinks import WriteWindowedTable
      writer = functools.partial(WriteWindowedTable, run_id=lineage.run_id,
                                 num_shards=self._num_shards)
    else:
      writer = WriteTable
    return {
        table: rows[table] | f'Write_{table}' >> writer(self._output, table,
                                                        schema)
        for table, schema in output_tables(self._tasks,
                                           self._corpus_tables).items()
    }
