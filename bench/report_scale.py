"""How the run report scales: a large synthetic committed output, then the
page built from it, timed in a fresh process.

The output is written the way a job writes one -- every table with its real
Arrow schema (common.schemas, the task classes, the corpus tables), staged
and committed through pipeline.commit (lease, manifest, commit log) -- so the
report reads exactly what it would read after a real run, only bigger:

    python -m bench.report_scale --documents 100000 [--out DIR]

prints the rows written, then the page's size, the build's seconds (imports
excluded) and the peak Arrow memory of the building process
(pyarrow's default memory pool, `max_memory`).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

RUN_ID = 'synthetic'
MODEL_ID = 'synthetic-model@0'
LABELS = ['person', 'organization', 'location', 'date', 'product', 'event',
          'disease', 'law', 'work of art', 'language']
QUESTIONS = ['Who is quoted in the text?', 'Where did it happen?',
             'When did it happen?']
RELATIONS = ['member of', 'part of', 'spouse', 'located in', 'founded by']
CLASSES = ['business', 'science', 'politics', 'environment', 'sports']
REASONS = [('read', 'text is empty'), ('read', 'text is not a string'),
           ('validate', 'text has no words'), ('tokenize', 'too long'),
           ('model', 'inference failed')]
WRITE_ROWS = 1_000_000  # rows per Parquet write (one row group each)

TASK_SPECS = {'ner': {'labels': LABELS}, 'qa': {'questions': QUESTIONS},
              'relations': {'relations': RELATIONS,
                            'entity_labels': LABELS[:3]},
              'classification': {'classes': CLASSES}}


def task_config() -> dict:
  """The manifest's `tasks` entry, from the task classes' own specs."""
  from model_handler.tasks import TASK_TYPES
  return {'tasks': {name: TASK_TYPES[name].from_spec(spec).spec_dict()
                    for name, spec in TASK_SPECS.items()},
          'text_column': 'text', 'id_column': 'id', 'window_overlap': 32}


def strings(prefix: str, values: np.ndarray) -> pa.Array:
  return pc.binary_join_element_wise(
      pa.scalar(prefix), pc.cast(pa.array(values), pa.string()), '')


def column(field: pa.Field, n: int, first: int, rng) -> pa.Array:
  """Plausible values of any schema column (the columns the report reads
  get their own, in `chosen`)."""
  index = np.arange(first, first + n)
  if field.name in ('model_id', 'run_id', 'config_hash'):
    value = {'model_id': MODEL_ID, 'run_id': RUN_ID,
             'config_hash': '0123456789abcdef'}[field.name]
    return pa.array([value]).take(np.zeros(n, dtype=np.int32))
  if pa.types.is_string(field.type):
    return strings(f'{field.name}-', index % 5000)
  if pa.types.is_integer(field.type):
    return pa.array(rng.integers(0, 2000, n), field.type)
  if pa.types.is_floating(field.type):
    return pa.array(rng.random(n), field.type)
  if pa.types.is_list(field.type):
    return pa.array([[f'd{i}'] for i in index], field.type)
  raise TypeError(f'no synthetic values for {field}')


def chosen(name: str, n: int, first: int, documents: int, rng
           ) -> Dict[str, pa.Array]:
  """The columns whose values matter: keys, categories, scores."""
  docs = np.arange(first, first + n) % max(documents, 1)
  out = {'doc_id': strings('d', docs),
         'source': strings('data/in.parquet#', docs),
         'score': pa.array(rng.beta(5, 2, n)),
         'label': pa.array(LABELS).take(rng.zipf(1.6, n) % len(LABELS)),
         'question': pa.array(QUESTIONS).take(rng.integers(0, 3, n)),
         'relation': pa.array(RELATIONS).take(rng.integers(0, 5, n))}
  if name == 'classifications':
    out['label'] = pa.array(CLASSES).take(rng.integers(0, 5, n))
  if name == 'documents':
    out.update(n_windows=pa.array(rng.integers(1, 4, n)),
               n_words=pa.array(rng.integers(50, 900, n)),
               n_chars=pa.array(rng.integers(300, 6000, n)),
               n_entities=pa.array(rng.integers(0, 7, n)))
  if name == 'dead_letter':
    picks = rng.integers(0, len(REASONS), n)
    out.update(stage=pa.array([REASONS[i][0] for i in picks]),
               reason=pa.array([REASONS[i][1] for i in picks]),
               task=pa.nulls(n, pa.string()),
               payload_snippet=strings('bad row text ', docs))
  if name == 'entity_index':
    out.update(entity=strings('entity ', np.arange(first, first + n)),
               mentions=pa.array(rng.zipf(1.3, n).clip(1, 10**6)),
               documents=pa.array(rng.integers(1, 50, n)),
               mean_score=pa.array(rng.beta(5, 2, n)))
  return out


def write_table(path: str, name: str, schema: pa.Schema, rows: int,
                documents: int, seed: int) -> int:
  """`rows` rows of the table in one Parquet file; -> Arrow bytes written."""
  rng = np.random.default_rng(seed)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  size = 0
  with pq.ParquetWriter(path, schema) as writer:
    for first in range(0, rows, WRITE_ROWS):
      n = min(WRITE_ROWS, rows - first)
      wanted = chosen(name, n, first, documents, rng)
      batch = pa.table([wanted[f.name].cast(f.type) if f.name in wanted
                        else column(f, n, first, rng) for f in schema],
                       schema=schema)
      size += batch.nbytes
      writer.write_table(batch)
  return size


def table_rows(documents: int) -> Dict[str, int]:
  return {'documents': documents, 'entities': 3 * documents,
          'answers': documents, 'relations': documents // 2,
          'classifications': documents, 'dead_letter': max(documents // 100, 1),
          'entity_index': documents // 2, 'relation_triples': documents // 10}


def write_output(output: str, rows: Dict[str, int], documents: int,
                 run_id: str = RUN_ID) -> Dict[str, int]:
  """A committed run of synthetic tables in `output`; -> Arrow bytes per
  table."""
  from pipeline import commit, lease
  from pipeline.config import table_schemas
  from pipeline.objectstore import join
  from pipeline.table_log import latest_state
  from transforms.corpus_tables import CORPUS_TABLES
  schemas = dict(table_schemas(), **CORPUS_TABLES)
  lease.acquire(output, run_id)
  base = latest_state(output)
  manifest = commit.RunManifest(
      run_id=run_id, status='running', model_id=MODEL_ID,
      config_hash='0123456789abcdef',
      inputs={'input': 'synthetic', 'tasks': task_config()},
      base_version=base.version, operation='overwrite')
  commit.start_manifest(output, manifest)
  sizes = {}
  for seed, (name, count) in enumerate(sorted(rows.items())):
    path = join(commit.staging_root(output, run_id), name, 'part-0.parquet')
    sizes[name] = write_table(path, name, schemas[name], count, documents,
                              seed)
  commit.commit_run(output, manifest, sorted(rows), known_tables=schemas)
  lease.release(output, run_id)
  return sizes


def measure(output: str) -> dict:
  """Build the latest run's page here (call in a fresh process)."""
  import matplotlib  # noqa: F401  (imports are not the build's time)
  from pipeline import report as run_report
  from model_handler import tasks  # noqa: F401
  pool = pa.default_memory_pool()
  started = time.perf_counter()
  path = run_report.build_report(output)
  seconds = time.perf_counter() - started
  return {'page': path, 'page_kib': round(os.path.getsize(path) / 1024, 1),
          'build_seconds': round(seconds, 2),
          'arrow_peak_bytes': pool.max_memory(),
          'arrow_pool': pool.backend_name}


