"""The GPU measurement (`python -m bench --gpu --devices cuda --model DIR`):
everything issue 14 asks of one short device run, in one process, in order of
importance, with a time budget so a lent machine's minutes are never
overrun.

GPU time is scarce (minutes per task) and the machine has no gliner, no Beam
and no network, so this is one run that brings back every number at once
(bench/gpu/run.sh installs the carried wheels, then calls it):

1. bare gliner in the job's dtype (bfloat16 on CUDA),
   `inference(batch_size=b)` for a few b: its best;
2. the job in bfloat16 at several `--max_batch_tokens`, each beside the
   encoder alone over the job's own windows grouped the job's way (same
   batches, same subwords): P4 = encoder time / job time, i.e. job tokens/s
   / encoder tokens/s (target >= 0.80), with the job's per-stage breakdown
   (what starves the GPU) and peak GPU memory;
3. the job's fixed cost (a run on one short document), so P4 can also be
   read at steady state;
4. a mixed-length corpus: the job vs bare gliner at its best batch size
   (P2_gpu, target >= 2x; bare truncates at max_len words) and vs bare
   gliner reading the same words (documents cut into max_len-word pieces);
5. bare gliner in the other dtype (float32 on CUDA) at the same sizes;
6. the job with `--model_copies 2` (two model processes).

The JSON is rewritten after every part, so a run cut short keeps what it
measured; parts that would start after `--budget_s` are recorded as skipped.
`--smoke` runs the same code path on a tiny model and tiny corpora (CI, and
the CPU rehearsal of bench/gpu/run.sh with `--devices cpu`).
"""
from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

from bench import corpora
from bench import models as bench_models
from bench import results_report as report
from bench import timing
from bench.scenarios import LABELS, log

SIZES: Dict[str, Dict[str, Any]] = {
    'gpu': {
        'uniform': (1536, 200), 'mixed': (384, 10, 2000),
        'batch_sizes': (8, 32, 64, 128), 'budgets': (4096, 16384, 65536),
        'copies': 2,
    },
    'gpu-smoke': {
        'uniform': (6, 30), 'mixed': (4, 10, 100),
        'batch_sizes': (2, 4), 'budgets': (256, 1024),
        'copies': 2,
    },
}
TARGETS = {'P4': 0.80, 'P2_gpu': 2.0}


def _free(device: str) -> None:
  import torch
  gc.collect()
  if device == 'cuda':
    torch.cuda.empty_cache()


def _dtypes(device: str):
  """(job dtype, the other dtype bare gliner is also timed in): bfloat16
  on CUDA; float32 on CPU (the rehearsal), where bfloat16 is slow."""
  return ('bfloat16', 'float32') if device == 'cuda' else ('float32',
                                                            'bfloat16')


