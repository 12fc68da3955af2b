"""The run report page (pipeline.report): built by real job runs on a
tiny model, its numbers checked against pyarrow reads of the committed
files, hostile text escaped, the change against the previous run also after
an --overwrite deleted that run's files, bounded memory on a generated
10,000,000-row table, gs:// through the GCS emulator, and the page opened in
headless Chromium (Debian's `chromium`; skipped, saying why, without it).
"""
import html
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.compute as pc
import pytest

from pipeline import report as run_report
from pipeline.table_log import latest_state
from tests.conftest import REPO, read_table, run_cli, write_parquet

HOSTILE = '<img src=x onerror=alert(1)>'
HOSTILE_2 = '</script><script>alert(2)</script>'
TEXTS = ['Marie Curie worked in Paris with Pierre Curie.',
         'Acme Corp hired Jane Doe, who was born in Oslo.',
         'Rome is older than Berlin and Vienna.',
         'Ada Lovelace wrote notes in London.']


def job(inputs, output, model, run_id, labels):
  """A run with these NER labels (from a task file: `--labels` would take
  a value holding `=` for a Dataflow job label)."""
  tasks = output.parent / f'{run_id}.json'
  tasks.write_text(json.dumps({'ner': {'labels': labels,
                                       'threshold': 0.05}}))
  return run_cli(['--input', inputs, '--output', output, '--model', model,
                  '--tasks', tasks, '--run_id', run_id, '--overwrite'])


@pytest.fixture(scope='module')
def two_runs(marker_model, tmp_path_factory):
  """Run r1 (a hostile label, a row that is dead-lettered, a hostile file
  name), then r2 with --overwrite and other labels: r1's files are gone."""
  root = tmp_path_factory.mktemp('report')
  inputs = root / 'in'
  write_parquet(inputs / 'docs <u>1.parquet',
                {'id': ['a', 'b', 'c', 'd', 'e'],
                 'text': TEXTS + ['   ']})
  output = root / 'out'
  pattern = inputs / '*.parquet'
  assert job(pattern, output, marker_model, 'r1',
             ['person', 'location', HOSTILE, HOSTILE_2]) == 0
  first_page = Path(run_report.report_path(str(output), 'r1'))
  first_html = first_page.read_text(encoding='utf-8')
  first_entities = read_table(output, 'entities')
  assert job(pattern, output, marker_model, 'r2',
             ['person', 'organization']) == 0
  return {'output': output, 'r1_html': first_html,
          'r1_entities': first_entities, 'r2': Path(run_report.report_path(
              str(output), 'r2'))}


def test_the_page_holds_the_committed_counts(two_runs):
  page = two_runs['r1_html']
  agg = run_report.page_aggregates(page)
  entities = two_runs['r1_entities']
  labels = {v['values']: v['counts'] for v in
            pc.value_counts(entities.column('label')).to_pylist()}
  assert labels and agg['tasks']['ner']['counts'] == labels
  assert agg['rows']['entities'] == entities.num_rows
  assert agg['rows']['dead_letter'] == 1
  assert agg['dead_letters']['whole_rows'] == 1
  assert agg['rows']['documents'] == 4
  assert sum(agg['tasks']['ner']['histogram']) == entities.num_rows
  assert agg['tasks']['ner']['threshold'] == 0.05
  assert agg['manifest']['measurements']['documents_read'] == 5
  for label, count in labels.items():  # every label and count is shown
    assert f'<td>{html.escape(label)}</td>' in page
  assert f'{entities.num_rows:,}' in page
  assert page.count('<svg') >= 4  # rows per table, ner bars + hist, dead
  # Nothing to fetch: no URL in any src/href, and a policy that forbids it.
  assert not re.findall(r'(?:src|href)\s*=\s*["\']?\s*(?:[a-z]+:|//)',
                        page, flags=re.I)
  assert "default-src 'none'" in page


def test_hostile_text_is_escaped(two_runs):
  page = two_runs['r1_html']
  labels = set(two_runs['r1_entities'].column('label').to_pylist())
  assert HOSTILE in labels, 'the tiny model found no hostile-label entity'
  assert html.escape(HOSTILE) in page
  assert '<img' not in page and '<u>' not in page
  assert 'docs &lt;u&gt;1.parquet#4' in page  # the dead letter's source
  assert 'alert(2)' in page  # present, but only as text:
  assert '<script>' not in page
  scripts = re.findall(r'<script[^>]*>', page)
  assert scripts == [f'<script type="application/json" '
                     f'id="{run_report.AGGREGATES_ID}">']
  assert run_report.page_aggregates(page)['run_id'] == 'r1'


def test_the_change_survives_an_overwrite(two_runs):
  output = str(two_runs['output'])
  assert latest_state(output).run_ids() == ['r2']  # r1's files are gone
  page = two_runs['r2'].read_text(encoding='utf-8')
  agg = run_report.page_aggregates(page)
  before = run_report.page_aggregates(two_runs['r1_html'])
  now = read_table(two_runs['output'], 'entities')
  assert agg['rows']['entities'] == now.num_rows
  section = page.split('Change against the previous run', 1)[1]
  assert 'Previous committed run: <code>r1</code>' in section
  then = set(two_runs['r1_entities'].column('label').to_pylist())
  gone = sorted(then - set(now.column('label').to_pylist()))
  new = sorted(set(now.column('label').to_pylist()) - then)
  assert gone, 'r2 (other labels) should have lost some of r1\'s labels'
  assert 'new: ' + (html.escape(', '.join(new)) or 'none') in section
  assert 'disappeared: ' + html.escape(', '.join(gone)) in section
  assert (f'<td>entities</td><td class="n">'
          f'{before["rows"]["entities"]:,}</td><td class="n">'
          f'{now.num_rows:,}</td>') in section


