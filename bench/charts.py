"""The benchmark's numbers as a picture: job vs bare gliner per corpus and
device, with the ratios, and where the time goes per stage.

    python -m bench.charts bench/results/X.json   # -> bench/results/X.svg

`python -m bench` draws the same chart beside every results file it writes.
Reads the three shapes `python -m bench` writes: the CPU matrix (default,
quick, smoke), `--gpu` and `--proxy`. Each corpus gets its own panel (its own
scale: a GPU's docs/s dwarf a CPU's); each job bar carries its ratio to the
panel's baseline, the bare-gliner number the docs compare it with. Stage times
are drawn only where `bench.timing` measured them (`breakdown_s`).
"""
from __future__ import annotations

import json
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from common.chart_svg import PALETTE, pyplot, redraw_main, save_svg

BARE = 'bare gliner'
BARE_SAME_WORDS = 'bare gliner, same words'
JOB = 'job'
JOB_TWO = 'job, 2 processes'


@dataclass
class Panel:
  """One corpus on one model/device: docs/s per series, ratios against
  `baseline`."""
  title: str
  series: List[Tuple[str, float]]
  baseline: str


@dataclass
class StageBar:
  """Seconds per stage of one timed run."""
  label: str
  seconds: Dict[str, float]


def _docs_per_s(row: Optional[Dict[str, Any]]) -> Optional[float]:
  return row.get('docs_per_s') if isinstance(row, dict) else None


CORPUS_NAMES = {'amortised': 'uniform (P1 corpus)', 'uniform': 'uniform',
                'mixed': 'mixed lengths'}


def _corpus_title(run_key: str, name: str, corpus: Dict[str, Any]) -> str:
  docs = corpus.get('docs')
  words = corpus.get('words_mean')
  size = f'{docs} docs' + (f' × ~{words:.0f} words' if words else '')
  return f'{run_key}{name}, {size}'


def _run_prefix(name: str, several: bool) -> str:
  """The run key (model/device) on its own line, when the file has several
  runs (one run's key is in the chart's title instead)."""
  return f'{name}\n' if several else ''


def _cpu_run(key: str, run: Dict[str, Any], panels: List[Panel],
             stages: List[StageBar]) -> None:
  for part, name in CORPUS_NAMES.items():
    x = run.get(part)
    if not x or 'job' not in x:
      continue
    series = [(BARE, _docs_per_s(x.get('bare'))),
              (BARE_SAME_WORDS, _docs_per_s(x.get('bare_same_words'))),
              (JOB, _docs_per_s(x.get('job'))),
              (JOB_TWO, _docs_per_s(x.get('job_multi_process')))]
    series = [(n, v) for n, v in series if v is not None]
    # P2 compares the job with bare gliner reading the same words.
    baseline = BARE_SAME_WORDS if 'bare_same_words' in x else BARE
    panels.append(Panel(_corpus_title(key, name, x.get('corpus', {})),
                        series, baseline))
  # Stage times: the P1 corpus if measured, else the small uniform one.
  for part in ('amortised' if 'amortised' in run else 'uniform', 'mixed'):
    for who in ('bare', 'job'):
      row = (run.get(part) or {}).get(who) or {}
      if row.get('breakdown_s'):
        label = BARE if who == 'bare' else JOB
        stages.append(StageBar(f'{key}{CORPUS_NAMES[part]} · {label}',
                               row['breakdown_s']))


