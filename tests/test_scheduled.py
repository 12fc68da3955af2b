"""Scheduled corpus enrichment: incremental runs over a growing corpus, the
Iceberg sink, corpus tables through the job, progress, sharded streaming
files. Real Parquet, a real pyiceberg SQL catalog on SQLite, FnApiRunner."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.commit import read_manifest
from tests.conftest import run_cli, write_parquet

TEXTS = ['Marie Curie worked in Paris with Pierre Curie.',
         'Acme Corp hired Jane Doe, who was born in Oslo.',
         'Rome is older than Berlin and Vienna.']


def read_all(output, table) -> pa.Table:
  """Every committed file of a table, in both layouts (flat, run=<id>/)."""
  files = sorted((output / table).rglob('*.parquet'))
  assert files, f'no files in {output / table}'
  return pa.concat_tables(pq.read_table(f) for f in files)


def rows_of(table: pa.Table, drop=()):
  return sorted(json.dumps({k: v for k, v in r.items() if k not in drop},
                           sort_keys=True, default=str)
                for r in table.to_pylist())


def job(inputs, output, model, *extra):
  return run_cli(['--input', inputs, '--output', output, '--model', model,
                  '--labels', 'person,location', '--threshold', '0.3',
                  *extra])


def test_second_incremental_run_enriches_exactly_new_and_changed_rows(
    marker_model, tmp_path, capsys):
  inputs = tmp_path / 'in'
  write_parquet(inputs / 'a.parquet', {'id': ['a0', 'a1', 'a2'],
                                       'text': TEXTS})
  out = tmp_path / 'out'
  assert job(inputs / '*.parquet', out, marker_model, '--incremental',
             '--run_id', 'night1') == 0
  first = read_manifest(str(out), 'night1')
  assert first['status'] == 'committed' and first['skipped'] == 0
  assert first['tables']['documents']['rows'] == 3
  assert first['partition'] == 'run=night1'

  # The corpus grows (a new file) and one row changes.
  changed = list(TEXTS)
  changed[1] = 'Acme Corp moved from Oslo to Bergen.'
  write_parquet(inputs / 'a.parquet', {'id': ['a0', 'a1', 'a2'],
                                       'text': changed})
  write_parquet(inputs / 'b.parquet', {'id': ['b0', 'b1'],
                                       'text': TEXTS[:2]})
  capsys.readouterr()
  assert job(inputs / '*.parquet', out, marker_model, '--incremental',
             '--run_id', 'night2') == 0
  assert 'documents skipped:       2' in capsys.readouterr().out
  second = read_manifest(str(out), 'night2')
  assert second['skipped'] == 2
  assert second['tables']['documents']['rows'] == 3
  night2 = pq.read_table(out / 'documents' / 'run=night2').to_pylist()
  assert sorted(d['source'].rsplit('/', 1)[1] for d in night2) == [
      'a.parquet#1', 'b.parquet#0', 'b.parquet#1']
  # The first run's partition is untouched; the latest version of each
  # source is the row of the latest committed run.
  assert pq.read_table(out / 'documents' / 'run=night1').num_rows == 3
  latest = {}
  for run in ('night1', 'night2'):
    for d in pq.read_table(out / 'documents' / f'run={run}').to_pylist():
      latest[d['source']] = d
  assert {d['run_id'] for d in latest.values()} == {'night1', 'night2'}
  assert len(latest) == 5

  # Nothing changed: a third run skips everything.
  assert job(inputs / '*.parquet', out, marker_model, '--incremental',
             '--run_id', 'night3') == 0
  third = read_manifest(str(out), 'night3')
  assert third['skipped'] == 5 and third['tables']['documents']['rows'] == 0


def test_incremental_does_not_skip_rows_of_another_model_or_config(
    marker_model, token_model, tmp_path):
  write_parquet(tmp_path / 'in.parquet', {'id': ['a'], 'text': TEXTS[:1]})
  out = tmp_path / 'out'
  assert job(tmp_path / 'in.parquet', out, marker_model, '--incremental',
             '--run_id', 'r1') == 0
  assert job(tmp_path / 'in.parquet', out, token_model, '--incremental',
             '--run_id', 'r2') == 0
  assert read_manifest(str(out), 'r2')['skipped'] == 0
  assert run_cli(['--input', tmp_path / 'in.parquet', '--output', out,
                  '--model', marker_model, '--labels', 'person',
                  '--incremental', '--run_id', 'r3']) == 0
  assert read_manifest(str(out), 'r3')['skipped'] == 0  # other labels


def test_iceberg_tables_equal_the_parquet_run(marker_model, tmp_path):
  from pipeline.iceberg_sink import IcebergTarget
  write_parquet(tmp_path / 'in.parquet', {'id': ['a', 'b', 'c', 'd'],
                                          'text': TEXTS + ['   ']})
  assert job(tmp_path / 'in.parquet', tmp_path / 'pq', marker_model,
             '--run_id', 'same') == 0
  assert job(tmp_path / 'in.parquet', tmp_path / 'ice', marker_model,
             '--run_id', 'same', '--sink', 'iceberg') == 0
  catalog = IcebergTarget.local(str(tmp_path / 'ice'),
                                'gliner_beam').load_catalog()
  manifest = read_manifest(str(tmp_path / 'ice'), 'same')
  for table in ('entities', 'documents', 'dead_letter', 'entity_index'):
    iceberg = catalog.load_table(f'gliner_beam.{table}')
    assert len(iceberg.snapshots()) == 1
    snapshot = iceberg.current_snapshot()
    assert snapshot.summary.additional_properties[
        'gliner-beam.run-id'] == 'same'
    assert manifest['iceberg_snapshots'][table] == snapshot.snapshot_id
    got = iceberg.scan().to_arrow()
    assert rows_of(got) == rows_of(read_all(tmp_path / 'pq', table))


def test_failed_run_leaves_no_iceberg_snapshot(marker_model, tmp_path,
                                               monkeypatch):
  from common import schemas
  from pipeline.iceberg_sink import IcebergTarget
  write_parquet(tmp_path / 'in.parquet', {'id': ['a'], 'text': TEXTS[:1]})
  out = tmp_path / 'out'

  def explode(doc, lineage):
    raise RuntimeError('injected failure')

  monkeypatch.setattr(schemas, 'document_row', explode)
  assert job(tmp_path / 'in.parquet', out, marker_model, '--sink',
             'iceberg', '--run_id', 'bad') == 1
  monkeypatch.undo()
  catalog = IcebergTarget.local(str(out), 'gliner_beam').load_catalog()
  assert catalog.list_tables('gliner_beam') == [] if (
      ('gliner_beam', ) in catalog.list_namespaces()) else True
  assert read_manifest(str(out), 'bad')['status'] == 'failed'
  assert job(tmp_path / 'in.parquet', out, marker_model, '--sink',
             'iceberg', '--run_id', 'good') == 0
  table = catalog.load_table('gliner_beam.documents')
  runs = [s.summary.additional_properties['gliner-beam.run-id']
          for s in table.snapshots()]
  assert runs == ['good']


def test_corpus_tables_come_with_their_task_and_can_be_turned_off(
    marker_model, tmp_path):
  write_parquet(tmp_path / 'in.parquet', {'id': ['a', 'b'],
                                          'text': [TEXTS[0], TEXTS[0]]})
  assert job(tmp_path / 'in.parquet', tmp_path / 'on', marker_model) == 0
  entities = read_all(tmp_path / 'on', 'entities').to_pylist()
  index = read_all(tmp_path / 'on', 'entity_index').to_pylist()
  from common.normalise import normalise_text
  hand = {}
  for e in entities:
    key = (normalise_text(e['text']), normalise_text(e['label']))
    hand.setdefault(key, []).append(e)
  assert len(index) == len(hand)
  for row in index:
    found = hand[(row['entity'], row['label'])]
    assert row['mentions'] == len(found)
    assert row['documents'] == len({e['source'] for e in found})
  assert not (tmp_path / 'on' / 'relation_triples').exists()  # no relations
  assert job(tmp_path / 'in.parquet', tmp_path / 'off', marker_model,
             '--no_corpus_tables') == 0
  assert not (tmp_path / 'off' / 'entity_index').exists()


def test_progress_bar_in_a_local_run(marker_model, tmp_path, capsys):
  write_parquet(tmp_path / 'in.parquet', {'id': ['a', 'b', 'c'],
                                          'text': TEXTS})
  assert job(tmp_path / 'in.parquet', tmp_path / 'out', marker_model) == 0
  err = capsys.readouterr().err
  assert 'gliner-beam:' in err and '3/3' in err, err[-500:]


@pytest.mark.unit
def test_streaming_shards_are_stable_and_spread():
  from transforms.windowed_sinks import shard_of, window_file_name
  rows = [{'doc_id': f'd{i}', 'source': f'pubsub:{i}'} for i in range(200)]
  shards = [shard_of(r, 4) for r in rows]
  assert shards == [shard_of(r, 4) for r in rows]  # same row, same shard
  assert set(shards) == {0, 1, 2, 3}
  assert max(shards.count(s) for s in range(4)) < 80  # roughly even
  assert all(shard_of(r, 1) == 0 for r in rows)

  class Window:
    from apache_beam.utils.timestamp import Timestamp
    start, end = Timestamp(0), Timestamp(60)

  name = window_file_name('entities', Window, 0, 'run1', 2, 4)
  assert name == ('entities-19700101T000000-19700101T000100-pane000-'
                  'shard002of004-run1.parquet')


def test_scheduled_benchmark_smoke(tmp_path):
  """The harness behind docs/BENCHMARKS.md's scheduled-runs numbers runs."""
  from bench import scheduled
  assert scheduled.main(['--smoke', '--out', str(tmp_path / 'r.json')]) == 0
  result = json.loads((tmp_path / 'r.json').read_text())
  assert set(result['medians']) == {'full', 'corpus', 'rerun',
                                    'first_incremental'}
  assert result['rerun_over_full'] > 0 and result['meta']['documents'] == 12
