"""What the commit protocol costs, local and on gs://, by number of files.

    python -m bench.commit_cost                 # local disk + GCS emulator
    python -m bench.commit_cost --files 8 --reps 1   # quick

A run's commit moves each staged file once (GCS: a copy and a delete),
writes the intent, one log version and the manifest, and deletes what the
new state no longer references. This times pipeline.commit.commit_run on
real Parquet files (`--tables` tables x `--files` files of `--rows` rows)
for an incremental run (adds) and an --overwrite run (adds, then deletes
the previous run's files), and prints milliseconds per run and per file.
The GCS numbers come from the in-process emulator (pure Python, loopback),
so they show the protocol's request count, not GCS latency: multiply the
requests by your bucket's latency for a real estimate.
"""
from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from typing import Dict, List

import pyarrow as pa
import pyarrow.parquet as pq


def parquet_bytes(rows: int) -> bytes:
  buffer = io.BytesIO()
  pq.write_table(pa.table({'doc_id': [f'd{i}' for i in range(rows)],
                           'text': ['x' * 40] * rows}), buffer)
  return buffer.getvalue()


def stage_run(output: str, run_id: str, tables: int, files: int,
              data: bytes, base_version: int, operation: str):
  """Staged files and a running manifest, as the pipeline leaves them."""
  from pipeline import commit, lease
  from pipeline.objectstore import join, store_for
  store = store_for(output)
  names = [f't{t}' for t in range(tables)]
  for table in names:
    for f in range(files):
      store.put(join(commit.staging_root(output, run_id), table,
                     f'part-{f:05d}.parquet'), data)
  manifest = commit.RunManifest(run_id, 'running', 'model', 'config', {},
                                base_version=base_version,
                                operation=operation)
  commit.start_manifest(output, manifest)
  lease.acquire(output, run_id)
  return manifest, names


def time_commits(output: str, args) -> Dict[str, List[float]]:
  from pipeline import commit, lease
  from pipeline.table_log import latest_state
  data = parquet_bytes(args.rows)
  times: Dict[str, List[float]] = {'incremental': [], 'overwrite': []}
  for rep in range(args.reps):
    for operation in ('incremental', 'overwrite'):
      run_id = f'{operation}-{rep}'
      base = latest_state(output).version
      manifest, names = stage_run(output, run_id, args.tables, args.files,
                                  data, base, operation)
      started = time.perf_counter()
      commit.commit_run(output, manifest, names, known_tables=names)
      times[operation].append(time.perf_counter() - started)
      lease.release(output, run_id)
  return times


def summary(times: Dict[str, List[float]], files: int) -> Dict[str, dict]:
  return {op: {'median_ms': 1000 * statistics.median(t),
               'per_file_ms': 1000 * statistics.median(t) / files,
               'runs_s': t} for op, t in times.items()}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog='python -m bench.commit_cost',
                                   description=__doc__.split('\n\n')[0])
  parser.add_argument('--tables', type=int, default=4)
  parser.add_argument('--files', type=int, default=16,
                      help='files per table and run')
  parser.add_argument('--rows', type=int, default=2000)
  parser.add_argument('--reps', type=int, default=3)
  parser.add_argument('--no_gcs', action='store_true')
  parser.add_argument('--out', default=None, help='JSON result file')
  args = parser.parse_args(argv)
  files = args.tables * args.files
  result = {'meta': {'command': 'python -m bench.commit_cost ' +
                     ' '.join(argv if argv is not None else sys.argv[1:]),
                     'tables': args.tables, 'files_per_table': args.files,
                     'rows_per_file': args.rows, 'reps': args.reps}}
  with tempfile.TemporaryDirectory() as tmp:
    result['local'] = summary(time_commits(tmp, args), files)
  if not args.no_gcs:
    from bench.gcs_emulator import gcs_emulator
    with gcs_emulator('bench-commit'):
      result['gcs_emulator'] = summary(
          time_commits('gs://bench-commit/out', args), files)
  for where in ('local', 'gcs_emulator'):
    for op, numbers in result.get(where, {}).items():
      print(f'{where:13s} {op:11s} {files} files: {numbers["median_ms"]:8.1f}'
            f' ms per commit, {numbers["per_file_ms"]:6.2f} ms per file')
  if args.out:
    with open(args.out, 'w', encoding='utf-8') as handle:
      json.dump(result, handle, indent=2)
  return 0


if __name__ == '__main__':
  sys.exit(main())
