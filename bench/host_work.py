"""Host work per document: the CPU proxy of a fast GPU (`python -m bench
--proxy`), and the bi-encoder with many labels.

On a GPU worker the accelerator is paid for by the hour; everything else
(word splitting, tokenising, stacking, decoding, Beam) runs on the host
CPUs and must keep it fed. The proxy checkpoint (bench.models.PROXY: one
32-wide layer, the embedded model's real WordPiece tokenizer, scores
calibrated to a few entities per document) makes the forward pass nearly
free, so what is timed is that host work -- for bare gliner and for the job,
on the same documents, in the same run:

* bare: ``GLiNER.inference(texts, labels, batch_size=b)`` in this process,
  best of b in (8, 16, 32); CPU ms/doc from this process's CPU time;
* job: what ``python -m pipeline`` runs, in a fresh interpreter from the
  checkout under test, timed from parsing to the end of the run (model
  build, worker start-up, every write included; the interpreter's imports
  excluded, as for bare), in process (FnApiRunner, one torch thread) and
  with ``--direct_running_mode=multi_processing --direct_num_workers 2``;
  CPU ms/doc = the run's CPU time, worker processes included.

``--job_tree DIR`` runs the job from another checkout too (a worktree of an
older commit: "before"), so before and after share machine and run.
Bi-encoder (``--bi``): bench.models.BI_PROXY with 500 labels, bare
`inference` (which re-encodes the labels every batch) against the job (one
label embedding per process).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Dict, Sequence

from bench import corpora
from bench import models as bench_models

REPO = Path(__file__).resolve().parent.parent
LABELS = ('person', 'organization', 'location', 'field of study', 'algorithm')
MP_FLAGS = ('--direct_running_mode=multi_processing', '--direct_num_workers=2')


def log(message: str) -> None:
  print(message, file=sys.stderr, flush=True)


def bare(model, texts: Sequence[str], labels: Sequence[str], threshold: float,
         batch_sizes=(8, 16, 32)) -> Dict[str, Any]:
  """gliner as users call it, at its best batch size."""
  runs = []
  for batch_size in batch_sizes:
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')
      cpu0 = time.process_time()
      started = time.perf_counter()
      predictions = model.inference(list(texts), list(labels),
                                    threshold=threshold, batch_size=batch_size)
      wall = time.perf_counter() - started
      cpu = time.process_time() - cpu0
    runs.append({'batch_size': batch_size, 'wall_s': round(wall, 3),
                 'docs_per_s': round(len(texts) / wall, 2),
                 'cpu_ms_per_doc': round(1000 * cpu / len(texts), 3),
                 'entities': sum(len(p) for p in predictions)})
    log(f'    bare batch {batch_size}: {runs[-1]["docs_per_s"]} docs/s, '
        f'{runs[-1]["cpu_ms_per_doc"]} CPU ms/doc')
  best = dict(max(runs, key=lambda r: r['docs_per_s']))
  best['all'] = runs
  return best


# Runs in a fresh interpreter from the checkout under test: imports first
# (untimed: a long-running worker pays them once, and bare gliner's timing
# excludes them too), then parsing + the whole run, model build, worker
# start-up and every write included.
_JOB_RUNNER = r"""
import json, os, sys, time
import gliner, torch  # noqa: F401
from pipeline.run import parse, run_job
def cpu():
  t = os.times()
  return t.user + t.system + t.children_user + t.children_system
c0, t0 = cpu(), time.perf_counter()
config, options = parse(sys.argv[1:])
summary = run_job(config, options)
t = os.times()
print(json.dumps({'wall_s': time.perf_counter() - t0, 'cpu_s': cpu() - c0,
                  'workers_cpu_s': t.children_user + t.children_system,
                  'documents_read': summary.counters.get('documents_read')}))
