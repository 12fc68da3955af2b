"""The commit protocol under the faults operators meet (pipeline.commit).

The crash harness interrupts a real run's commit at *every* crash point --
before and after each file operation (pipeline.faults) -- with SIGKILL (an
OOM kill, a preempted VM) and SIGINT (Ctrl-C), for an --overwrite run and an
--incremental one. The staged run is real: the job itself, killed with
SIGKILL as its commit step starts. Each interrupted commit runs in a forked
child, as the job's commit step does (SIGINT handled by the job's own
handler, pipeline.commit.abandon); after each one the harness checks that
readers see the previous state or the new one (never a mix, never a missing
file), then runs `python -m pipeline.recover`'s code and checks the rows
equal a clean run's, nothing stray is left and the output is free for the
next run. Real Parquet, real tiny GLiNER model, FnApiRunner, local disk.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import commit, faults, lease
from pipeline.config import all_table_names
from pipeline.table_log import latest_state
from tests.conftest import REPO, run_cli, write_parquet

TEXTS = ['Marie Curie worked in Paris with Pierre Curie.',
         'Acme Corp hired Jane Doe, who was born in Oslo.',
         'Rome is older than Berlin and Vienna.',
         'Ada Lovelace wrote notes in London.']
TABLES = ('entities', 'documents', 'dead_letter', 'entity_index')


def job_argv(inputs, output, model, run_id, *extra):
  # One torch thread named explicitly: the clean run is in this process,
  # whose thread count an earlier test may have changed (calibrate's
  # --threads 1), the killed run a fresh subprocess; other thread counts sum
  # in another order and the committed rows' scores differ in the 7th digit.
  return ['--input', str(inputs), '--output', str(output), '--model',
          str(model), '--labels', 'person,location', '--threshold', '0.3',
          '--torch_threads', '1', '--run_id', run_id, *extra]


def run_killed(argv, crash_at: str, tmp_path: Path) -> int:
  """The job as a subprocess, killed by itself at a crash point."""
  env = dict(os.environ, **{faults.ENV: crash_at, 'HF_HUB_OFFLINE': '1'})
  proc = subprocess.run([sys.executable, '-m', 'pipeline', *argv], cwd=REPO,
                        env=env, capture_output=True, text=True, timeout=300)
  (tmp_path / 'killed.log').write_text(proc.stdout + proc.stderr)
  return proc.returncode


def committed_rows(output: Path) -> dict:
  """table -> sorted rows, read through the commit log; every file the
  state references must exist."""
  state = latest_state(str(output))
  rows = {}
  for table in TABLES:
    files = state.paths(str(output), table)
    for path in files:
      assert os.path.exists(path), f'committed file missing: {path}'
    parts = [pq.read_table(f) for f in files]
    rows[table] = sorted(json.dumps(r, sort_keys=True, default=str)
                         for t in parts for r in t.to_pylist())
  return rows


def stray_files(output: Path) -> list:
  live = set(latest_state(str(output)).relative_paths())
  found = []
  for table in all_table_names():
    for path in (output / table).rglob('*') if (output / table).exists() \
        else []:
      if path.is_file() and str(path.relative_to(output)) not in live:
        found.append(str(path.relative_to(output)))
  return found


class Scenario:
  """A previous committed state, the same second run killed as its commit
  step starts (the harness's starting point) and committed cleanly."""

  def __init__(self, root: Path, model: Path, mode: str):
    self.mode = mode
    inputs = root / 'in'
    write_parquet(inputs / 'a.parquet', {'id': ['a0', 'a1'],
                                         'text': TEXTS[:2]})
    first = root / 'first'
    assert run_cli(job_argv(inputs / '*.parquet', first, model, 'r1',
                            *self.flags())) == 0
    # The corpus changes: a new file, one changed row.
    write_parquet(inputs / 'a.parquet', {'id': ['a0', 'a1'],
                                         'text': [TEXTS[0], TEXTS[2]]})
    write_parquet(inputs / 'b.parquet', {'id': ['b0'], 'text': [TEXTS[3]]})
    argv = job_argv(inputs / '*.parquet', '{out}', model, 'r2', *self.flags())
    self.clean = root / 'clean'
    shutil.copytree(first, self.clean)
    assert run_cli([a.replace('{out}', str(self.clean)) for a in argv]) == 0
    self.template = root / 'template'
    shutil.copytree(first, self.template)
    rc = run_killed([a.replace('{out}', str(self.template)) for a in argv],
                    '1:KILL:_ready.json', root)
    assert rc == -signal.SIGKILL, (root / 'killed.log').read_text()[-2000:]
    self.previous = committed_rows(first)
    self.new = committed_rows(self.clean)
    self.clean_manifest = commit.read_manifest(str(self.clean), 'r2')
    assert self.previous != self.new

  def flags(self):
    return ['--overwrite'] if self.mode == 'overwrite' else ['--incremental']

  def copy(self, into: Path) -> Path:
    if into.exists():
      shutil.rmtree(into)
    shutil.copytree(self.template, into)
    return into


def commit_in_child(output: Path, scenario: Scenario, at, signum,
                    trace_file: Path = None) -> int:
  """Run r2's commit step (what CommitRunFn does) in a forked child, armed
  to signal itself at crash point `at`; -> the child's wait status."""
  pid = os.fork()
  if pid == 0:  # the child: never returns into pytest
    code = 0
    # The child stands in for a fresh job process: Python's own Ctrl-C
    # handler, nothing blocked -- whatever an earlier test left in this
    # process (a full-suite run once left SIGINT unhandled here).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    try:
      lease.acquire(str(output), 'r2')  # the killed launcher's stale lease
      trace = [] if trace_file else None
      faults.arm(at, signum, trace)
      manifest = commit.RunManifest.from_dict(
          commit.read_manifest(str(output), 'r2'))
      try:
        commit.commit_run(str(output), manifest, list(TABLES),
                          scenario.clean_manifest['skipped'], None, None,
                          all_table_names())
        lease.release(str(output), 'r2')
      except BaseException as exc:  # the job's handler: roll back
        faults.arm(None)
        commit.abandon(str(output), 'r2', exc, all_table_names())
        code = 3
      if trace_file:
        trace_file.write_text(json.dumps(trace))
    except BaseException:  # pylint: disable=broad-except
      code = 4
    os._exit(code)  # pylint: disable=protected-access
  _, status = os.waitpid(pid, 0)
  return status


@pytest.fixture(scope='module', params=['overwrite', 'incremental'])
def scenario(request, marker_model, tmp_path_factory):
  return Scenario(tmp_path_factory.mktemp(request.param), marker_model,
                  request.param)


def test_every_crash_point_of_the_commit(scenario, tmp_path):
  # Count the points on a clean commit (and check that one is right).
  out = scenario.copy(tmp_path / 'count')
  trace_file = tmp_path / 'trace.json'
  assert os.waitstatus_to_exitcode(
      commit_in_child(out, scenario, None, signal.SIGKILL, trace_file)) == 0
  labels = json.loads(trace_file.read_text())
  assert committed_rows(out) == scenario.new
  assert not stray_files(out) and not (out / '_staging').exists()
  ready_at = next(i for i, label in enumerate(labels, 1)
                  if label.startswith('put done') and '_ready.json' in label)
  publish_at = next(i for i, label in enumerate(labels, 1)
                    if label.startswith('create done') and '/_log/' in label)
  assert 1 < ready_at < publish_at < len(labels)
  print(f'{scenario.mode}: {len(labels)} crash points x 2 signals')

  for at in range(1, len(labels) + 1):
    for signum in (signal.SIGKILL, signal.SIGINT):
      where = f'{signal.Signals(signum).name} at point {at} ({labels[at - 1]})'
      out = scenario.copy(tmp_path / 'run')
      status = commit_in_child(out, scenario, at, signum)
      if signum == signal.SIGKILL:
        assert os.WIFSIGNALED(status), where
      else:
        assert os.waitstatus_to_exitcode(status) == 3, where
      published = at >= publish_at
      # Readers see exactly the previous or the new state.
      assert committed_rows(out) == (
          scenario.new if published else scenario.previous), where
      # The next run (here: the recovery it starts with) cleans up.
      from pipeline import recover
      assert recover.main([str(out)]) == 0, where
      finished = published or (signum == signal.SIGKILL and at >= ready_at)
      assert committed_rows(out) == (
          scenario.new if finished else scenario.previous), where
      assert not stray_files(out), where
      assert not (out / '_staging').exists(), where
      assert lease.holder(str(out))[0] is None, where
      manifest = commit.read_manifest(str(out), 'r2')
      if finished:
        assert manifest['status'] == 'committed', where
        assert manifest['tables'] == scenario.clean_manifest['tables'], where
      else:
        assert manifest['status'] == 'failed' and manifest['error'], where
      leftovers = [p.name for p in (out / '_runs').iterdir()
                   if p.name.startswith('.')]
      assert not leftovers, where


def test_next_real_run_after_a_kill_before_the_commit(scenario, marker_model,
                                                      tmp_path):
  """Killed before its commit intent: the next run discards it, enriches
  its rows itself (incremental: nothing was skipped for the killed run)."""
  out = scenario.copy(tmp_path / 'o')
  inputs = scenario.template.parent / 'in' / '*.parquet'
  assert run_cli(job_argv(inputs, out, marker_model, 'r3',
                          *scenario.flags())) == 0
  manifest = commit.read_manifest(str(out), 'r3')
  assert commit.read_manifest(str(out), 'r2')['status'] == 'failed'
  assert manifest['status'] == 'committed'
  assert manifest['skipped'] == scenario.clean_manifest['skipped']
  strip = lambda rows: sorted(r.replace('"r3"', '"r2"') for r in rows)
  got = committed_rows(out)
  assert {t: strip(got[t]) for t in TABLES} == scenario.new
  assert not stray_files(out)


def test_a_commit_whose_base_moved_is_refused(scenario, tmp_path):
  """A run that lost its lease (expired) while another committed: its
  commit step refuses to publish over the other run's version."""
  out = scenario.copy(tmp_path / 'o')
  state = latest_state(str(out))
  # Another writer commits a version on top (here: an empty overwrite).
  other = commit.next_state(state, {
      'run_id': 'other', 'operation': 'append', 'model_id': 'm',
      'config_hash': 'c', 'incremental_key': None, 'skipped': 0,
      'files': {}, 'iceberg': None})
  from pipeline.table_log import publish
  assert publish(str(out), other)
  assert not publish(str(out), other)  # create-only: a version is written once
  lease.acquire(str(out), 'r2')
  manifest = commit.RunManifest.from_dict(commit.read_manifest(str(out), 'r2'))
  with pytest.raises(commit.CommitConflict, match='was committed since'):
    commit.commit_run(str(out), manifest, list(TABLES))
  assert committed_rows(out) == scenario.previous


def test_a_run_without_the_lease_does_not_commit(scenario, tmp_path):
  out = scenario.copy(tmp_path / 'o')
  lease.acquire(str(out), 'someone-else')
  manifest = commit.RunManifest.from_dict(commit.read_manifest(str(out), 'r2'))
  with pytest.raises(lease.LeaseLost, match='no longer holds'):
    commit.commit_run(str(out), manifest, list(TABLES))
  assert committed_rows(out) == scenario.previous
  assert pa.__version__  # pyarrow read the files above


def gcs_rows(output: str) -> dict:
  """committed_rows for gs:// outputs (every referenced object exists)."""
  from pipeline.objectstore import store_for
  store, state, rows = store_for(output), latest_state(output), {}
  for table in TABLES:
    parts = []
    for path in state.paths(output, table):
      data = store.read(path)
      assert data is not None, f'committed object missing: {path}'
      parts.append(pq.read_table(pa.BufferReader(data)))
    rows[table] = sorted(json.dumps(r, sort_keys=True, default=str)
                         for t in parts for r in t.to_pylist())
  return rows


@pytest.mark.parametrize('scenario', ['overwrite'], indirect=True)
def test_every_crash_point_on_gcs(scenario, tmp_path):
  """The same harness on gs:// (the GCS emulator, with the generation
  preconditions real GCS enforces), SIGKILL at every point of an
  --overwrite commit: there a move is a create-only copy and a delete, so a
  kill between the two must be finished, not repeated or lost."""
  pytest.importorskip('gcp_storage_emulator',
                      reason='gcp-storage-emulator is not installed')
  from bench.gcs_emulator import gcs_emulator
  from pipeline import objectstore, recover
  with gcs_emulator('harness'):
    store = objectstore.store_for('gs://harness/x')
    template = 'gs://harness/template'
    for path in sorted(scenario.template.rglob('*')):
      if path.is_file():
        store.put(f'{template}/{path.relative_to(scenario.template)}',
                  path.read_bytes())

    def fresh(name):
      for path in store.list(template):
        store.put(f'gs://harness/{name}' + path[len(template):],
                  store.read(path))
      return f'gs://harness/{name}'

    def child_commit(output, at, trace_file=None):
      pid = os.fork()
      if pid == 0:
        code = 0
        try:
          objectstore._GCS._client = None  # no connection shared with pytest
          lease.acquire(output, 'r2')
          trace = [] if trace_file else None
          faults.arm(at, signal.SIGKILL, trace)
          manifest = commit.RunManifest.from_dict(
              commit.read_manifest(output, 'r2'))
          commit.commit_run(output, manifest, list(TABLES),
                            scenario.clean_manifest['skipped'], None, None,
                            all_table_names())
          lease.release(output, 'r2')
          if trace_file:
            trace_file.write_text(json.dumps(trace))
        except BaseException:  # pylint: disable=broad-except
          code = 4
        os._exit(code)  # pylint: disable=protected-access
      return os.waitpid(pid, 0)[1]

    trace_file = tmp_path / 'trace.json'
    out = fresh('count')
    assert os.waitstatus_to_exitcode(child_commit(out, None, trace_file)) == 0
    assert gcs_rows(out) == scenario.new
    labels = json.loads(trace_file.read_text())
    ready_at = next(i for i, label in enumerate(labels, 1)
                    if label.startswith('put done') and '_ready.json' in label)
    publish_at = next(i for i, label in enumerate(labels, 1)
                      if label.startswith('create done') and '/_log/' in label)
    print(f'gcs overwrite: {len(labels)} crash points (SIGKILL)')
    for at in range(1, len(labels) + 1):
      where = f'SIGKILL at point {at} ({labels[at - 1]})'
      out = fresh(f'run{at}')
      assert os.WIFSIGNALED(child_commit(out, at)), where
      assert gcs_rows(out) == (scenario.new if at >= publish_at else
                               scenario.previous), where
      objectstore._GCS._client = None
      assert recover.main([out]) == 0, where
      assert gcs_rows(out) == (scenario.new if at >= ready_at else
                               scenario.previous), where
      live = set(latest_state(out).relative_paths())
      left = [p for p in store.list(out) if '/run=' in p and
              p[len(out) + 1:] not in live]
      assert not left, where
      assert not store.list(f'{out}/_staging'), where
      assert lease.holder(out)[0] is None, where
