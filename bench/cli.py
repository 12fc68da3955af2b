"""The throughput benchmark: one command, one process, one JSON file.

    python -m bench            # default matrix (~10-15 min on 2 CPU cores)
    python -m bench --quick    # MiniLM only, smaller corpora (~3-4 min)
    python -m bench --smoke    # tiny random model, seconds (tests)
    python -m bench --full     # + mixed/long/multi-process on the base-shaped models
    python -m bench --gpu --devices cuda --model DIR   # the one GPU run (bench.gpu_mode)
    python -m bench --gpu --smoke --devices cpu        # its code path, tiny (tests)
    python -m bench --proxy [--bi] [--job_tree OLD]    # host work per document
                                                       # (bench.host_work)

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
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

# Before gliner/transformers are imported (they are, lazily, by the modules
# below): the benchmark never downloads and never forks tokenizer threads.
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')

from bench import charts  # noqa: E402
from bench import models as bench_models  # noqa: E402
from bench import results_report as report  # noqa: E402
from bench import scenarios  # noqa: E402
from common.progress_line import progress  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

# What each mode runs. Per model: the scenarios to run.
MODES: Dict[str, Dict[str, Any]] = {
    'smoke': {
        'models': [(bench_models.TINY, ('uniform', 'mixed', 'long'))],
        'uniform': (6, 40), 'mixed': (4, 10, 150), 'long': (60, 3),
        'planted': None, 'multi_process': False, 'profile': False, 'reps': 1,
        'job_windows_limit': False, 'p1_bare_s': 1,
    },
    'quick': {
        'models': [(bench_models.MINILM,
                    ('uniform', 'mixed', 'long', 'planted'))],
        'uniform': (32, 200), 'mixed': (24, 10, 2000), 'long': (1000, 10),
        'planted': (5000, 2), 'multi_process': True, 'profile': False,
        'reps': 1, 'job_windows_limit': True, 'p1_bare_s': 30,
    },
    'default': {
        'models': [
            (bench_models.MINILM, ('uniform', 'mixed', 'long', 'planted')),
            (bench_models.BASE_TOKEN, ('uniform', )),
            (bench_models.BASE_MARKER, ('uniform', )),
        ],
        'uniform': (64, 200), 'mixed': (48, 10, 2000), 'long': (1000, 10),
        'planted': (5000, 3), 'multi_process': True, 'profile': True,
        'reps': 3, 'job_windows_limit': True, 'p1_bare_s': 30,
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
        'reps': 3, 'job_windows_limit': True, 'p1_bare_s': 30,
    },
}


def parse_args(argv: Optional[Sequence[str]] = None):
  parser = argparse.ArgumentParser(
      prog='python -m bench', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  group = parser.add_mutually_exclusive_group()
  group.add_argument('--quick', action='store_const', const='quick',
                     dest='mode', help='MiniLM only, smaller corpora')
  group.add_argument('--smoke', action='store_const', const='smoke',
                     dest='mode', help='tiny random model, a few short docs')
  group.add_argument('--full', action='store_const', const='full',
                     dest='mode', help='every scenario on every model')
  parser.set_defaults(mode='default')
  parser.add_argument('--gpu', action='store_true',
                      help='the GPU measurement (bench.gpu_mode): bare gliner '
                      'fp32/bf16 by batch size, the job by --max_batch_tokens '
                      'beside the encoder alone (P4), memory, mixed lengths, '
                      '--model_copies 2; with --smoke, tiny sizes')
  parser.add_argument('--proxy', action='store_true',
                      help='host work per document on the CPU proxy of a '
                      'fast GPU (bench.host_work): bare gliner vs the job in '
                      'process and with two worker processes')
  parser.add_argument('--bi', action='store_true',
                      help='--proxy: also the bi-encoder with --bi_labels '
                      'labels')
  parser.add_argument('--bi_only', action='store_true',
                      help='--proxy: only the bi-encoder part')
  parser.add_argument('--bi_labels', type=int, default=500)
  parser.add_argument('--proxy_docs', type=int, default=2000,
                      help='--proxy: documents per corpus')
  parser.add_argument('--job_tree', default=None,
                      help='--proxy: also run the job from this checkout '
                      '(e.g. a worktree of an older commit: "before")')
  parser.add_argument('--model', default=None,
                      help='--gpu: checkpoint directory (default: the '
                      'embedded MiniLM demo model; the tiny one with --smoke)')
  parser.add_argument('--budget_s', type=float, default=180.0,
                      help='--gpu: parts that would start later than this '
                      'are skipped (the JSON says which)')
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
                      help='comma list of parts to skip: p1,mixed,long,'
                      'planted,mp,profile')
  args = parser.parse_args(argv)
  args.skip = {s for s in args.skip.split(',') if s}
  return args


def devices_to_run(spec: str):
  """(device, dtype) pairs: `auto` is CPU float32, plus CUDA bfloat16 when a
  GPU is visible."""
  import torch
  if spec == 'auto':
    devices = [('cpu', 'float32')]
    if torch.cuda.is_available():
      devices.append(('cuda', 'bfloat16'))
    return devices
  return [('cuda', 'bfloat16') if d == 'cuda' else ('cpu', 'float32')
          for d in spec.split(',')]


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = parse_args(argv)
  logging.basicConfig(level=logging.WARNING,
                      format='%(levelname)s %(message)s')
  started = time.perf_counter()
  mode = MODES[args.mode]
  devices = devices_to_run(args.devices)
  stamp = datetime.datetime.now(datetime.timezone.utc)
  out_path = Path(args.out) if args.out else (
      REPO / 'bench' / 'results' /
      f'{stamp.strftime("%Y-%m-%dT%H%M%SZ")}-{"gpu-" if args.gpu else ""}{args.mode}.json')
  results: Dict[str, Any] = {
      'meta': {
          'date_utc': stamp.isoformat(timespec='seconds'),
          'command': 'python -m bench ' + ' '.join(
              sys.argv[1:] if argv is None else list(argv)),
          'mode': args.mode,
          'machine': report.machine_info(),
          'labels': list(scenarios.LABELS),
          'threshold': args.threshold,
          'max_batch_tokens': args.max_batch_tokens,
          'row_group_size': args.row_group_size,
          'targets': {k: list(v) for k, v in report.TARGETS.items()},
      },
      'runs': {},
  }
  if args.gpu:
    from bench import gpu_mode
    results['meta']['mode'] = 'gpu-smoke' if args.mode == 'smoke' else 'gpu'
    results['meta']['budget_s'] = args.budget_s
    try:
      gpu_mode.main(args, results, out_path, devices)
    finally:
      results['meta']['run_seconds'] = round(time.perf_counter() - started, 1)
      report.write_json(results, out_path)
    print(f'\ntotal {results["meta"]["run_seconds"]} s; JSON: {out_path}')
    charts.draw_after_run(out_path)
    return 0
  if args.proxy:
    from bench import host_work
    results['meta']['mode'] = f'proxy-{args.mode}'
    results['meta']['job_tree'] = args.job_tree
    if not args.out:
      out_path = out_path.with_name(out_path.name.replace(
          f'-{args.mode}.json', f'-proxy-{args.mode}.json'))
    try:
      host_work.main(args, results)
    finally:
      results['meta']['run_seconds'] = round(time.perf_counter() - started, 1)
      report.write_json(results, out_path)
    print(host_work.table(results))
    print(f'JSON: {out_path}')
    charts.draw_after_run(out_path)
    return 0
  keep = set(args.models.split(',')) if args.models else None
  with tempfile.TemporaryDirectory(prefix='gliner-bench-') as tmp:
    workdir = Path(args.workdir) if args.workdir else Path(tmp)
    workdir.mkdir(parents=True, exist_ok=True)
    bench = scenarios.Bench(args, mode, workdir)
    matrix = [(spec, which, device, dtype)
              for spec, which in mode['models']
              if not keep or spec.name in keep
              for device, dtype in devices]
    for spec, which, device, dtype in progress(
        matrix, 'bench', label=lambda m: f'{m[0].name}/{m[2]}-{m[3]}'):
      run = bench.model_run(spec, which, device, dtype)
      run['metrics'] = report.derive_metrics(run, device)
      results['runs'][f'{spec.name}/{device}-{dtype}'] = run
  results['meta']['run_seconds'] = round(time.perf_counter() - started, 1)
  report.write(results, out_path)
  charts.draw_after_run(out_path)
  return 0


if __name__ == '__main__':
  sys.exit(main())
