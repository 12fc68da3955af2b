"""The batch job on portable runners, SDK harnesses in separate processes.

Locally, the closest stand-in for Flink and Dataflow Runner v2 is
PortableRunner against Beam's pure-Python job service (`--job_endpoint=embed`)
with the SDK harness in another process: the subprocess harness
(`beam:env:harness_subprocess_python:v1`) and an EXTERNAL worker pool
(`worker_pool_main`). Everything the job ships to its workers (DoFns, the
model handler, coders, the Parquet sinks) then crosses a process boundary the
in-process FnApiRunner never tests. Each run's tables must equal the
FnApiRunner run of the same input and `--run_id`.

FlinkRunner and PrismRunner need a job-server jar / prism binary that cannot
be downloaded here: they run when GLINER_BEAM_FLINK_JOB_SERVER_JAR /
GLINER_BEAM_PRISM_BINARY point to one, and are skipped otherwise.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from tests.conftest import read_table, run_cli, write_parquet

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
RUN_ID = 'portable-test'
TABLES = ('entities', 'documents', 'dead_letter')
PORTABLE_TIMEOUT_S = 100
FLINK_TIMEOUT_S = 300
FLINK_JAR_ENV = 'GLINER_BEAM_FLINK_JOB_SERVER_JAR'
PRISM_ENV = 'GLINER_BEAM_PRISM_BINARY'

TEXTS = [
    'Barack Obama met Angela Merkel in Berlin on Tuesday.',
    'The river Thames flows through London, where Acme Corp has offices.',
    None,  # dead letter: null text
    'Tokyo is larger than Osaka.',
    # Longer than the tiny model's 64 words: several windows, merged.
    ' '.join(['The delegation travelled from Lisbon to Madrid and then to '
              'Paris, where the talks with officials from Rome continued.'] * 6),
    '',  # dead letter: empty text
]


def job_env() -> Dict[str, str]:
  env = dict(os.environ)
  env.update(HF_HUB_OFFLINE='1', TOKENIZERS_PARALLELISM='false',
             PYTHONUNBUFFERED='1')
  # Harnesses started as `python -m ...` must find this venv's python.
  env['PATH'] = f'{VENV_BIN}{os.pathsep}{env.get("PATH", "")}'
  return env


@pytest.fixture(scope='module')
def job_input(tmp_path_factory) -> Path:
  root = tmp_path_factory.mktemp('portable_in')
  half = len(TEXTS) // 2
  for i, part in enumerate((TEXTS[:half], TEXTS[half:])):
    ids = [f'doc-{i}-{j}' for j in range(len(part))]
    write_parquet(root / f'docs-{i}.parquet', {'id': ids, 'text': part})
  return root


def job_args(job_input: Path, output: Path, model: Path) -> List[str]:
  return [
      '--input', str(job_input / '*.parquet'), '--output', str(output),
      '--model', str(model), '--labels', 'location', '--threshold', '0.3',
      '--run_id', RUN_ID
  ]


@pytest.fixture(scope='module')
def reference(job_input, marker_model, tmp_path_factory) -> Path:
  """The same job on the in-process FnApiRunner."""
  output = tmp_path_factory.mktemp('portable_ref') / 'out'
  assert run_cli(job_args(job_input, output, marker_model)) == 0
  return output


def rows(output: Path, table: str) -> List[dict]:
  records = read_table(output, table).to_pylist()
  for record in records:
    record.pop('run_id', None)
  return sorted(records, key=lambda r: repr(
      sorted((k, v) for k, v in r.items() if not isinstance(v, float))))


def assert_same_tables(output: Path, reference: Path) -> None:
  for table in TABLES:
    got, expected = rows(output, table), rows(reference, table)
    assert expected, f'reference {table} table is empty: nothing compared'
    assert len(got) == len(expected), table
    for mine, ref in zip(got, expected):
      assert mine.keys() == ref.keys(), table
      for key, value in ref.items():
        if isinstance(value, float):
          assert math.isclose(mine[key], value, abs_tol=1e-5), (table, key)
        else:
          assert mine[key] == value, (table, key, mine, ref)
  for table in TABLES:  # the portable run stamped the same run id
    assert set(read_table(output, table).column('run_id').to_pylist()) == {
        RUN_ID}


def run_job(argv: List[str], timeout: float, cwd: Path = REPO) -> int:
  """`python -m pipeline ARGV` in its own process group, killed on timeout;
  returns the job process's pid."""
  proc = subprocess.Popen([sys.executable, '-m', 'pipeline', *argv],
                          cwd=cwd, env=job_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True,
                          start_new_session=True)
  try:
    out, _ = proc.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    os.killpg(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate()
    pytest.fail(f'the job did not finish in {timeout} s; output tail:\n'
                f'{out[-3000:]}')
  assert proc.returncode == 0, f'exit {proc.returncode}; output tail:\n' \
      f'{out[-3000:]}'
  return proc.pid


def free_port() -> int:
  with socket.socket() as sock:
    sock.bind(('localhost', 0))
    return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if proc.poll() is not None:
      pytest.fail(f'worker pool exited with {proc.returncode}')
    with socket.socket() as sock:
      if sock.connect_ex(('localhost', port)) == 0:
        return
    time.sleep(0.2)
  pytest.fail(f'worker pool not listening on {port} after {timeout} s')


def test_portable_runner_subprocess_harness(job_input, marker_model, reference,
                                            tmp_path):
  # A wrapper around the harness's entry point records each harness pid.
  pids = tmp_path / 'harness_pids'
  wrapper = tmp_path / 'harness.py'
  wrapper.write_text(
      'import os, runpy\n'
      f'with open({str(pids)!r}, "a") as f:\n'
      '  f.write(f"{os.getpid()}\\n")\n'
      'runpy.run_module("apache_beam.runners.worker.sdk_worker_main", '
      'run_name="__main__", alter_sys=True)\n')
  started = time.monotonic()
  launcher = run_job(job_args(job_input, tmp_path / 'out', marker_model) + [
      '--runner=PortableRunner', '--job_endpoint=embed',
      '--environment_type=beam:env:harness_subprocess_python:v1',
      f'--environment_config={sys.executable} {wrapper}'
  ], timeout=PORTABLE_TIMEOUT_S)
  elapsed = time.monotonic() - started
  harnesses = {int(p) for p in pids.read_text().split()}
  assert harnesses, 'no SDK harness process was started'
  assert launcher not in harnesses and os.getpid() not in harnesses
  assert_same_tables(tmp_path / 'out', reference)
  print(f'PortableRunner + subprocess harness: {elapsed:.1f} s, '
        f'{len(harnesses)} harness process(es)')


def test_portable_runner_external_worker_pool(job_input, marker_model,
                                              reference, tmp_path):
  port = free_port()
  # Started elsewhere than the repository: the pool's harnesses import the
  # job from the installed package, as on a Flink TaskManager.
  pool = subprocess.Popen(
      [sys.executable, '-m', 'apache_beam.runners.worker.worker_pool_main',
       f'--service_port={port}'],
      cwd=tmp_path, env=job_env(), stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL, start_new_session=True)
  try:
    wait_for_port(port, pool, timeout=30)
    run_job(job_args(job_input, tmp_path / 'out', marker_model) + [
        '--runner=PortableRunner', '--job_endpoint=embed',
        '--environment_type=EXTERNAL', f'--environment_config=localhost:{port}'
    ], timeout=PORTABLE_TIMEOUT_S, cwd=tmp_path)
  finally:
    os.killpg(pool.pid, signal.SIGKILL)
    pool.wait(timeout=10)
  assert_same_tables(tmp_path / 'out', reference)


def _flink_version(jar: Path) -> Optional[str]:
  match = re.search(r'flink-(\d+\.\d+)-job-server', jar.name)
  return match.group(1) if match else None


def test_flink_runner(job_input, marker_model, reference, tmp_path):
  jar = os.environ.get(FLINK_JAR_ENV)
  if not jar:
    pytest.skip(f'{FLINK_JAR_ENV} is not set (path to a Beam 2.77 Flink '
                'job-server jar, e.g. beam-runners-flink-1.20-job-server-'
                '2.77.0.jar); it cannot be downloaded here')
  if not Path(jar).is_file():
    pytest.fail(f'{FLINK_JAR_ENV}={jar} is not a file')
  if shutil.which('java') is None:
    pytest.skip('java is not installed (the Flink job server is Java)')
  argv = job_args(job_input, tmp_path / 'out', marker_model) + [
      '--runner=FlinkRunner', '--flink_master=[local]',
      f'--flink_job_server_jar={jar}', '--environment_type=LOOPBACK',
      '--parallelism=2'
  ]
  version = _flink_version(Path(jar))
  if version:
    argv.append(f'--flink_version={version}')
  run_job(argv, timeout=FLINK_TIMEOUT_S)
  assert_same_tables(tmp_path / 'out', reference)


def test_prism_runner(job_input, marker_model, reference, tmp_path):
  binary = os.environ.get(PRISM_ENV)
  if not binary:
    pytest.skip(f'{PRISM_ENV} is not set (path to a prism binary or its zip '
                'for Beam 2.77); it cannot be downloaded here')
  if not Path(binary).is_file():
    pytest.fail(f'{PRISM_ENV}={binary} is not a file')
  run_job(job_args(job_input, tmp_path / 'out', marker_model) + [
      '--runner=PrismRunner', f'--prism_location={binary}',
      '--environment_type=LOOPBACK'
  ], timeout=PORTABLE_TIMEOUT_S)
  assert_same_tables(tmp_path / 'out', reference)
