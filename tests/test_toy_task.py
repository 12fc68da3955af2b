"""A new task is one class plus one registry line.

The task below is defined here, in the test file, and nowhere else: it
declares its task-file keys (with a parser), a per-document input column,
its table name, columns and rows. Registered, it is configured from YAML,
runs through the real job (tiny offline GLiNER model, FnApiRunner in this
process) and its rows land in its own typed table -- with no other file of
the project changed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

import pyarrow as pa
import pytest

from common.records import CallResult, Document, Entity
from model_handler.tasks import register_task, unregister_task
from model_handler.tasks import keys as spec
from model_handler.tasks.base import PromptSpec, Task, owned_document_spans
from model_handler.tasks.base import plain_labels
from tests.conftest import read_table, run_cli, write_parquet


def shortest_word(key: str, value: Any) -> int:
  """A parser of the toy task's own: an integer of at least 2."""
  if isinstance(value, bool) or not isinstance(value, int) or value < 2:
    raise spec.TaskSpecError(f'{key}: expected an integer >= 2')
  return value


@dataclass(frozen=True)
class KeywordTask(Task):
  """Spans labelled with the document's own topic (an input column), kept
  when at least `min_chars` long."""
  topic_column: Optional[str] = None
  min_chars: int = 2
  threshold: float = 0.5
  name: str = 'toy_keywords'

  keys = {
      'topic_column': spec.Key(spec.text, required=True),
      'min_chars': spec.Key(shortest_word),
      'threshold': spec.Key(spec.threshold),
  }
  table = 'toy_keywords'
  columns = (
      pa.field('topic', pa.string(), nullable=False),
      pa.field('keyword', pa.string(), nullable=False),
      pa.field('start', pa.int64(), nullable=False),
      pa.field('end', pa.int64(), nullable=False),
  )

  def input_columns(self) -> Dict[str, str]:
    return {self.topic_column: 'topic_column'}

  def prompts(self, doc: Document):
    topic = doc.extras.get(self.topic_column)
    if not isinstance(topic, str) or not topic.strip():
      return [], [self.task_dead_letter(doc, 'no topic', topic)]
    return [PromptSpec(self.name, 1, '', '', plain_labels([topic.strip()]),
                       self.threshold)], []

  def collect(self, results: Sequence[CallResult],
              n_windows: int) -> Tuple[Entity, ...]:
    spans = [s for r in results for s in owned_document_spans(r)
             if s.end - s.start >= self.min_chars]
    return tuple(sorted(spans, key=lambda e: (e.start, e.end)))

  def row_columns(self, record: Entity):
    return {'topic': record.label, 'keyword': record.text,
            'start': record.start, 'end': record.end}


TEXTS = ['Marie Curie worked in Paris with Pierre Curie.',
         'Acme Corp hired Jane Doe, who was born in Oslo.']


@pytest.fixture
def registered():
  register_task(KeywordTask)
  yield KeywordTask
  unregister_task(KeywordTask.name)


def test_a_task_defined_here_writes_its_own_table(registered, marker_model,
                                                  tmp_path):
  write_parquet(tmp_path / 'in' / 'docs.parquet',
                {'id': ['a', 'b'], 'text': TEXTS,
                 'topic': ['scientist', 'company']})
  (tmp_path / 'tasks.yaml').write_text(
      'toy_keywords:\n  topic_column: topic\n  min_chars: 4\n'
      '  threshold: 0.3\n')
  rc = run_cli(['--input', tmp_path / 'in' / '*.parquet', '--output',
                tmp_path / 'out', '--model', marker_model, '--tasks',
                tmp_path / 'tasks.yaml', '--run_id', 'toy'])
  assert rc == 0
  table = read_table(tmp_path / 'out', 'toy_keywords')
  assert table.schema.equals(KeywordTask.schema(), check_metadata=False)
  rows = table.to_pylist()
  # A random tiny model scores about 0.5 everywhere: spans at 0.3 exist.
  assert rows, 'the toy task wrote no rows'
  texts = dict(zip(['a', 'b'], TEXTS))
  topics = {'a': 'scientist', 'b': 'company'}
  for row in rows:
    assert texts[row['doc_id']][row['start']:row['end']] == row['keyword']
    assert row['topic'] == topics[row['doc_id']]
    assert len(row['keyword']) >= 4  # its own key was parsed and applied
    assert row['run_id'] == 'toy'
  docs = read_table(tmp_path / 'out', 'documents')
  assert sorted(docs.column('doc_id').to_pylist()) == ['a', 'b']


def test_its_keys_are_checked_at_start_up(registered, marker_model, tmp_path,
                                          capsys):
  write_parquet(tmp_path / 'in' / 'docs.parquet',
                {'id': ['a'], 'text': TEXTS[:1], 'topic': ['x']})
  (tmp_path / 'tasks.yaml').write_text(
      'toy_keywords:\n  topic_column: topic\n  min_chars: 1\n')
  rc = run_cli(['--input', tmp_path / 'in' / '*.parquet', '--output',
                tmp_path / 'out', '--model', marker_model, '--tasks',
                tmp_path / 'tasks.yaml'])
  assert rc == 2
  assert 'toy_keywords.min_chars: expected an integer >= 2' in (
      capsys.readouterr().err)
  (tmp_path / 'tasks.yaml').write_text(
      'toy_keywords:\n  topic_column: subject\n')
  rc = run_cli(['--input', tmp_path / 'in' / '*.parquet', '--output',
                tmp_path / 'out', '--model', marker_model, '--tasks',
                tmp_path / 'tasks.yaml'])
  assert rc == 2
  assert "toy_keywords.topic_column: column 'subject' not in" in (
      capsys.readouterr().err)


def test_a_task_cannot_take_another_tasks_table():
  @dataclass(frozen=True)
  class Clash(KeywordTask):
    name: str = 'clash'
    table = 'entities'

  with pytest.raises(ValueError, match="table 'entities' is already written"):
    register_task(Clash)