class GpuRun:
  """One model on one device; `save` is called after every part."""

  def __init__(self, args, bench, device: str, save: Callable[[], None],
               sizes: Dict[str, Any], budget_s: float):
    self.args = args
    self.bench = bench
    self.device = device
    self.save = save
    self.sizes = sizes
    self.deadline = time.perf_counter() + budget_s
    self.out: Dict[str, Any] = {'parts_skipped': [], 'bare': {}}
    self.model_dir = None
    self._labels = list(LABELS)

  # ---- helpers -------------------------------------------------------------
  def part(self, name: str, fn: Callable[[], None]) -> None:
    left = self.deadline - time.perf_counter()
    if left <= 0:
      log(f'  skipping {name}: time budget spent')
      self.out['parts_skipped'].append(name)
      return
    started = time.perf_counter()
    log(f'  part {name} ({left:.0f} s of budget left)')
    fn()
    self.out.setdefault('part_seconds', {})[name] = round(
        time.perf_counter() - started, 1)
    self.out['metrics'] = self.metrics()
    self.save()

  def job(self, corpus, budget: int, extra=()) -> Dict[str, Any]:
    argv = timing.job_argv(self.bench.input_glob(corpus),
                           self.bench.new_output(), self.model_dir, LABELS,
                           self.args.threshold, budget, self.device,
                           self.job_dtype, extra)
    with timing.GpuMemory() as memory:
      result = timing.run_job(argv)
    result['max_batch_tokens'] = budget
    result['gpu_memory'] = memory.as_dict()
    return result

  def sweep_bare(self, model, texts, dtype: str) -> Dict[str, Any]:
    runs = {}
    for batch_size in self.sizes['batch_sizes']:
      with timing.GpuMemory() as memory:
        r = timing.bare_inference(model, texts, LABELS, self.args.threshold,
                                  batch_size)
      r['gpu_memory'] = memory.as_dict()
      runs[str(batch_size)] = r
      log(f'    bare {dtype} batch_size {batch_size}: {r["wall_s"]:.2f} s, '
          f'{r["docs_per_s"]:.1f} docs/s')
    best = max(runs.values(), key=lambda r: r['docs_per_s'])
    return {'by_batch_size': runs, 'best_batch_size': best['batch_size'],
            'best_docs_per_s': best['docs_per_s'], 'best_wall_s': best['wall_s']}

  # ---- the parts -------------------------------------------------------------
  def run(self, model_dir: Path) -> Dict[str, Any]:
    self.model_dir = model_dir
    self.job_dtype, other_dtype = _dtypes(self.device)
    n_docs, words = self.sizes['uniform']
    self.uniform = corpora.uniform_corpus(self.bench.sentences, n_docs, words)
    n_mixed, low, high = self.sizes['mixed']
    self.mixed = corpora.mixed_corpus(self.bench.sentences, n_mixed, low, high)
    self.out.update({
        'model_dir': str(model_dir), 'device': self.device,
        'job_dtype': self.job_dtype,
        'uniform_corpus': self.uniform.describe(),
        'mixed_corpus': self.mixed.describe(),
    })
    model, load_s = timing.load_model(model_dir, self.device, self.job_dtype)
    self.model = model
    self.out['load_s'] = round(load_s, 3)
    self.out['max_len_words'] = int(model.config.max_len)
    log(f'{model_dir} on {self.device}/{self.job_dtype}: loaded in '
        f'{load_s:.2f} s; uniform {self.uniform.describe()}, mixed '
        f'{self.mixed.describe()}')
    warm = corpora.uniform_corpus(self.bench.sentences, 4, 50, seed=99)
    timing.bare_inference(model, warm.texts, LABELS, self.args.threshold)
    self.job(warm, self.sizes['budgets'][0])

    self.part('bare_' + self.job_dtype,
              lambda: self._bare(self.job_dtype, model))
    self.part('job_budgets', self._job_budgets)
    self.part('fixed_cost', self._fixed_cost)
    self.part('mixed', self._mixed)
    self.part('bare_' + other_dtype, lambda: self._bare_other(other_dtype))
    self.part('model_copies', self._copies)
    del self.model
    _free(self.device)
    return self.out

  def _bare(self, dtype: str, model) -> None:
    self.out['bare'][dtype] = self.sweep_bare(model, self.uniform.texts, dtype)

  def _bare_other(self, dtype: str) -> None:
    model, _ = timing.load_model(self.model_dir, self.device, dtype)
    try:
      self._bare(dtype, model)
    finally:
      del model
      _free(self.device)

  def _job_budgets(self) -> None:
    from model_handler.handler import padded_groups
    calls, _ = timing.job_calls(
        self.model_dir, self.uniform.texts,
        timing.job_argv(self.bench.input_glob(self.uniform), '/tmp/unused',
                        self.model_dir, LABELS, self.args.threshold,
                        self.sizes['budgets'][0], self.device, self.job_dtype))
    runs = {}
    for budget in self.sizes['budgets']:
      job = self.job(self.uniform, budget)
      batches = timing.collate_groups(self.model, padded_groups(calls, budget))
      encoder = timing.encoder_only(self.model, batches)
      runs[str(budget)] = {'job': job, 'encoder_job_batches': encoder}
      log(f'    job {self.job_dtype} max_batch_tokens {budget}: {job["wall_s"]:.2f} s '
          f'({job["docs_per_s"]:.1f} docs/s, {job["tokens_per_s"]:.0f} '
          f'tokens/s); encoder alone on its batches {encoder["wall_s"]:.2f} s '
          f'({encoder["tokens_per_s"]:.0f} tokens/s)')
    self.out['job_by_budget'] = runs
    best = max(runs, key=lambda b: runs[b]['job']['docs_per_s'])
    self.out['best_budget'] = int(best)

  def _fixed_cost(self) -> None:
    tiny = corpora.Corpus('one-tiny-doc', ['t0'],
                          ['Angela Merkel met the press in Berlin.'])
    self.out['fixed_cost'] = self.job(tiny, self.best_budget())

  def best_budget(self) -> int:
    return self.out.get('best_budget', self.sizes['budgets'][0])

  def _mixed(self) -> None:
    batch_size = self.out['bare'].get(self.job_dtype, {}).get(
        'best_batch_size', self.sizes['batch_sizes'][0])
    texts = self.mixed.texts
    out = {'batch_size': batch_size}
    out['bare'] = timing.bare_inference(self.model, texts, LABELS,
                                        self.args.threshold, batch_size)
    out['bare_same_words'] = timing.bare_same_words(
        self.model, texts, LABELS, self.args.threshold, batch_size)
    out['job'] = self.job(self.mixed, self.best_budget())
    max_len = self.out['max_len_words']
    words = self.mixed.words
    out['words_total'] = sum(words)
    out['bare_words_read'] = sum(min(w, max_len) for w in words)
    log(f'    mixed: bare bs {batch_size} {out["bare"]["wall_s"]:.2f} s, '
        f'bare same words {out["bare_same_words"]["wall_s"]:.2f} s, job '
        f'{out["job"]["wall_s"]:.2f} s')
    self.out['mixed'] = out

  def _copies(self) -> None:
    copies = self.sizes['copies']
    job = self.job(self.uniform, self.best_budget(),
                   ['--model_copies', str(copies)])
    job['model_copies'] = copies
    log(f'    job --model_copies {copies}: {job["wall_s"]:.2f} s '
        f'({job["docs_per_s"]:.1f} docs/s)')
    self.out['job_model_copies'] = job

  # ---- the numbers -------------------------------------------------------------
  def metrics(self) -> Dict[str, Any]:
    o = self.out
    m: Dict[str, Any] = {}
    for dtype, sweep in o['bare'].items():
      m[f'bare_{dtype}_best_docs_per_s'] = round(sweep['best_docs_per_s'], 2)
      m[f'bare_{dtype}_best_batch_size'] = sweep['best_batch_size']
    fixed = o.get('fixed_cost', {}).get('wall_s')
    for budget, r in o.get('job_by_budget', {}).items():
      job, enc = r['job'], r['encoder_job_batches']
      m[f'job_docs_per_s@{budget}'] = round(job['docs_per_s'], 2)
      m[f'P4@{budget}'] = report.ratio(enc['wall_s'], job['wall_s'])
      if fixed is not None:
        m[f'P4_steady@{budget}'] = report.ratio(enc['wall_s'],
                                                job['wall_s'] - fixed)
      m[f'gpu_peak_mib@{budget}'] = job['gpu_memory']['device_peak_used_mib']
    best = o.get('best_budget')
    if best is not None:
      m['best_budget'] = best
      m['P4'] = m[f'P4@{best}']
      if o.get('job_dtype') in o['bare']:
        m['job_vs_bare_uniform'] = report.ratio(
            m[f'job_docs_per_s@{best}'],
            o['bare'][o['job_dtype']]['best_docs_per_s'])
    if fixed is not None:
      m['job_fixed_cost_s'] = round(fixed, 3)
    x = o.get('mixed')
    if x:
      m['P2_gpu'] = report.ratio(x['job']['docs_per_s'],
                                 x['bare']['docs_per_s'])
      m['P2_gpu_same_words'] = report.ratio(
          x['job']['docs_per_s'], x['bare_same_words']['docs_per_s'])
    c = o.get('job_model_copies')
    if c and best is not None:
      m['model_copies_2_vs_1'] = report.ratio(
          c['docs_per_s'], o['job_by_budget'][str(best)]['job']['docs_per_s'])
      m['gpu_peak_mib_model_copies_2'] = c['gpu_memory'][
          'device_peak_used_mib']
    return m


