"""The throughput benchmark: one command, one process, one JSON file.

    python -m bench.run                 # default matrix (~10-15 min on 2 CPU cores)
    python -m bench.run --quick         # MiniLM only, smaller corpora (~3-4 min)
    python -m bench.run --smoke         # tiny random model, seconds (tests)
    python -m bench.run --full          # + mixed/long/multi-process on the base-shaped models

For every model (and device: CPU float32, plus CUDA bfloat16 when a GPU is
visible) it measures, on the same documents and the same loaded weights:

* bare  -- ``GLiNER.inference(texts, labels, batch_size=8)`` (gliner
  truncates texts over ``max_len`` words: on long documents it does LESS work
  than the job, which reads every word);
* encoder -- the transformer alone (``model.model.token_rep_layer``) over the
  same batches gliner builds (no word splitting, tokenising, heads or
  decoding): the limit;
* job -- the Beam job end to end in this process (``pipeline.run.parse`` +
  ``pipeline.run.run_job``, what ``python -m pipeline`` does, FnApiRunner),
  and with ``--direct_running_mode=multi_processing --direct_num_workers=2``.
  Job docs/s = documents / wall time of the run (parsing to finish, with the
  model build, which every job pays); the job's own summary time is reported
  too.

and derives P1, P2, P3a, P3b, P4 (CUDA), P5 and padding fractions (see
docs/BENCHMARKS.md for definitions and targets).
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')

from bench import corpora  # noqa: E402
from bench import timing as measure  # noqa: E402
from bench import models as bench_models  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
LABELS = ('person', 'organization', 'location', 'field of study', 'algorithm')
TARGETS = {
    'P1': ('>=', 0.90),
    'P2': ('>=', 1.5),
    'P3a': ('<=', 1.1),
    'P3b': ('>=', 0.95),
    'P4': ('>=', None),
    'P5_in_process': ('==', 1),
    'P5_multi_process': ('==', 1),
}

# What each mode runs. Per model: the scenarios to run.
MODES: Dict[str, Dict[str, Any]] = {
    'smoke': {
        'models': [(bench_models.TINY, ('uniform', 'mixed', 'long'))],
        'uniform': (6, 40), 'mixed': (4, 10, 150), 'long': (60, 3),
        'planted': None, 'multi_process': False, 'profile': False, 'reps': 1,
        'job_windows_limit': False,
    },
    'quick': {
        'models': [(bench_models.MINILM,
                    ('uniform', 'mixed', 'long', 'planted'))],
        'uniform': (32, 200), 'mixed': (24, 10, 2000), 'long': (1000, 10),
        'planted': (5000, 2), 'multi_process': True, 'profile': False,
        'reps': 1, 'job_windows_limit': True,
    },
    'default': {
        'models': [
            (bench_models.MINILM, ('uniform', 'mixed', 'long', 'planted')),
            (bench_models.BASE_TOKEN, ('uniform', )),
            (bench_models.BASE_MARKER, ('uniform', )),
        ],
        'uniform': (64, 200), 'mixed': (48, 10, 2000), 'long': (1000, 10),
        'planted': (5000, 3), 'multi_process': True, 'profile': True,
        'reps': 3, 'job_windows_limit': True,
        # the base-shaped models are ~6x slower: fewer docs, fewer reps
        'secondary_uniform': (16, 200), 'secondary_reps': 2,
    },
    'full': {
        'models': [
            (bench_models.MINILM, ('uniform', 'mixed', 'long', 'planted')),
            (bench_models.BASE_TOKEN, ('uniform', 'mixed', 'long')),
            (bench_models.BASE_MARKER, ('uniform', 'mixed', 'long')),
        ],
        'uniform': (64, 200), 'mixed': (48, 10, 2000), 'long': (1000, 10),
        'planted': (5000, 3), 'multi_process': True, 'profile': True,
        'reps': 3, 'job_windows_limit': True,
    },
}


def log(message: str) -> None:
  print(f'[bench {time.strftime("%H:%M:%S")}] {message}', flush=True)


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------
def best(results: List[Dict[str, Any]], key: str = 'wall_s') -> Dict[str, Any]:
  """Fastest of repeated runs, with all times and their median."""
  fastest = dict(min(results, key=lambda r: r[key]))
  times = [r[key] for r in results]
  fastest[key + '_all'] = [round(t, 3) for t in times]
  fastest[key + '_median'] = round(statistics.median(times), 3)
  return fastest


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
  """a / b; None when undefined (a net time at or below zero is noise: the
  run was too small to rise above the job's fixed cost)."""
  if a is None or b is None or b <= 0 or a < 0:
    return None
  return round(a / b, 4)


def strip_private(value):
  if isinstance(value, dict):
    return {k: strip_private(v) for k, v in value.items()
            if not str(k).startswith('_')}
  if isinstance(value, list):
    return [strip_private(v) for v in value]
  if isinstance(value, float):
    return round(value, 4)
  return value


def machine_info() -> Dict[str, Any]:
  import apache_beam
  import gliner
  import pyarrow
  import torch
  import transformers
  cpu = platform.processor() or ''
  try:
    for line in subprocess.run(['lscpu'], capture_output=True, text=True,
                               check=False).stdout.splitlines():
      if line.startswith('Model name:'):
        cpu = line.split(':', 1)[1].strip()
  except OSError:
    pass
  info = {
      'cpu_model': cpu,
      'nproc': os.cpu_count(),
      'sched_cpus': len(os.sched_getaffinity(0)) if hasattr(
          os, 'sched_getaffinity') else None,
      'torch_threads': torch.get_num_threads(),
      'platform': platform.platform(),
      'loadavg_at_start': list(os.getloadavg()) if hasattr(os, 'getloadavg')
                          else None,
      'cuda': torch.cuda.is_available(),
      'versions': {
          'python': platform.python_version(),
          'torch': torch.__version__,
          'transformers': transformers.__version__,
          'gliner': getattr(gliner, '__version__', '?'),
          'apache_beam': apache_beam.__version__,
          'pyarrow': pyarrow.__version__,
      },
  }
  try:
    with open('/proc/meminfo', encoding='utf-8') as handle:
      info['mem_total_gb'] = round(int(handle.readline().split()[1]) / 2**20,
                                   1)
  except OSError:
    pass
  if info['cuda']:
    info['gpu'] = torch.cuda.get_device_name(0)
  return info


# --------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------
class Bench:

  def __init__(self, args, mode: Dict[str, Any], workdir: Path):
    self.args = args
    self.mode = mode
    self.workdir = workdir
    self.sentences = corpora.read_sentences()
    self._inputs: Dict[str, str] = {}

  # Parquet inputs are written once per corpus and reused by every job run.
  def input_glob(self, corpus: corpora.Corpus) -> str:
    if corpus.name not in self._inputs:
      folder = self.workdir / 'inputs' / corpus.name
      corpora.write_parquet(corpus, folder / 'docs.parquet',
                            row_group_size=self.args.row_group_size)
      self._inputs[corpus.name] = str(folder / '*.parquet')
    return self._inputs[corpus.name]

  def new_output(self) -> str:
    return tempfile.mkdtemp(prefix='out-', dir=self.workdir)

  def argv(self, model_dir, corpus, device, dtype, extra=(),
           output=None) -> List[str]:
    return measure.job_argv(self.input_glob(corpus), output or self.new_output(),
                            model_dir, LABELS, self.args.threshold,
                            self.args.max_batch_tokens, device, dtype, extra)

  def job(self, model_dir, corpus, device, dtype, extra=(),
          multi_process=False, output=None) -> Dict[str, Any]:
    return measure.run_job(
        self.argv(model_dir, corpus, device, dtype, extra, output),
        multi_process=multi_process)

  @staticmethod
  def mp_extra() -> List[str]:
    # 2 worker processes x 1 torch thread on a 2-core machine (2 x 2 threads
    # oversubscribes the cores).
    return ['--direct_running_mode=multi_processing', '--direct_num_workers=2',
            '--torch_threads', '1']

  # ---- uniform lengths: P1, padding, P4, P5 ------------------------------
  def uniform(self, spec, model, model_dir, device, dtype, n_docs, words,
              reps) -> Dict[str, Any]:
    corpus = corpora.uniform_corpus(self.sentences, n_docs, words)
    tiny = corpora.Corpus('one-tiny-doc', ['t0'],
                          ['Angela Merkel met the press in Berlin.'])
    log(f'  uniform: {corpus.describe()}')
    batches = measure.collate(model, corpus.texts, list(LABELS), 8)
    runs: Dict[str, List] = {'bare': [], 'encoder': [], 'job': [],
                             'overhead': []}
    for rep in range(reps):
      runs['bare'].append(measure.bare_inference(model, corpus.texts, LABELS,
                                                 self.args.threshold))
      runs['encoder'].append(measure.encoder_only(model, batches))
      runs['job'].append(self.job(model_dir, corpus, device, dtype))
      runs['overhead'].append(self.job(model_dir, tiny, device, dtype))
      log(f'  rep {rep + 1}/{reps}: bare {runs["bare"][-1]["wall_s"]:.2f} s, '
          f'encoder {runs["encoder"][-1]["wall_s"]:.2f} s, job '
          f'{runs["job"][-1]["wall_s"]:.2f} s, job on 1 tiny doc '
          f'{runs["overhead"][-1]["wall_s"]:.2f} s')
    out = {name: best(r) for name, r in runs.items()}
    out['corpus'] = corpus.describe()
    out['encoder']['docs_per_s'] = n_docs / out['encoder']['wall_s']
    if self.mode['job_windows_limit']:
      out['encoder_job_windows'] = self.job_windows_limit(
          model, model_dir, corpus, device, dtype)
    if self.mode['multi_process'] and 'mp' not in self.args.skip:
      mp_runs = []
      for rep in range(max(1, reps - 1)):
        mp_runs.append(self.job(model_dir, corpus, device, dtype,
                                self.mp_extra(), multi_process=True))
        log(f'  multi-process job: {mp_runs[-1]["wall_s"]:.2f} s, loads per '
            f'worker pid {mp_runs[-1].get("worker_loads")}')
      out['job_multi_process'] = best(mp_runs)
    if self.mode['profile'] and spec.real and 'profile' not in self.args.skip:
      log('  profiling one job run (cProfile)')
      out['profile'] = measure.profile_job(
          self.argv(model_dir, corpus, device, dtype))
    return out

  def job_windows_limit(self, model, model_dir, corpus, device, dtype):
    """Encoder alone over the job's own windows, grouped by length with the
    job's subword budget but over the whole corpus at once (ideal batching).
    The job's wall time divided by this is its distance from the limit."""
    from model_handler.handler import padded_groups
    calls, _ = measure.job_calls(
        model_dir, corpus.texts,
        self.argv(model_dir, corpus, device, dtype, output='/tmp/unused'))
    groups = padded_groups(calls, self.args.max_batch_tokens)
    batches = measure.collate_groups(model, groups)
    result = measure.encoder_only(model, batches)
    result['calls'] = len(calls)
    result['simulated_job_padding'] = measure.simulated_padding(
        calls, self.args.max_batch_tokens)
    result['docs_per_s'] = len(corpus.texts) / result['wall_s']
    return result

  # ---- mixed lengths: P2 -------------------------------------------------
  def mixed(self, spec, model, model_dir, device, dtype, reps):
    n_docs, low, high = self.mode['mixed']
    corpus = corpora.mixed_corpus(self.sentences, n_docs, low, high)
    log(f'  mixed: {corpus.describe()}')
    batches = measure.collate(model, corpus.texts, list(LABELS), 8)
    runs: Dict[str, List] = {'bare': [], 'job': []}
    for rep in range(max(1, reps - 1)):
      runs['bare'].append(measure.bare_inference(model, corpus.texts, LABELS,
                                                 self.args.threshold))
      runs['job'].append(self.job(model_dir, corpus, device, dtype))
      log(f'  rep {rep + 1}: bare {runs["bare"][-1]["wall_s"]:.2f} s '
          f'({runs["bare"][-1]["truncated_docs"]} docs truncated), job '
          f'{runs["job"][-1]["wall_s"]:.2f} s '
          f'({runs["job"][-1]["windows"]} windows)')
    out = {name: best(r) for name, r in runs.items()}
    out['encoder'] = measure.encoder_only(model, batches)
    out['encoder']['docs_per_s'] = n_docs / out['encoder']['wall_s']
    out['corpus'] = corpus.describe()
    max_len = model.config.max_len
    words = corpus.words
    out['bare_words_read'] = sum(min(w, max_len) for w in words)
    out['job_words_read'] = sum(words)
    if self.mode['job_windows_limit']:
      out['encoder_job_windows'] = self.job_windows_limit(
          model, model_dir, corpus, device, dtype)
    if self.mode['multi_process'] and 'mp' not in self.args.skip:
      out['job_multi_process'] = self.job(model_dir, corpus, device, dtype,
                                          self.mp_extra(), multi_process=True)
      log(f'  multi-process job: {out["job_multi_process"]["wall_s"]:.2f} s')
    if self.mode['profile'] and spec.real and 'profile' not in self.args.skip:
      log('  profiling one job run (cProfile)')
      out['profile'] = measure.profile_job(
          self.argv(model_dir, corpus, device, dtype))
    return out

  # ---- long documents: P3a -----------------------------------------------
  def long(self, spec, model, model_dir, device, dtype, reps):
    unit_words, units = self.mode['long']
    docs = corpora.long_corpora(self.sentences, unit_words, max(1, units // 2),
                                units)
    one_unit = corpora.Corpus(f'long-1x{unit_words}w', ['l1k00'],
                              [docs['unit'].texts[0]])
    tiny = corpora.Corpus('one-tiny-doc', ['t0'],
                          ['Angela Merkel met the press in Berlin.'])
    log(f'  long: {units} x {docs["unit"].describe()["words_mean"]} words vs '
        f'1 x {docs["big"].describe()["words_total"]} words (same text)')
    runs: Dict[str, List] = {'units': [], 'big': [], 'mid': [], 'one_unit': [],
                             'overhead': []}
    for rep in range(reps):
      runs['units'].append(self.job(model_dir, docs['unit'], device, dtype))
      runs['big'].append(self.job(model_dir, docs['big'], device, dtype))
      runs['mid'].append(self.job(model_dir, docs['mid'], device, dtype))
      runs['one_unit'].append(self.job(model_dir, one_unit, device, dtype))
      runs['overhead'].append(self.job(model_dir, tiny, device, dtype))
      log(f'  rep {rep + 1}/{reps}: {units} x {unit_words}w '
          f'{runs["units"][-1]["wall_s"]:.2f} s, 1 x {units * unit_words}w '
          f'{runs["big"][-1]["wall_s"]:.2f} s, 1 x {unit_words}w '
          f'{runs["one_unit"][-1]["wall_s"]:.2f} s, tiny doc '
          f'{runs["overhead"][-1]["wall_s"]:.2f} s')
    out = {name: best(r) for name, r in runs.items()}
    out['units_corpus'] = docs['unit'].describe()
    out['big_corpus'] = docs['big'].describe()
    out['mid_corpus'] = docs['mid'].describe()
    # Bare gliner on the long docs (truncated to max_len words).
    out['bare_big'] = measure.bare_inference(model, docs['big'].texts, LABELS,
                                             self.args.threshold)
    out['bare_units'] = measure.bare_inference(model, docs['unit'].texts,
                                               LABELS, self.args.threshold)
    # Pure-Python windowing cost, outside Beam, per document length.
    out['plan_only_s'] = self.plan_scaling(model_dir, docs, device, dtype)
    return out

  def plan_scaling(self, model_dir, docs, device, dtype):
    """PlanModelCallsFn alone on the 1k, 5k and 10k-word documents."""
    result = {}
    for key in ('unit', 'mid', 'big'):
      text = docs[key].texts[0]
      argv = self.argv(model_dir, docs[key], device, dtype, output='/tmp/unused')
      started = time.perf_counter()
      calls, _ = measure.job_calls(model_dir, [text], argv)
      result[f'{corpora.n_words(text)}w'] = {
          's': round(time.perf_counter() - started, 4), 'calls': len(calls)}
    return result

  # ---- planted entities: P3b ---------------------------------------------
  def planted(self, model, model_dir, device, dtype):
    words, n_docs = self.mode['planted']
    kept, checks = verify_plants(model, self.args.threshold)
    log(f'  planted: {len(kept)}/{len(corpora.PLANT_TEMPLATES)} templates '
        'found by bare inference on the sentence alone')
    if not kept:
      return {'error': 'no template is found by the model alone',
              'template_checks': checks}
    docs = [corpora.planted_document(self.sentences, kept, words, every=40,
                                     seed=4 + i) for i in range(n_docs)]
    corpus = corpora.Corpus(f'planted-{n_docs}x{words}w',
                            [f'p{i}' for i in range(n_docs)],
                            [d.text for d in docs])
    output = self.new_output()
    job = self.job(model_dir, corpus, device, dtype, output=output)
    found_job: Dict[str, set] = {}
    for row in measure.read_entities(output):
      found_job.setdefault(row['doc_id'], set()).add(
          (row['start'], row['end'], row['label']))
    bare = measure.bare_inference(model, corpus.texts, LABELS,
                                  self.args.threshold)
    found_bare = {
        corpus.ids[i]: {(p['start'], p['end'], p['label']) for p in preds}
        for i, preds in enumerate(bare['_predictions'])
    }
    out = {
        'corpus': corpus.describe(),
        'plants_per_doc': [len(d.plants) for d in docs],
        'templates_kept': [t[0] for t in kept],
        'template_checks': checks,
        'job_wall_s': job['wall_s'],
        'job_windows': job['windows'],
        'bare_truncated_docs': bare['truncated_docs'],
    }
    for who, found in (('job', found_job), ('bare', found_bare)):
      region = {'first10': [0, 0], 'last10': [0, 0], 'all': [0, 0]}
      for doc_id, doc in zip(corpus.ids, docs):
        hits = found.get(doc_id, set())
        for start, end, label, first_word in doc.plants:
          hit = (start, end, label) in hits
          where = ['all']
          if first_word < 0.1 * doc.n_words:
            where.append('first10')
          if first_word >= 0.9 * doc.n_words:
            where.append('last10')
          for w in where:
            region[w][0] += hit
            region[w][1] += 1
      out[who] = {
          k: {'found': f, 'planted': n, 'recall': round(f / n, 4) if n else None}
          for k, (f, n) in region.items()
      }
    return out

  # ---- one model on one device -------------------------------------------
  def model_run(self, spec, scenarios, device, dtype) -> Dict[str, Any]:
    model_dir = bench_models.model_dir(spec, self.args.cache_dir)
    model, load_s = measure.load_model(model_dir, device, dtype)
    log(f'{spec.name} on {device}/{dtype}: loaded in {load_s:.2f} s '
        f'({model_dir})')
    # Warm-up: first calls pay one-off costs (allocator, thread pools) and
    # the first Beam run pays imports; neither is measured.
    warm = corpora.uniform_corpus(self.sentences, 4, 50, seed=99)
    measure.bare_inference(model, warm.texts, LABELS, self.args.threshold)
    self.job(model_dir, warm, device, dtype)
    result: Dict[str, Any] = {
        'model_dir': str(model_dir),
        'span_mode': spec.span_mode,
        'max_len_words': model.config.max_len,
        'load_s': round(load_s, 3),
    }
    secondary = not spec.real and 'secondary_uniform' in self.mode
    reps = self.mode.get('secondary_reps', self.mode['reps']) if (
        secondary) else self.mode['reps']
    reps = self.args.reps or reps
    if 'uniform' in scenarios:
      n_docs, words = self.mode['secondary_uniform' if secondary else
                                'uniform']
      result['uniform'] = self.uniform(spec, model, model_dir, device, dtype,
                                       n_docs, words, reps)
    if 'mixed' in scenarios and 'mixed' not in self.args.skip:
      result['mixed'] = self.mixed(spec, model, model_dir, device, dtype, reps)
    if 'long' in scenarios and 'long' not in self.args.skip:
      result['long'] = self.long(spec, model, model_dir, device, dtype, reps)
    if ('planted' in scenarios and self.mode['planted'] and spec.real and
        'planted' not in self.args.skip):
      result['planted'] = self.planted(model, model_dir, device, dtype)
    result['metrics'] = derive_metrics(result, device)
    del model
    return result


def verify_plants(model, threshold: float):
  """Templates whose entity bare inference finds on the sentence alone."""
  kept, checks = [], []
  texts = [t[0] for t in corpora.PLANT_TEMPLATES]
  predictions = model.inference(texts, list(LABELS), threshold=threshold)
  for (template, entity, label), preds in zip(corpora.PLANT_TEMPLATES,
                                              predictions):
    start = template.index(entity)
    found = [p for p in preds if p['start'] == start and
             p['end'] == start + len(entity)]
    ok = any(p['label'] == label for p in found)
    checks.append({
        'sentence': template, 'entity': entity, 'label': label, 'found': ok,
        'predicted': [(p['text'], p['label'], round(p['score'], 3))
                      for p in preds]
    })
    if ok:
      kept.append((template, entity, label))
  return kept, checks


def derive_metrics(r: Dict[str, Any], device: str) -> Dict[str, Any]:
  m: Dict[str, Any] = {}
  u = r.get('uniform')
  if u:
    m['P1'] = ratio(u['job']['docs_per_s'], u['bare']['docs_per_s'])
    # Steady state: the fixed cost of a job (Beam start-up, model build,
    # Parquet writes), measured as a job on one tiny document, removed.
    m['P1_net'] = ratio(u['bare']['wall_s'],
                        u['job']['wall_s'] - u['overhead']['wall_s'])
    m['P1_summary_time'] = ratio(u['bare']['wall_s'],
                                 u['job']['job_summary_s'])
    m['job_vs_encoder_limit_uniform'] = ratio(u['encoder']['wall_s'],
                                              u['job']['wall_s'])
    m['bare_vs_encoder_limit_uniform'] = ratio(u['encoder']['wall_s'],
                                               u['bare']['wall_s'])
    m['job_fixed_overhead_s'] = round(u['overhead']['wall_s'], 3)
    m['padding_job_uniform'] = u['job']['padding_fraction']
    m['padding_bare8_uniform'] = u['encoder']['padding_fraction']
    m['P5_in_process'] = u['job']['loads_in_this_process']
    # Tokens/s of the job over tokens/s of the encoder alone (P4 is defined
    # for CUDA; on CPU the same ratio is informational).
    key = 'P4' if device == 'cuda' else 'P4_cpu_informational'
    m[key] = ratio(u['job']['tokens_per_s'], u['encoder']['tokens_per_s'])
    if 'encoder_job_windows' in u:
      m['job_vs_encoder_on_job_windows_uniform'] = ratio(
          u['encoder_job_windows']['wall_s'], u['job']['wall_s'])
    mp = u.get('job_multi_process')
    if mp:
      m['P1_multi_process'] = ratio(mp['docs_per_s'], u['bare']['docs_per_s'])
      m['P5_multi_process'] = mp.get('max_loads_per_worker')
      m['multi_process_workers_that_loaded'] = mp.get(
          'worker_processes_that_loaded')
  x = r.get('mixed')
  if x:
    m['P2'] = ratio(x['job']['docs_per_s'], x['bare']['docs_per_s'])
    m['P2_words_read_per_s'] = ratio(
        x['job_words_read'] / x['job']['wall_s'],
        x['bare_words_read'] / x['bare']['wall_s'])
    m['padding_job_mixed'] = x['job']['padding_fraction']
    m['padding_bare8_mixed'] = x['encoder']['padding_fraction']
    if 'encoder_job_windows' in x:
      m['job_vs_encoder_on_job_windows_mixed'] = ratio(
          x['encoder_job_windows']['wall_s'], x['job']['wall_s'])
      m['padding_ideal_job_windows_mixed'] = x['encoder_job_windows'][
          'padding_fraction']
    if x.get('job_multi_process'):
      m['P2_multi_process'] = ratio(x['job_multi_process']['docs_per_s'],
                                    x['bare']['docs_per_s'])
  g = r.get('long')
  if g:
    overhead = g['overhead']['wall_s']
    m['P3a'] = ratio(g['big']['wall_s'], g['units']['wall_s'])
    m['P3a_net'] = ratio(g['big']['wall_s'] - overhead,
                         g['units']['wall_s'] - overhead)
    m['P3a_literal'] = ratio(g['big']['wall_s'], 10 * g['one_unit']['wall_s'])
    m['P3a_literal_net'] = ratio(g['big']['wall_s'] - overhead,
                                 10 * (g['one_unit']['wall_s'] - overhead))
  p = r.get('planted')
  if p and 'job' in p:
    m['P3b'] = ratio(p['job']['last10']['recall'],
                     p['job']['first10']['recall'])
    m['P3b_recall_first10_job'] = p['job']['first10']['recall']
    m['P3b_recall_last10_job'] = p['job']['last10']['recall']
    m['P3b_recall_first10_bare'] = p['bare']['first10']['recall']
    m['P3b_recall_last10_bare'] = p['bare']['last10']['recall']
  return m


def verdict(name: str, value) -> str:
  if value is None or name not in TARGETS or TARGETS[name][1] is None:
    return ''
  op, target = TARGETS[name]
  ok = {'>=': value >= target, '<=': value <= target,
        '==': value == target}[op]
  return f'{"PASS" if ok else "MISS"} ({op} {target})'


def format_table(results: Dict[str, Any]) -> str:
  lines = []
  for key, r in results['runs'].items():
    m = r['metrics']
    lines.append(f'\n== {key} (load {r["load_s"]} s) ==')
    u = r.get('uniform')
    if u:
      lines.append(f'uniform {u["corpus"]["docs"]} docs x '
                   f'~{u["corpus"]["words_mean"]} words (best of '
                   f'{len(u["bare"]["wall_s_all"])}):')
      rows = [('bare inference(batch_size=8)', u['bare']),
              ('encoder only (same batches)', u['encoder']),
              ('job FnApiRunner in-process', u['job'])]
      if 'encoder_job_windows' in u:
        rows.insert(2, ('encoder only (job windows)', u['encoder_job_windows']))
      if 'job_multi_process' in u:
        rows.append(('job multi_processing x2', u['job_multi_process']))
      rows.append(('job on 1 tiny doc (fixed cost)', u['overhead']))
      for name, row in rows:
        extra = ''
        if 'job_summary_s' in row:
          extra = f'  (summary {row["job_summary_s"]:.2f} s)'
        if 'cpu_per_wall' in row:
          extra += f'  cpu/wall {row["cpu_per_wall"]}'
        lines.append(f'  {name:34s} {row["wall_s"]:8.2f} s '
                     f'{row.get("docs_per_s", 0):8.2f} docs/s{extra}')
    x = r.get('mixed')
    if x:
      lines.append(f'mixed {x["corpus"]["docs"]} docs, '
                   f'{x["corpus"]["words_min"]}-{x["corpus"]["words_max"]} '
                   f'words, {x["corpus"]["words_total"]} in all (bare reads '
                   f'{x["bare_words_read"]} of them):')
      rows = [('bare inference(batch_size=8)', x['bare']),
              ('encoder only (bare batches)', x['encoder'])]
      if 'encoder_job_windows' in x:
        rows.append(('encoder only (job windows)', x['encoder_job_windows']))
      rows.append(('job FnApiRunner in-process', x['job']))
      if 'job_multi_process' in x:
        rows.append(('job multi_processing x2', x['job_multi_process']))
      for name, row in rows:
        extra = ''
        if 'cpu_per_wall' in row:
          extra = f'  cpu/wall {row["cpu_per_wall"]}'
        lines.append(f'  {name:34s} {row["wall_s"]:8.2f} s '
                     f'{row.get("docs_per_s", 0):8.2f} docs/s{extra}')
    g = r.get('long')
    if g:
      lines.append('long documents (job wall, best of reps):')
      for name in ('units', 'big', 'mid', 'one_unit', 'overhead'):
        row = g[name]
        lines.append(f'  {name:10s} {row["docs"]:3d} docs {row["windows"]:4d} '
                     f'windows {row["wall_s"]:8.2f} s')
    lines.append('metrics:')
    for name, value in m.items():
      lines.append(f'  {name:42s} {str(value):>10s}  {verdict(name, value)}')
  return '\n'.join(lines)


def parse_args(argv: Optional[Sequence[str]] = None):
  parser = argparse.ArgumentParser(
      prog='python -m bench.run', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  group = parser.add_mutually_exclusive_group()
  group.add_argument('--quick', action='store_const', const='quick',
                     dest='mode', help='MiniLM only, smaller corpora')
  group.add_argument('--smoke', action='store_const', const='smoke',
                     dest='mode', help='tiny random model, a few short docs')
  group.add_argument('--full', action='store_const', const='full',
                     dest='mode', help='every scenario on every model')
  parser.set_defaults(mode='default')
  parser.add_argument('--out', help='JSON file to write (default '
                      'bench/results/<UTC date-time>-<mode>.json)')
  parser.add_argument('--cache_dir', default=None,
                      help='where built models live (default '
                      '~/.cache/gliner-beam-bench)')
  parser.add_argument('--workdir', default=None,
                      help='scratch folder for inputs/outputs (default: a '
                      'temporary folder, removed at the end)')
  parser.add_argument('--reps', type=int, default=None,
                      help='repetitions of each timed run (best is kept)')
  parser.add_argument('--threshold', type=float, default=0.5)
  parser.add_argument('--max_batch_tokens', type=int, default=4096)
  parser.add_argument('--row_group_size', type=int, default=8,
                      help='documents per Parquet row group (the job reads '
                      'one row group per element)')
  parser.add_argument('--devices', default='auto',
                      help='comma list of cpu,cuda (auto: cpu, plus cuda '
                      'with bfloat16 when available)')
  parser.add_argument('--models', default=None,
                      help='comma list of model names to keep from the mode')
  parser.add_argument('--skip', default='',
                      help='comma list of parts to skip: mixed,long,planted,'
                      'mp,profile')
  args = parser.parse_args(argv)
  args.skip = {s for s in args.skip.split(',') if s}
  return args


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = parse_args(argv)
  logging.basicConfig(level=logging.WARNING,
                      format='%(levelname)s %(message)s')
  import torch
  started = time.perf_counter()
  mode = MODES[args.mode]
  if args.devices == 'auto':
    devices = [('cpu', 'float32')]
    if torch.cuda.is_available():
      devices.append(('cuda', 'bfloat16'))
  else:
    devices = [('cuda', 'bfloat16') if d == 'cuda' else ('cpu', 'float32')
               for d in args.devices.split(',')]
  stamp = datetime.datetime.now(datetime.timezone.utc)
  out_path = Path(args.out) if args.out else (
      REPO / 'bench' / 'results' /
      f'{stamp.strftime("%Y-%m-%dT%H%M%SZ")}-{args.mode}.json')
  results: Dict[str, Any] = {
      'meta': {
          'date_utc': stamp.isoformat(timespec='seconds'),
          'command': 'python -m bench.run ' + ' '.join(
              sys.argv[1:] if argv is None else list(argv)),
          'mode': args.mode,
          'machine': machine_info(),
          'labels': list(LABELS),
          'threshold': args.threshold,
          'max_batch_tokens': args.max_batch_tokens,
          'row_group_size': args.row_group_size,
          'targets': {k: list(v) for k, v in TARGETS.items()},
      },
      'runs': {},
  }
  keep = set(args.models.split(',')) if args.models else None
  with tempfile.TemporaryDirectory(prefix='gliner-bench-') as tmp:
    workdir = Path(args.workdir) if args.workdir else Path(tmp)
    workdir.mkdir(parents=True, exist_ok=True)
    bench = Bench(args, mode, workdir)
    for spec, scenarios in mode['models']:
      if keep and spec.name not in keep:
        continue
      for device, dtype in devices:
        key = f'{spec.name}/{device}-{dtype}'
        results['runs'][key] = bench.model_run(spec, scenarios, device, dtype)
  results['meta']['run_seconds'] = round(time.perf_counter() - started, 1)
  results = strip_private(results)
  table = format_table(results)
  print(table)
  print(f'\ntotal {results["meta"]["run_seconds"]} s; JSON: {out_path}')
  out_path.parent.mkdir(parents=True, exist_ok=True)
  out_path.write_text(json.dumps(results, indent=1, default=str) + '\n',
                      encoding='utf-8')
  return 0


if __name__ == '__main__':
  sys.exit(main())
