"""Charts the docs show are current, and drawing them works.

Git keeps no file times, so "newer than its data" is checked by content: each
SVG records the sha256 of the JSON it was drawn from (common.chart_svg), and
a chart whose JSON changed since is stale. Drawing is checked on real result
files of this repository, copied so the test never rewrites them.
"""
import json
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip('matplotlib', reason='charts need the report extra')

from bench import charts as bench_charts  # noqa: E402
from common.chart_svg import chart_problem, recorded_sha256, sha256_of  # noqa: E402
from selflearning import quality_chart  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / 'README.md', *sorted((REPO / 'docs').glob('*.md'))]
IMAGE = re.compile(r'!\[[^\]]*\]\(([^)\s]+\.svg)\)')
REGENERATE = ('python -m bench.charts RESULTS.json / '
              'python -m selflearning.quality_chart REPORT.json')


def embedded_charts():
  """(markdown file, SVG path) of every SVG image the docs embed."""
  for doc in DOCS:
    for link in IMAGE.findall(doc.read_text(encoding='utf-8')):
      yield doc, (doc.parent / link).resolve()


@pytest.mark.unit
def test_every_chart_the_docs_embed_exists_and_matches_its_data():
  found = list(embedded_charts())
  assert any(doc.name == 'BENCHMARKS.md' for doc, _ in found), (
      'docs/BENCHMARKS.md embeds no chart')
  problems = [f'{doc.name}: {chart_problem(svg)}' for doc, svg in found
              if chart_problem(svg)]
  assert not problems, ('redraw with ' + REGENERATE + ':\n' +
                        '\n'.join(problems))


@pytest.mark.unit
def test_bench_chart_has_every_series_and_its_ratio(tmp_path):
  results = tmp_path / 'quick.json'
  shutil.copy(REPO / 'bench/results/2026-11-26-quick-issue14-quiet.json',
              results)
  svg = bench_charts.draw_file(results)
  assert svg == tmp_path / 'quick.svg'
  text = svg.read_text(encoding='utf-8')
  for name in ('bare gliner', 'bare gliner, same words', 'job',
               'where the time goes', 'encoder', 'beam + io + other'):
    assert f'>{name}</text>' in text, name
  # The P1 ratio of this file (job 6.3945 / bare 6.5141 docs/s), drawn as text.
  assert '(0.98× bare gliner)' in text
  # Text stays text (svg.fonttype none): no embedded glyph outlines.
  assert 'id="DejaVuSans-' not in text and 'font-family' in text
  assert recorded_sha256(svg) == sha256_of(results)
  assert chart_problem(svg) is None


@pytest.mark.unit
def test_gpu_and_proxy_results_draw_their_series(tmp_path):
  for name, expected in (
      ('2026-11-26-gpu-h100.json', ('bare gliner bf16 (batch 64)',
                                    'job bf16, budget 65536',
                                    'job, 2 model copies')),
      ('2026-12-03-proxy.json', ('bare gliner', 'job after in process'))):
    shutil.copy(REPO / 'bench/results' / name, tmp_path / name)
    text = bench_charts.draw_file(tmp_path / name).read_text(encoding='utf-8')
    for series in expected:
      assert f'>{series}</text>' in text, (name, series)


@pytest.mark.unit
def test_a_changed_json_makes_its_chart_stale(tmp_path):
  """The check itself can fail: new data, old chart; and a deleted chart."""
  report = tmp_path / 'quality.json'
  shutil.copy(REPO / 'docs/model_quality.json', report)
  svg = quality_chart.draw_file(report)
  assert chart_problem(svg) is None
  data = json.loads(report.read_text(encoding='utf-8'))
  data['tasks']['summary']['rouge1_f'] = 0.1
  report.write_text(json.dumps(data), encoding='utf-8')
  assert 'stale' in chart_problem(svg)
  svg.unlink()
  assert 'missing' in chart_problem(svg)


@pytest.mark.unit
def test_quality_chart_draws_each_task_and_names_unknown_ones(tmp_path):
  data = json.loads((REPO / 'docs/model_quality.json').read_text('utf-8'))
  data['tasks']['new_task'] = {'score': 1.0}
  report = tmp_path / 'q.json'
  report.write_text(json.dumps(data), encoding='utf-8')
  text = quality_chart.draw_file(report).read_text(encoding='utf-8')
  for title in ('ner: exact-span P/R/F1 per CrossNER domain',
                'qa: SQuAD F1 by threshold', 'all_f1 of never answering',
                'classification: accuracy against chance', 'chance',
                'summary: ROUGE-1 F against the lead sentence'):
    assert f'>{title}</text>' in text, title
  assert 'not drawn: new_task' in text


@pytest.mark.unit
def test_results_without_job_numbers_are_refused(tmp_path, capsys):
  results = tmp_path / 'other.json'
  results.write_text(json.dumps({'meta': {}, 'seconds': {}}), encoding='utf-8')
  assert bench_charts.main([str(results)]) == 2
  assert 'no job vs bare gliner numbers' in capsys.readouterr().err
  assert not results.with_suffix('.svg').exists()