def measure_in_fresh_process(output: str) -> dict:
  done = subprocess.run(
      [sys.executable, '-m', 'bench.report_scale', '--measure', output],
      capture_output=True, text=True, check=True,
      cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: Optional[list] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m bench.report_scale',
                                   description=__doc__.split('\n')[0])
  parser.add_argument('--documents', type=int, default=100_000)
  parser.add_argument('--out', default=None,
                      help='output folder (default: a temporary one)')
  parser.add_argument('--measure', default=None, metavar='OUTPUT',
                      help=argparse.SUPPRESS)  # the fresh process's part
  args = parser.parse_args(argv)
  if args.measure:
    print(json.dumps(measure(args.measure)))
    return 0
  with tempfile.TemporaryDirectory() as scratch:
    output = args.out or os.path.join(scratch, 'out')
    rows = table_rows(args.documents)
    started = time.perf_counter()
    sizes = write_output(output, rows, args.documents)
    print(f'wrote {output} in {time.perf_counter() - started:.1f} s: ' +
          ', '.join(f'{t} {n:,}' for t, n in sorted(rows.items())) +
          f' rows; {sum(sizes.values()) / 2**20:.0f} MiB as Arrow')
    result = measure_in_fresh_process(output)
    print(f'report {result["page"]}: {result["page_kib"]} KiB, built in '
          f'{result["build_seconds"]} s (imports excluded), peak Arrow memory '
          f'{result["arrow_peak_bytes"] / 2**20:.1f} MiB '
          f'({result["arrow_pool"]} pool)')
  return 0


if __name__ == '__main__':
  sys.exit(main())
