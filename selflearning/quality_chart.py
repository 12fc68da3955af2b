"""Model quality per task as one picture, from `evaluate_tasks --report`.

    python -m selflearning.quality_chart docs/model_quality.json  # -> .svg

`selflearning.evaluate_tasks --report X.json` draws `X.svg` beside it. One
panel per task, each against the baseline that gives its number a meaning:
NER and open extraction P/R/F1 per domain or label; QA F1 by threshold
against never answering; relations F1 by threshold; classification accuracy
against chance; the summary's ROUGE-1 against the lead sentence. A task the
chart does not know is named under the chart, not dropped silently.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from common.chart_svg import PALETTE, pyplot, redraw_main, save_svg

PRF = ('precision', 'recall', 'f1')


def _prf_bars(ax, rows: Dict[str, Dict[str, float]], title: str) -> None:
  names = list(rows)
  width = 0.27
  for i, metric in enumerate(PRF):
    xs = [j + (i - 1) * width for j in range(len(names))]
    ax.bar(xs, [rows[n].get(metric, 0.0) for n in names], width,
           color=PALETTE[i], label=metric)
  ax.set_xticks(range(len(names)), names, rotation=20, ha='right')
  ax.set_ylim(0, 1)
  ax.set_title(title, loc='left')
  ax.legend(fontsize=7, frameon=False, ncol=3, loc='upper left')


def _ner(ax, report: Dict[str, Any]) -> None:
  rows = {k: v for k, v in report.items() if isinstance(v, dict) and 'f1' in v}
  _prf_bars(ax, rows, 'ner: exact-span P/R/F1 per CrossNER domain')


def _open_extraction(ax, report: Dict[str, Any]) -> None:
  rows = {k: v for k, v in report.items() if isinstance(v, dict) and 'f1' in v}
  _prf_bars(ax, rows, 'open_extraction: P/R/F1 per domain/prompt')


def _by_threshold(ax, curves: Dict[str, Dict[str, float]], title: str,
                  baseline: Optional[float] = None,
                  baseline_name: str = '') -> None:
  for i, (name, points) in enumerate(curves.items()):
    xs = sorted(points, key=float)
    ax.plot([float(x) for x in xs], [points[x] for x in xs], marker='o',
            color=PALETTE[i % len(PALETTE)], label=name)
  if baseline is not None:
    ax.axhline(baseline, color=PALETTE[7], linestyle='--', label=baseline_name)
  ax.set_xlabel('threshold')
  ax.set_ylim(0, 1)
  ax.set_title(title, loc='left')
  ax.legend(fontsize=7, frameon=False)


def _qa(ax, report: Dict[str, Any]) -> None:
  by = report.get('by_threshold', {})
  curves = {name: {t: v[name] for t, v in by.items() if name in v}
            for name in ('answerable_f1', 'all_f1')}
  _by_threshold(ax, curves, 'qa: SQuAD F1 by threshold',
                report.get('never_answer_f1'), 'all_f1 of never answering')


def _relations(ax, report: Dict[str, Any]) -> None:
  curves = {part: {t: v['f1'] for t, v in r.get('by_threshold', {}).items()}
            for part, r in report.items()
            if isinstance(r, dict) and 'by_threshold' in r}
  _by_threshold(ax, curves, 'relations: triple F1 by threshold (FewRel)')


def _classification(ax, report: Dict[str, Any]) -> None:
  rows = {k: v for k, v in report.items()
          if isinstance(v, dict) and 'accuracy' in v}
  names = list(rows)
  ax.bar(range(len(names)), [rows[n]['accuracy'] for n in names],
         color=PALETTE[0], label='accuracy')
  ax.scatter(range(len(names)), [rows[n].get('chance', 0.0) for n in names],
             marker='_', s=900, color=PALETTE[5], label='chance', zorder=3)
  ax.set_xticks(range(len(names)), names, rotation=20, ha='right')
  ax.set_ylim(0, 1)
  ax.set_title('classification: accuracy against chance', loc='left')
  ax.legend(fontsize=7, frameon=False)


def _summary(ax, report: Dict[str, Any]) -> None:
  names = ['summary', 'lead sentence (baseline)']
  values = [report.get('rouge1_f', 0.0),
            report.get('lead_sentence_rouge1_f', 0.0)]
  ax.bar(names, values, color=[PALETTE[0], PALETTE[7]])
  for x, value in enumerate(values):
    ax.text(x, value + 0.02, f'{value:.3f}', ha='center', fontsize=8)
  ax.set_ylim(0, 1)
  ax.set_title('summary: ROUGE-1 F against the lead sentence', loc='left')


PANELS: Dict[str, Callable[[Any, Dict[str, Any]], None]] = {
    'ner': _ner, 'qa': _qa, 'relations': _relations,
    'classification': _classification, 'summary': _summary,
    'open_extraction': _open_extraction,
}


def draw(report: Dict[str, Any]):
  """The figure for an `evaluate_tasks` report; ValueError when it holds no
  task the chart knows."""
  tasks = report.get('tasks', {})
  drawn = [t for t in tasks if t in PANELS]
  if not drawn:
    raise ValueError(f'no task to draw in this report (tasks: {list(tasks)})')
  plt = pyplot()
  rows = (len(drawn) + 1) // 2
  fig, axes = plt.subplots(rows, 2, figsize=(9, 3.0 * rows + 0.6),
                           squeeze=False)
  flat: List[Any] = [ax for row in axes for ax in row]
  for ax, task in zip(flat, drawn):
    PANELS[task](ax, tasks[task])
  for ax in flat[len(drawn):]:
    ax.set_visible(False)
  title = f'model quality per task: {report.get("model", "?")}'
  skipped = [t for t in tasks if t not in PANELS]
  if skipped:
    title += f'\nin the report, not drawn: {", ".join(skipped)}'
  fig.suptitle(title, x=0.01, ha='left', fontsize=11, fontweight='bold')
  fig.tight_layout(rect=(0, 0, 1, 1 - 0.25 / fig.get_figheight()))
  return fig


def chart_path(report_path: Path) -> Path:
  return Path(report_path).with_suffix('.svg')


def draw_file(report_path: Path) -> Path:
  """Draws `<report>.svg` beside an `evaluate_tasks` report JSON."""
  report_path = Path(report_path)
  report = json.loads(report_path.read_text(encoding='utf-8'))
  return save_svg(draw(report), chart_path(report_path), report_path,
                  f'gliner-beam model quality: {report_path.name}')


def main(argv: Optional[Sequence[str]] = None) -> int:
  return redraw_main(argv, 'python -m selflearning.quality_chart', __doc__.split('\n')[0],
                     'JSON written by evaluate_tasks --report', draw_file)


if __name__ == '__main__':
  sys.exit(main())
