"""Each operator report of issue 18, replayed on the real job (tiny GLiNER
model, FnApiRunner, real Parquet and pyiceberg on SQLite): what lost rows or
crashed before must now be refused, rolled back or recovered. The crash
harness itself is tests/test_commit_protocol.py."""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from pipeline import commit, faults, lease
from pipeline.table_log import latest_state
from pipeline.readers import read_table
from tests.conftest import REPO, run_cli, write_parquet

TEXTS = ['Marie Curie worked in Paris with Pierre Curie.',
         'Acme Corp hired Jane Doe, who was born in Oslo.',
         'Rome is older than Berlin and Vienna.',
         'Ada Lovelace wrote notes in London.']


def job(inputs, output, model, *extra):
  return run_cli(['--input', inputs, '--output', output, '--model', model,
                  '--labels', 'person,location', '--threshold', '0.3',
                  *extra])


def job_process(inputs, output, model, *extra, crash_at=None):
  env = dict(os.environ, HF_HUB_OFFLINE='1')
  if crash_at:
    env[faults.ENV] = crash_at
  return subprocess.Popen(
      [sys.executable, '-m', 'pipeline', '--input', str(inputs), '--output',
       str(output), '--model', str(model), '--labels', 'person,location',
       '--threshold', '0.3', *extra], cwd=REPO, env=env,
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def rows(output, table, drop=('run_id',)):
  return sorted(json.dumps({k: v for k, v in r.items() if k not in drop},
                           sort_keys=True, default=str)
                for r in read_table(str(output), table).to_pylist())


def one_error_line(capsys, code_expected, rc):
  err = capsys.readouterr().err.strip().splitlines()
  err = [line for line in err if not line.startswith('gliner-beam:')]
  assert rc == code_expected, err
  assert len(err) == 1 and err[0].startswith('error: '), err
  return err[0]


def test_1_reused_run_id_is_refused_and_the_first_run_kept(
    marker_model, tmp_path, capsys):
  write_parquet(tmp_path / 'in' / 'a.parquet', {'id': ['a'],
                                                'text': TEXTS[:1]})
  out = tmp_path / 'out'
  assert job(tmp_path / 'in' / '*.parquet', out, marker_model,
             '--incremental', '--run_id', '20261203') == 0
  before = rows(out, 'documents')
  write_parquet(tmp_path / 'in' / 'b.parquet', {'id': ['b'],
                                                'text': TEXTS[1:2]})
  capsys.readouterr()
  rc = job(tmp_path / 'in' / '*.parquet', out, marker_model, '--incremental',
           '--run_id', '20261203')
  line = one_error_line(capsys, 2, rc)
  assert "'20261203' was already used" in line
  assert rows(out, 'documents') == before
  assert len(list((out / 'documents' / 'run=20261203').iterdir())) == 1


def test_2_a_second_concurrent_run_is_refused(marker_model, tmp_path,
                                              capsys):
  write_parquet(tmp_path / 'a.parquet', {'id': ['a', 'b'],
                                         'text': TEXTS[:2]})
  out = tmp_path / 'out'
  first = job_process(tmp_path / 'a.parquet', out, marker_model,
                      '--run_id', 'first')
  try:
    deadline = time.monotonic() + 120
    while not (out / lease.LEASE).exists():
      assert first.poll() is None, first.stdout.read()
      assert time.monotonic() < deadline, 'the first run took no lease'
      time.sleep(0.05)
    os.kill(first.pid, signal.SIGSTOP)  # hold it mid-run, deterministically
    capsys.readouterr()
    rc = job(tmp_path / 'a.parquet', out, marker_model, '--run_id', 'second')
    line = one_error_line(capsys, 2, rc)
    assert 'is being written by run first' in line
  finally:
    os.kill(first.pid, signal.SIGCONT)
  assert first.wait(timeout=300) == 0, first.stdout.read()
  assert latest_state(str(out)).run_ids() == ['first']
  assert not os.path.exists(commit.manifest_path(str(out), 'second'))
  # Once the first has committed, a plain second run is refused too.
  rc = job(tmp_path / 'a.parquet', out, marker_model, '--run_id', 'third')
  assert 'already holds 1 committed run' in one_error_line(capsys, 2, rc)


def _take_over(output, run_id, barrier, results):
  barrier.wait()
  try:
    lease.acquire(output, run_id)
    results.put(run_id)
  except lease.OutputLocked:
    results.put(None)


def test_2_two_runs_taking_over_one_stale_lease_one_wins(tmp_path):
  context = multiprocessing.get_context('fork')
  for round_ in range(6):
    out = str(tmp_path / f'o{round_}')
    os.makedirs(out)
    stale = lease.Lease('dead', 'elsewhere', 1, '', '2020-01-01T00:00:00+00:00',
                        '2020-01-01T01:00:00+00:00')
    with open(lease.lease_path(out), 'wb') as handle:
      handle.write(stale.to_bytes())
    barrier, results = context.Barrier(4), context.Queue()
    procs = [context.Process(target=_take_over,
                             args=(out, f'run{i}', barrier, results))
             for i in range(4)]
    for proc in procs:
      proc.start()
    won = [results.get(timeout=60) for _ in procs]
    for proc in procs:
      proc.join()
    winners = [w for w in won if w]
    assert len(winners) == 1, won
    assert lease.holder(out)[0].run_id == winners[0]


def test_3_overwrite_with_iceberg_replaces_in_one_snapshot(
    marker_model, tmp_path):
  pytest.importorskip('pyiceberg', reason='pyiceberg is not installed')
  from pipeline.iceberg_sink import IcebergTarget
  write_parquet(tmp_path / 'a.parquet', {'id': ['a', 'b'], 'text': TEXTS[:2]})
  write_parquet(tmp_path / 'b.parquet', {'id': ['c'], 'text': TEXTS[2:3]})
  out = tmp_path / 'out'
  assert job(tmp_path / 'a.parquet', out, marker_model, '--sink', 'iceberg',
             '--run_id', 'old') == 0
  old_rows = rows(out, 'documents', drop=())
  assert job(tmp_path / 'b.parquet', out, marker_model, '--sink', 'iceberg',
             '--run_id', 'new', '--overwrite') == 0
  new_rows = rows(out, 'documents', drop=())
  catalog = IcebergTarget.local(str(out), 'gliner_beam').load_catalog()
  table = catalog.load_table('gliner_beam.documents')
  snapshots = table.snapshots()
  assert [s.summary.additional_properties['gliner-beam.run-id']
          for s in snapshots] == ['old', 'new']
  as_rows = lambda t: sorted(json.dumps(r, sort_keys=True, default=str)
                             for r in t.to_pylist())
  assert as_rows(table.scan().to_arrow()) == new_rows
  # The old snapshot still reads the old run (its files are kept).
  assert as_rows(table.scan(snapshot_id=snapshots[0].snapshot_id).to_arrow(
  )) == old_rows
  manifest = commit.read_manifest(str(out), 'new')
  assert manifest['iceberg_snapshots']['documents'] == snapshots[1].snapshot_id


@pytest.mark.parametrize('signame, code', [('INT', 130), ('TERM', 143)])
def test_5_interrupt_during_the_commit_rolls_back(marker_model, tmp_path,
                                                  signame, code):
  write_parquet(tmp_path / 'a.parquet', {'id': ['a', 'b'], 'text': TEXTS[:2]})
  write_parquet(tmp_path / 'b.parquet', {'id': ['c'], 'text': TEXTS[2:3]})
  out = tmp_path / 'out'
  assert job(tmp_path / 'a.parquet', out, marker_model, '--run_id', 'r1') == 0
  before = rows(out, 'entities', drop=())
  # Interrupted as the new version is about to be created: every table
  # moved, the old files still there.
  proc = job_process(tmp_path / 'b.parquet', out, marker_model, '--run_id',
                     'r2', '--overwrite', crash_at=f'1:{signame}:/_log/')
  output = proc.communicate(timeout=300)[0]
  assert proc.returncode == code, output[-3000:]
  assert f'interrupted (SIG{signame}): run r2 rolled back' in output
  assert rows(out, 'entities', drop=()) == before
  assert commit.read_manifest(str(out), 'r2')['status'] == 'failed'
  assert not (out / '_staging').exists()
  assert not (out / 'entities' / 'run=r2').exists()
  assert lease.holder(str(out))[0] is None


def test_7_iceberg_commit_cut_off_is_completed_by_the_next_run(
    marker_model, tmp_path):
  pytest.importorskip('pyiceberg', reason='pyiceberg is not installed')
  from pipeline.iceberg_sink import IcebergTarget
  inputs = tmp_path / 'in'
  write_parquet(inputs / 'a.parquet', {'id': ['a', 'b'], 'text': TEXTS[:2]})
  out = tmp_path / 'out'
  flags = ('--sink', 'iceberg', '--incremental')
  assert job(inputs / '*.parquet', out, marker_model, *flags,
             '--run_id', 'n1') == 0
  write_parquet(inputs / 'b.parquet', {'id': ['c', 'd'], 'text': TEXTS[2:]})
  # Killed right after its commit point, before the Iceberg sync.
  proc = job_process(inputs / '*.parquet', out, marker_model, *flags,
                     '--run_id', 'n2', crash_at='2:KILL:/_log/')
  output = proc.communicate(timeout=300)[0]
  assert proc.returncode == -signal.SIGKILL, output[-3000:]
  assert latest_state(str(out)).run_ids() == ['n1', 'n2']
  catalog = IcebergTarget.local(str(out), 'gliner_beam').load_catalog()
  documents = catalog.load_table('gliner_beam.documents')
  assert documents.scan().to_arrow().num_rows == 2  # the sync was cut off
  assert job(inputs / '*.parquet', out, marker_model, *flags,
             '--run_id', 'n3') == 0
  assert commit.read_manifest(str(out), 'n3')['skipped'] == 4
  assert commit.read_manifest(str(out), 'n2')['status'] == 'committed'
  got = documents.refresh().scan().to_arrow()
  assert sorted(got.column('doc_id').to_pylist()) == ['a', 'b', 'c', 'd']
  assert rows(out, 'entities', drop=()) == sorted(
      json.dumps(r, sort_keys=True, default=str) for r in catalog.load_table(
          'gliner_beam.entities').scan().to_arrow().to_pylist())


def test_8_a_text_that_returns_is_enriched_again(marker_model, tmp_path):
  out = tmp_path / 'out'
  source = tmp_path / 'a.parquet'
  for run_id, text in (('n1', TEXTS[0]), ('n2', TEXTS[3]), ('n3', TEXTS[0])):
    write_parquet(source, {'id': ['doc'], 'text': [text]})
    assert job(source, out, marker_model, '--incremental',
               '--run_id', run_id) == 0
    assert commit.read_manifest(str(out), run_id)['skipped'] == 0, run_id
  # A fourth run with the same text skips it.
  assert job(source, out, marker_model, '--incremental', '--run_id',
             'n4') == 0
  assert commit.read_manifest(str(out), 'n4')['skipped'] == 1
  latest = [e for e in read_table(str(out), 'entities').to_pylist()
            if e['run_id'] == 'n3']
  assert latest and all(TEXTS[0][e['start']:e['end']] == e['text']
                        for e in latest)


def test_8_a_threshold_that_returns_is_enriched_again(marker_model, tmp_path):
  out = tmp_path / 'out'
  write_parquet(tmp_path / 'a.parquet', {'id': ['doc'], 'text': TEXTS[:1]})
  for run_id, threshold in (('t1', '0.5'), ('t2', '0.6'), ('t3', '0.5')):
    assert run_cli(['--input', tmp_path / 'a.parquet', '--output', out,
                    '--model', marker_model, '--labels', 'person',
                    '--threshold', threshold, '--incremental',
                    '--run_id', run_id]) == 0
    assert commit.read_manifest(str(out), run_id)['skipped'] == 0, run_id


def test_9_same_documents_in_a_new_file_skip_by_id(marker_model, tmp_path):
  out = tmp_path / 'out'
  write_parquet(tmp_path / 'day1' / 'snapshot.parquet',
                {'id': ['a', 'b'], 'text': TEXTS[:2]})
  write_parquet(tmp_path / 'day2' / 'snapshot-2.parquet',
                {'id': ['b', 'a', 'c'], 'text': [TEXTS[1], TEXTS[0],
                                                 TEXTS[2]]})
  assert job(tmp_path / 'day1' / '*.parquet', out, marker_model,
             '--incremental', '--run_id', 'd1') == 0
  assert job(tmp_path / 'day2' / '*.parquet', out, marker_model,
             '--incremental', '--run_id', 'd2') == 0
  assert commit.read_manifest(str(out), 'd2')['skipped'] == 2
  assert commit.read_manifest(str(out), 'd2')['incremental_key'] == 'id'
  docs = read_table(str(out), 'documents').to_pylist()
  assert sorted(d['doc_id'] for d in docs if d['run_id'] == 'd2') == ['c']
  # Keyed on the input row instead, a renamed file is all new.
  assert job(tmp_path / 'day2' / '*.parquet', tmp_path / 'by-source',
             marker_model, '--incremental', '--incremental_key', 'source',
             '--run_id', 's1') == 0
  write_parquet(tmp_path / 'day3' / 'renamed.parquet',
                {'id': ['b', 'a', 'c'], 'text': [TEXTS[1], TEXTS[0],
                                                 TEXTS[2]]})
  assert job(tmp_path / 'day3' / '*.parquet', tmp_path / 'by-source',
             marker_model, '--incremental', '--incremental_key', 'source',
             '--run_id', 's2') == 0
  assert commit.read_manifest(str(tmp_path / 'by-source'), 's2')[
      'skipped'] == 0


def test_10_manifest_updates_are_atomic(tmp_path):
  """The manifest is replaced in one rename (no delete first): a reader
  finds the old or the new one at every moment, and a kill leaves no
  temporary file behind."""
  out = str(tmp_path)
  manifest = commit.RunManifest('r', 'running', 'm', 'c', {})
  commit.start_manifest(out, manifest)
  with pytest.raises(commit.RunIdTaken):
    commit.start_manifest(out, manifest)
  path = commit.manifest_path(out, 'r')
  inode = os.stat(path).st_ino
  manifest.status = 'committed'
  commit.write_manifest(out, manifest)
  assert commit.read_manifest(out, 'r')['status'] == 'committed'
  assert os.stat(path).st_ino != inode  # a new file renamed over the old
  assert sorted(os.listdir(tmp_path / '_runs')) == ['r.json']


def test_11_output_naming_a_file_is_one_line_exit_2(marker_model, tmp_path,
                                                    capsys):
  write_parquet(tmp_path / 'a.parquet', {'id': ['a'], 'text': TEXTS[:1]})
  (tmp_path / 'file').write_text('x')
  rc = job(tmp_path / 'a.parquet', tmp_path / 'file', marker_model)
  assert 'is a file' in one_error_line(capsys, 2, rc)


def test_12_unquoted_glob_is_refused(marker_model, tmp_path, capsys):
  for name in ('a', 'b', 'c'):
    write_parquet(tmp_path / f'{name}.parquet', {'id': [name],
                                                 'text': TEXTS[:1]})
  # What the shell passes for an unquoted `--input tmp/*.parquet`.
  rc = job(tmp_path / 'a.parquet', tmp_path / 'out', marker_model,
           tmp_path / 'b.parquet', tmp_path / 'c.parquet')
  line = one_error_line(capsys, 2, rc)
  assert 'unexpected argument (2 in all' in line and 'quoted' in line
  assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('run_id', ['../escape', 'a/b', '', '-x'])
def test_hostile_run_ids_are_refused(marker_model, tmp_path, capsys, run_id):
  write_parquet(tmp_path / 'a.parquet', {'id': ['a'], 'text': TEXTS[:1]})
  rc = job(tmp_path / 'a.parquet', tmp_path / 'out', marker_model,
           f'--run_id={run_id}')
  assert '--run_id' in one_error_line(capsys, 2, rc)
  assert not (tmp_path / 'escape').exists()


def test_an_output_of_an_older_layout_needs_overwrite(marker_model, tmp_path,
                                                      capsys):
  write_parquet(tmp_path / 'a.parquet', {'id': ['a'], 'text': TEXTS[:1]})
  out = tmp_path / 'out'
  write_parquet(out / 'entities' / 'part-00000-of-00001.parquet',
                {'doc_id': ['old']})
  rc = job(tmp_path / 'a.parquet', out, marker_model, '--incremental')
  assert 'no commit log covers' in one_error_line(capsys, 2, rc)
  assert job(tmp_path / 'a.parquet', out, marker_model, '--overwrite') == 0
  assert not (out / 'entities' / 'part-00000-of-00001.parquet').exists()
  assert pq.read_table(latest_state(str(out)).paths(str(out), 'documents')[
      0]).num_rows == 1


def test_an_output_of_the_older_layout_is_adopted(marker_model, tmp_path,
                                                  capsys):
  """Outputs written before the commit log: `pipeline.recover --adopt`
  makes their committed runs version 1, and incremental runs go on."""
  import shutil
  from pipeline import recover
  inputs = tmp_path / 'in'
  write_parquet(inputs / 'a.parquet', {'id': ['a', 'b'], 'text': TEXTS[:2]})
  out = tmp_path / 'out'
  assert job(inputs / '*.parquet', out, marker_model, '--run_id', 'r0') == 0
  write_parquet(inputs / 'b.parquet', {'id': ['c'], 'text': TEXTS[2:3]})
  assert job(inputs / '*.parquet', out, marker_model, '--incremental',
             '--run_id', 'n1') == 0
  expected = rows(out, 'entities', drop=())
  # The older layout: a plain run's files flat in the table directory,
  # incremental runs in run=<id>/, no commit log.
  for table in ('entities', 'documents', 'dead_letter', 'entity_index'):
    for path in (out / table / 'run=r0').iterdir():
      path.rename(out / table / path.name)
    (out / table / 'run=r0').rmdir()
  for name in ('r0', 'n1'):
    manifest = commit.read_manifest(str(out), name)
    manifest['incremental'] = name == 'n1'
    (out / '_runs' / f'{name}.json').write_text(json.dumps(manifest))
  shutil.rmtree(out / '_log')
  capsys.readouterr()
  rc = job(inputs / '*.parquet', out, marker_model, '--incremental',
           '--run_id', 'n2')
  assert 'no commit log covers' in one_error_line(capsys, 2, rc)
  assert recover.main([str(out), '--adopt']) == 0
  assert 'adopted 2 committed run(s)' in capsys.readouterr().out
  assert rows(out, 'entities', drop=()) == expected
  assert job(inputs / '*.parquet', out, marker_model, '--incremental',
             '--run_id', 'n3') == 0
  assert commit.read_manifest(str(out), 'n3')['skipped'] == 3
  assert recover.main([str(out), '--adopt']) == 2  # a log exists now


def test_only_overwrite_removes_files_the_log_does_not_know(marker_model,
                                                            tmp_path):
  """A streaming job's window file in a batch output: incremental runs
  and recoveries leave it alone; --overwrite replaces it, after its commit."""
  write_parquet(tmp_path / 'a.parquet', {'id': ['a'], 'text': TEXTS[:1]})
  out = tmp_path / 'out'
  assert job(tmp_path / 'a.parquet', out, marker_model, '--incremental',
             '--run_id', 'n1') == 0
  window_file = out / 'entities' / 'entities-20261203T000000-pane000.parquet'
  write_parquet(window_file, {'doc_id': ['streamed']})
  assert job(tmp_path / 'a.parquet', out, marker_model, '--incremental',
             '--run_id', 'n2') == 0
  assert window_file.exists()
  assert job(tmp_path / 'a.parquet', out, marker_model, '--overwrite',
             '--run_id', 'o1') == 0
  assert not window_file.exists()
  assert sorted(p.name for p in (out / 'entities').iterdir()) == ['run=o1']


def test_streaming_restart_with_a_used_run_id_is_refused(marker_model,
                                                         tmp_path, capsys):
  """Window files carry the run id; a restart reusing it would replace the
  earlier run's files of the same windows (issue 19's restart case)."""
  out = tmp_path / 'out'
  earlier = (out / 'entities' / 'entities-20261203T000000-20261203T000100-'
             'pane000-shard000of001-s1.parquet')
  write_parquet(earlier, {'doc_id': ['x']})
  argv = ['--streaming', '--input_subscription',
          'projects/test-project/subscriptions/docs', '--output', out,
          '--model', marker_model, '--labels', 'person']
  rc = run_cli(argv + ['--run_id', 's1'])
  assert "'s1' already wrote 1 window file(s)" in one_error_line(capsys, 2, rc)
  assert earlier.exists()
  from pipeline.run import parse
  config, _ = parse([str(a) for a in argv + ['--run_id', 's2']])
  assert config.run_id == 's2'  # another id starts


def test_streaming_run_id_claim_is_create_only(tmp_path):
  """Two streaming jobs started with one run id at the same moment both pass
  the start-up check; only one gets the claim, so window files (named by the
  run id) are never shared or replaced across runs."""
  output = str(tmp_path / 'stream')
  pool = multiprocessing.get_context('fork').Pool(4)
  try:
    outcomes = pool.map(_claim, [(output, i) for i in range(4)])
  finally:
    pool.close()
    pool.join()
  assert sorted(outcomes) == ['RunIdTaken'] * 3 + ['claimed']
  claim = json.loads(open(commit.stream_claim_path(output, 'r1')).read())
  assert claim['run_id'] == 'r1' and claim['started']
  with pytest.raises(commit.RunIdTaken, match='already used'):
    commit.claim_stream_run(output, 'r1', {'run_id': 'r1'})
  commit.claim_stream_run(output, 'r2', {'run_id': 'r2'})  # another id: fine


def _claim(args):
  output, worker = args
  try:
    commit.claim_stream_run(output, 'r1', {'run_id': 'r1', 'worker': worker})
    return 'claimed'
  except commit.RunIdTaken:
    return 'RunIdTaken'