def _gpu_run(key: str, run: Dict[str, Any], panels: List[Panel],
             stages: List[StageBar]) -> None:
  dtype = run.get('job_dtype', 'bfloat16')
  short = {'bfloat16': 'bf16', 'float32': 'fp32'}
  series: List[Tuple[str, float]] = []
  for bare_dtype, bare in run.get('bare', {}).items():
    if bare.get('best_docs_per_s') is not None:
      series.append((f'{BARE} {short.get(bare_dtype, bare_dtype)} '
                     f'(batch {bare["best_batch_size"]})',
                     bare['best_docs_per_s']))
  baseline = next((n for n in (s[0] for s in series)
                   if n.startswith(f'{BARE} {short.get(dtype, dtype)} ')),
                  series[0][0] if series else BARE)
  for budget, part in run.get('job_by_budget', {}).items():
    if _docs_per_s(part.get('job')) is not None:
      series.append((f'{JOB} {short.get(dtype, dtype)}, budget {budget}',
                     part['job']['docs_per_s']))
  copies = _docs_per_s(run.get('job_model_copies'))
  if copies is not None:
    series.append((f'{JOB}, 2 model copies', copies))
  if series:
    panels.append(Panel(_corpus_title(key, 'uniform',
                                      run.get('uniform_corpus', {})),
                        series, baseline))
  mixed = run.get('mixed')
  if mixed and 'job' in mixed:
    m_series = [(BARE, _docs_per_s(mixed.get('bare'))),
                (BARE_SAME_WORDS, _docs_per_s(mixed.get('bare_same_words'))),
                (JOB, _docs_per_s(mixed.get('job')))]
    panels.append(Panel(_corpus_title(key, 'mixed lengths',
                                      run.get('mixed_corpus', {})),
                        [(n, v) for n, v in m_series if v is not None], BARE))
  best = str(run.get('best_budget', ''))
  job = run.get('job_by_budget', {}).get(best, {}).get('job', {})
  bare = run.get('bare', {}).get(dtype, {})
  bare_best = bare.get('by_batch_size', {}).get(
      str(bare.get('best_batch_size')), {})
  if bare_best.get('breakdown_s'):
    stages.append(StageBar(f'{key}uniform · {BARE} {short.get(dtype)}',
                           bare_best['breakdown_s']))
  if job.get('breakdown_s'):
    stages.append(StageBar(f'{key}uniform · {JOB}, budget {best}',
                           job['breakdown_s']))


def _proxy_run(key: str, run: Dict[str, Any], panels: List[Panel]) -> None:
  series = [(BARE, _docs_per_s(run.get('bare')))]
  for name, row in run.items():
    if name.startswith('job_') and _docs_per_s(row) is not None:
      series.append((name.replace('_', ' '), row['docs_per_s']))
  panels.append(Panel(_corpus_title(key, 'corpus', run.get('corpus', {})),
                      [(n, v) for n, v in series if v is not None], BARE))


def chart_data(results: Dict[str, Any]) -> Tuple[List[Panel], List[StageBar]]:
  """Panels and stage bars of a results file, whatever mode wrote it; the
  run key (model/device) prefixes their names when the file has several."""
  panels: List[Panel] = []
  stages: List[StageBar] = []
  runs = {k: r for k, r in (results.get('runs') or {}).items()
          if isinstance(r, dict)}
  for name, run in runs.items():
    key = _run_prefix(name, len(runs) > 1)
    if 'job_by_budget' in run:
      _gpu_run(key, run, panels, stages)
    elif any(k.startswith('job_') for k in run):
      _proxy_run(key, run, panels)
    else:
      _cpu_run(key, run, panels, stages)
  return [p for p in panels if len(p.series) > 1], stages


BARE_COLOURS = [PALETTE[0], PALETTE[4], PALETTE[7]]
JOB_COLOURS = [PALETTE[1], PALETTE[5], PALETTE[2], PALETTE[3], PALETTE[6],
               PALETTE[8]]


def _colours(names: Sequence[str]) -> Dict[str, str]:
  """Blues for bare gliner, warm colours for the job; one colour per series
  name across the panels."""
  colours: Dict[str, str] = {}
  used = {True: 0, False: 0}
  for name in names:
    if name not in colours:
      bare = name.startswith(BARE)
      choices = BARE_COLOURS if bare else JOB_COLOURS
      colours[name] = choices[used[bare] % len(choices)]
      used[bare] += 1
  return colours