def test_cli_rebuilds_and_refuses_a_replaced_run(two_runs, capsys):
  output = str(two_runs['output'])
  assert run_report.main([output]) == 0
  assert capsys.readouterr().out.strip() == (
      f'run report: {two_runs["r2"]}')
  assert run_report.main([output, '--run_id', 'r1']) == 2
  assert '--overwrite replaced its files' in capsys.readouterr().err
  assert run_report.main([output, '--run_id', 'nope']) == 2


def test_report_on_gcs(two_runs, tmp_path):
  pytest.importorskip('gcp_storage_emulator',
                      reason='gcp-storage-emulator is not installed')
  from tests.emulators import gcs_emulator
  from pipeline.objectstore import store_for
  bucket = 'gliner-beam-report'
  output = f'gs://{bucket}/out'
  local = two_runs['output']
  with gcs_emulator(bucket):
    store = store_for(output)
    for path in sorted(local.rglob('*')):
      if path.is_file() and not path.name.endswith('.html'):
        store.put(f'{output}/{path.relative_to(local)}', path.read_bytes())
    assert run_report.main([output]) == 0
    page = store.read(f'{output}/_runs/r2.html').decode('utf-8')
  agg = run_report.page_aggregates(page)
  assert agg['rows'] == run_report.page_aggregates(
      two_runs['r2'].read_text(encoding='utf-8'))['rows']
  # r1's page was not uploaded and its files are gone: said so.
  assert 'run r1 has no report page' in page


@pytest.mark.unit
def test_inert_json_cannot_end_its_script_element():
  value = {'label': '</script><script>alert(1)</script> & <!--'}
  page = (f'<script type="application/json" id="{run_report.AGGREGATES_ID}">'
          f'{run_report.json_inert(value)}</script>')
  assert page.count('<') == 2  # the element's own tags only
  assert run_report.page_aggregates(page) == value


@pytest.mark.unit
def test_rare_categories_fold_into_other():
  counts = Counter({f'q{i}': i for i in range(1, 11)})
  assert run_report.fold(counts, 3)
  assert counts == {'q10': 10, 'q9': 9, 'q8': 8, run_report.OTHER: 28}
  assert not run_report.fold(counts, 4)


LARGE = r'''
import json, sys
from bench import report_scale
sizes = report_scale.write_output(sys.argv[1], {
    'entities': 10_000_000, 'documents': 1000, 'dead_letter': 10}, 1000)
print(json.dumps(sizes))
'''


@pytest.fixture()
def large_output(tmp_path):
  output = tmp_path / 'large'
  yield str(output)
  shutil.rmtree(output, ignore_errors=True)  # hundreds of MiB on disk


def test_memory_stays_bounded_on_ten_million_rows(large_output):
  output = large_output
  made = subprocess.run([sys.executable, '-c', LARGE, output], cwd=REPO,
                        capture_output=True, text=True, timeout=300)
  assert made.returncode == 0, made.stderr[-3000:]
  sizes = json.loads(made.stdout.strip().splitlines()[-1])
  from bench.report_scale import measure_in_fresh_process
  result = measure_in_fresh_process(output)
  print(f'\n10 M entity rows ({sizes["entities"] / 2**20:.0f} MiB as '
        f'Arrow): page {result["page_kib"]} KiB in {result["build_seconds"]}'
        f' s, Arrow peak {result["arrow_peak_bytes"] / 2**20:.1f} MiB')
  assert result['arrow_peak_bytes'] < sizes['entities'] / 4
  agg = run_report.page_aggregates(
      Path(result['page']).read_text(encoding='utf-8'))
  assert sum(agg['tasks']['ner']['counts'].values()) == 10_000_000
  assert sum(agg['tasks']['ner']['histogram']) == 10_000_000


# ---------------------------------------------------------------- browser

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')


def browse(page: Path, profile: Path, *flags: str):
  """Headless Chromium, offline, on a local page; -> (DOM, console lines)."""
  if CHROMIUM is None:
    pytest.skip('chromium is not installed (Debian: apt-get install '
                'chromium; .ci/run installs it when it runs as root)')
  done = subprocess.run(
      [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu',
       '--disable-quic', '--no-first-run', '--disable-background-networking',
       '--disable-component-update', '--disable-sync', '--hide-scrollbars',
       f'--user-data-dir={profile}', '--enable-logging=stderr', '--v=0',
       *flags, page.resolve().as_uri()],
      capture_output=True, text=True, timeout=120)
  assert done.returncode == 0, done.stderr[-3000:]
  console = [line for line in done.stderr.splitlines() if ':CONSOLE' in line]
  return done.stdout, console


def test_control_page_shows_the_console_check_can_fail(tmp_path):
  bad = tmp_path / 'bad.html'
  bad.write_text('<!DOCTYPE html><html><body><p>x</p>'
                 '<script>undefined_function();</script></body></html>')
  _, console = browse(bad, tmp_path / 'profile', '--dump-dom')
  assert any('undefined_function' in line for line in console), console


def test_page_renders_in_chromium(two_runs, tmp_path):
  page = two_runs['r2']
  text = page.read_text(encoding='utf-8')
  dom, console = browse(page, tmp_path / 'profile', '--dump-dom')
  assert console == []
  assert dom.count('<svg') == text.count('<svg') >= 4
  assert '<img' not in dom
  assert 'Change against the previous run' in dom
  shot = tmp_path / 'report.png'
  _, console = browse(page, tmp_path / 'profile',
                      f'--screenshot={shot}', '--window-size=1280,2400')
  assert console == []
  assert shot.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
  assert shot.stat().st_size > 20_000  # a page, not a blank canvas
  print(f'\nscreenshot: {shot} ({os.path.getsize(shot)} bytes)')