def format_lines(run: Dict[str, Any]) -> List[str]:
  lines = [f'== {run.get("model_dir")} on {run.get("device")} '
           f'(load {run.get("load_s")} s) ==']
  for name, value in run.get('metrics', {}).items():
    target = TARGETS.get(name)
    verdict = ''
    if target is not None and value is not None:
      verdict = f'{"PASS" if value >= target else "MISS"} (>= {target})'
    lines.append(f'  {name:36s} {str(value):>10s}  {verdict}')
  for r in run.get('job_by_budget', {}).values():
    lines.append(f'  job breakdown @{r["job"]["max_batch_tokens"]}: '
                 f'{r["job"].get("breakdown_s")}')
  if run.get('parts_skipped'):
    lines.append(f'  skipped (time budget): {run["parts_skipped"]}')
  return lines


def main(args, results: Dict[str, Any], out_path: Path, devices) -> None:
  """Run the GPU matrix for `args.model` on each device in `devices`."""
  from bench import scenarios
  import tempfile
  sizes = SIZES['gpu-smoke' if args.mode == 'smoke' else 'gpu']
  results['meta']['sizes'] = {k: list(v) if isinstance(v, tuple) else v
                              for k, v in sizes.items()}
  if args.model:
    model_dir = Path(args.model)
  elif args.mode == 'smoke':
    model_dir = bench_models.model_dir(bench_models.TINY, args.cache_dir)
  else:
    model_dir = bench_models.MINILM_DIR

  def save():
    report.write_json(results, out_path)

  with tempfile.TemporaryDirectory(prefix='gliner-bench-gpu-') as tmp:
    workdir = Path(args.workdir) if args.workdir else Path(tmp)
    workdir.mkdir(parents=True, exist_ok=True)
    bench = scenarios.Bench(args, {}, workdir)
    for device, _ in devices:
      key = f'{model_dir.name}/{device}'
      runner = GpuRun(args, bench, device, save, sizes, args.budget_s)
      results['runs'][key] = runner.out
      runner.run(model_dir)
      print('\n'.join(format_lines(runner.out)), flush=True)