def draw(results: Dict[str, Any], title: str):
  """The figure (matplotlib) for a results dict; ValueError when it holds no
  job-vs-bare numbers."""
  panels, stages = chart_data(results)
  if not panels:
    raise ValueError('no job vs bare gliner numbers in these results')
  plt = pyplot()
  heights = [0.35 * len(p.series) + 0.55 + 0.15 * p.title.count("\n")
             for p in panels]
  stage_names: List[str] = []
  for bar in stages:
    stage_names += [s for s in bar.seconds if s not in stage_names]
  if stages:
    per_bar = 0.5 if any('\n' in bar.label for bar in stages) else 0.32
    heights.append(per_bar * len(stages) + 0.8 + 0.2 * len(stage_names) / 2)
  fig, axes = plt.subplots(len(heights), 1, figsize=(8.5, sum(heights) + 0.6),
                           gridspec_kw={'height_ratios': heights})
  axes = list(axes) if len(heights) > 1 else [axes]
  colours = _colours([n for p in panels for n, _ in p.series])
  for ax, panel in zip(axes, panels):
    names = [n for n, _ in panel.series]
    values = [v for _, v in panel.series]
    y = list(range(len(names)))[::-1]
    ax.barh(y, values, color=[colours[n] for n in names], height=0.7)
    ax.set_yticks(y, names)
    ax.set_title(panel.title, loc='left', fontsize=9)
    base = dict(panel.series).get(panel.baseline)
    top = max(values)
    for yi, (name, value) in zip(y, panel.series):
      text = f'{value:,.1f} docs/s'
      if base and name.startswith(JOB):
        text += f'  ({value / base:.2f}× {panel.baseline})'
      ax.text(value + top * 0.01, yi, text, va='center', fontsize=8)
    ax.set_xlim(0, top * 1.6)
    ax.set_xlabel('documents per second (higher is better)')
  if stages:
    ax = axes[-1]
    stage_colours = {s: plt.get_cmap('tab20')(i % 20)
                     for i, s in enumerate(stage_names)}
    y = list(range(len(stages)))[::-1]
    left = [0.0] * len(stages)
    for stage in stage_names:
      widths = [bar.seconds.get(stage, 0.0) for bar in stages]
      ax.barh(y, widths, left=left, color=stage_colours[stage], label=stage,
              height=0.7)
      left = [a + b for a, b in zip(left, widths)]
    ax.set_yticks(y, [bar.label for bar in stages], fontsize=8)
    ax.set_xlabel('seconds per stage (bench.timing breakdown_s)')
    ax.set_title('where the time goes', loc='left')
    # Below the x label: ~0.55 inch under the axes, whatever their height.
    ax.legend(ncol=3, fontsize=7, loc='upper center', frameon=False,
              bbox_to_anchor=(0.4, -0.55 / (per_bar * len(stages))))
  fig.suptitle(title, x=0.01, ha='left', fontsize=11, fontweight='bold')
  fig.tight_layout()
  return fig


def chart_path(results_path: Path) -> Path:
  return Path(results_path).with_suffix('.svg')


def draw_file(results_path: Path) -> Path:
  """Draws `<results>.svg` beside a results JSON; returns its path."""
  results_path = Path(results_path)
  results = json.loads(results_path.read_text(encoding='utf-8'))
  meta = results.get('meta', {})
  machine = meta.get('machine', {})
  runs = list(results.get('runs') or {})
  lines = [results_path.name + (f' ({runs[0]})' if len(runs) == 1 else ''),
           *textwrap.wrap(meta.get('command', 'python -m bench'), 90)]
  where = machine.get('gpu') or machine.get('cpu_model')
  if where:
    lines.append(f'{where}, {machine.get("sched_cpus") or machine.get("nproc")}'
                 ' CPUs' if machine.get('nproc') else where)
  title = '\n'.join(lines)
  fig = draw(results, title)
  return save_svg(fig, chart_path(results_path), results_path,
                  f'gliner-beam benchmark: {results_path.name}')


def draw_after_run(results_path: Path) -> Optional[Path]:
  """What `python -m bench` calls once its JSON is written: the chart, or a
  line saying why there is none (matplotlib is an extra)."""
  try:
    path = draw_file(results_path)
  except ImportError as exc:
    print(f'chart: not drawn ({exc}; pip install ".[report]", then '
          f'python -m bench.charts {results_path})', file=sys.stderr)
    return None
  print(f'chart: {path}')
  return path


def main(argv: Optional[Sequence[str]] = None) -> int:
  return redraw_main(argv, 'python -m bench.charts', __doc__.split('\n')[0],
                     'results JSON written by python -m bench', draw_file)


if __name__ == '__main__':
  sys.exit(main())