"""


def job(tree: Path, input_glob: str, model_dir: Path, labels: Sequence[str],
        threshold: float, workdir: Path, n_docs: int,
        extra: Sequence[str] = ()) -> Dict[str, Any]:
  """The job from checkout `tree` in a fresh interpreter (`_JOB_RUNNER`)."""
  import json
  output = tempfile.mkdtemp(prefix='out-', dir=workdir)
  argv = [sys.executable, '-c', _JOB_RUNNER, '--input', input_glob,
          '--output', output, '--model', str(model_dir),
          '--labels', ','.join(labels), '--threshold', str(threshold),
          '--device', 'cpu', '--torch_threads', '1', *extra]
  env = dict(os.environ, PYTHONPATH=str(tree), TOKENIZERS_PARALLELISM='false',
             HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1')
  done = subprocess.run(argv, cwd=tree, env=env, capture_output=True,
                        text=True, check=False)
  if done.returncode != 0:
    raise RuntimeError(f'job failed ({done.returncode}): {done.stderr[-2000:]}')
  measured = json.loads(done.stdout.strip().splitlines()[-1])
  if measured['documents_read'] != n_docs:
    raise RuntimeError(f'job read {measured["documents_read"]} of {n_docs}')
  import pyarrow.parquet as pq
  entities = 0
  for path in Path(output).rglob('*.parquet'):
    if '/entities/' in str(path) and '.tmp-' not in path.name:
      entities += pq.read_metadata(path).num_rows
  wall = measured['wall_s']
  return {'wall_s': round(wall, 3), 'docs_per_s': round(n_docs / wall, 2),
          'cpu_ms_per_doc': round(1000 * measured['cpu_s'] / n_docs, 3),
          'worker_processes_cpu_s': round(measured['workers_cpu_s'], 2),
          'entities': entities, 'flags': list(extra)}


def scenario(name: str, corpus, model_dir: Path, labels: Sequence[str],
             threshold: float, trees: Dict[str, Path], workdir: Path,
             modes: Sequence[str], bare_batch_sizes=(8, 16, 32)) -> Dict:
  from bench.timing import load_model
  import torch
  path = corpora.write_parquet(corpus, workdir / f'{name}.parquet',
                               row_group_size=8)
  n_docs = len(corpus.texts)
  log(f'  {name}: {corpus.describe()}')
  torch.set_num_threads(1)
  model, _ = load_model(model_dir, 'cpu', 'float32')
  out: Dict[str, Any] = {'corpus': corpus.describe(),
                         'bare': bare(model, corpus.texts, labels, threshold,
                                      bare_batch_sizes)}
  del model
  for tree_name, tree in trees.items():
    for mode in modes:
      extra = MP_FLAGS if mode == 'two_workers' else ()
      result = job(tree, str(path), model_dir, labels, threshold, workdir,
                   n_docs, extra)
      result['vs_bare_docs_per_s'] = round(
          result['docs_per_s'] / out['bare']['docs_per_s'], 3)
      result['vs_bare_cpu_ms'] = round(
          result['cpu_ms_per_doc'] / out['bare']['cpu_ms_per_doc'], 3)
      out[f'job_{tree_name}_{mode}'] = result
      log(f'    job ({tree_name}, {mode}): {result["docs_per_s"]} docs/s = '
          f'{result["vs_bare_docs_per_s"]}x bare, {result["cpu_ms_per_doc"]} '
          f'CPU ms/doc = {result["vs_bare_cpu_ms"]}x bare')
  return out


def main(args, results: Dict[str, Any]) -> None:
  sentences = corpora.read_sentences()
  trees = {'after': REPO}
  if args.job_tree:
    trees = {'before': Path(args.job_tree).resolve(), 'after': REPO}
  smoke = args.mode == 'smoke'
  n = 12 if smoke else args.proxy_docs
  with tempfile.TemporaryDirectory(prefix='bench-host-') as tmp:
    workdir = Path(args.workdir) if args.workdir else Path(tmp)
    workdir.mkdir(parents=True, exist_ok=True)
    runs = results['runs']
    if not args.bi_only:
      model_dir = bench_models.model_dir(bench_models.PROXY, args.cache_dir)
      uniform = corpora.uniform_corpus(sentences, n, 40 if smoke else 220)
      mixed = corpora.mixed_corpus(sentences, n, 10, 60 if smoke else 1000)
      modes = ('in_process', 'two_workers')
      for name, corpus in (('uniform', uniform), ('mixed', mixed)):
        runs[f'proxy/{name}'] = scenario(
            name, corpus, model_dir, LABELS, args.threshold, trees, workdir,
            modes)
    if args.bi or args.bi_only:
      model_dir = bench_models.model_dir(bench_models.BI_PROXY, args.cache_dir)
      labels = corpora.many_labels(20 if smoke else args.bi_labels)
      corpus = corpora.uniform_corpus(sentences, 8 if smoke else 400,
                                      40 if smoke else 220, seed=7)
      runs[f'bi-encoder/{len(labels)}-labels'] = scenario(
          'bi', corpus, model_dir, labels, args.threshold, trees, workdir,
          ('in_process',), bare_batch_sizes=(8, 32))


def table(results: Dict[str, Any]) -> str:
  """Markdown: per scenario and job variant, docs/s and CPU ms/doc against
  bare gliner."""
  lines = ['| scenario | run | docs/s | x bare | CPU ms/doc | x bare |',
           '|---|---|---:|---:|---:|---:|']
  for name, run in results['runs'].items():
    b = run['bare']
    lines.append(f'| {name} | bare gliner (batch {b["batch_size"]}) | '
                 f'{b["docs_per_s"]} | 1.0 | {b["cpu_ms_per_doc"]} | 1.0 |')
    for key, value in run.items():
      if key.startswith('job_'):
        lines.append(
            f'| {name} | {key[4:].replace("_", " ", 1)} | '
            f'{value["docs_per_s"]} | {value["vs_bare_docs_per_s"]} | '
            f'{value["cpu_ms_per_doc"]} | {value["vs_bare_cpu_ms"]} |')
  return '\n'.join(lines)
