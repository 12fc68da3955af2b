"""The model card's quality tables are built from the committed report.

Runs `selflearning.quality_tables` on docs/model_quality.json (the report the
card's tables were pasted from) and checks the numbers it prints are the
report's own, read here from the JSON, not numbers written into the test.
"""
import copy
import json

import pytest

from selflearning import quality_tables
from tests.conftest import REPO

REPORT_PATH = REPO / 'docs' / 'model_quality.json'


@pytest.fixture(scope='module')
def report():
  return json.loads(REPORT_PATH.read_text(encoding='utf-8'))


def table_rows(text: str, first_cell: str) -> list:
  """The cells of every Markdown row whose first cell is `first_cell`."""
  rows = []
  for line in text.splitlines():
    cells = [c.strip() for c in line.strip().strip('|').split('|')]
    if line.startswith('|') and cells[0] == first_cell:
      rows.append(cells)
  assert rows, f'no row {first_cell!r} in:\n{text}'
  return rows


def table_row(text: str, first_cell: str) -> list:
  return table_rows(text, first_cell)[0]


@pytest.mark.unit
def test_tables_print_the_reports_own_numbers(report, capsys):
  assert quality_tables.main([str(REPORT_PATH)]) == 0
  text = capsys.readouterr().out
  tasks = report['tasks']
  ner = tasks['ner']
  for domain in quality_tables.NER_DOMAINS:
    row = table_row(text, domain)
    assert row[1:4] == [f"{ner[domain]['precision']:.3f}",
                        f"{ner[domain]['recall']:.3f}",
                        f"**{ner[domain]['f1']:.3f}**"]
    assert row[5] == str(ner[domain]['support'])
  assert f"threshold {ner['threshold']} (the job's default)" in text
  qa = tasks['qa']['at_defaults']
  row = table_row(text, f"{qa['threshold']} (job default)")
  assert row[4] == f"**{qa['answerable_f1']:.3f}**"
  assert f"{tasks['qa']['never_answer_f1']:.3f}" in table_row(
      text, 'never answer')
  pooled = tasks['relations']['trained_types_pooled']['at_defaults']
  by_threshold, row = table_rows(text, 'trained types, pooled')
  assert by_threshold[2:] == [
      f"{v['f1']:.3f}" for _, v in sorted(
          tasks['relations']['trained_types_pooled']['by_threshold'].items(),
          key=lambda kv: float(kv[0]))]
  assert row[3] == f"**{pooled['f1']:.3f}**"
  assert row[4] == f"{pooled['tp']} / {pooled['fp']} / {pooled['fn']}"
  summary = tasks['summary']
  assert (table_row(text, f"model (threshold {summary['threshold']})")[1]
          == f"**{summary['rouge1_f']:.3f}**")
  chance = tasks['classification']['crossner_domains']
  assert table_row(text, 'CrossNER sentences → domain (zero-shot)')[3:5] == [
      f"**{chance['accuracy']:.3f}**", f"{chance['chance']:.3f}"]
  assert (table_row(text, 'mean')[3]  # NER's mean row comes first
          == f"**{ner['mean_f1']:.3f}**")


@pytest.mark.unit
def test_compare_adds_the_other_reports_numbers_and_dashes_what_it_lacks(
    report):
  before = copy.deepcopy(report)
  before['tasks']['ner']['ai']['f1'] = 0.0123
  del before['tasks']['summary']
  text = quality_tables.tables(report, before)
  assert table_row(text, 'ai')[-1] == '0.012'
  assert table_row(text, 'first sentence of the paragraph')[-1] == '–'
  assert 'F1 before' in text


@pytest.mark.unit
def test_a_task_without_a_table_is_named_and_a_broken_report_refused(
    report, tmp_path, capsys):
  extended = copy.deepcopy(report)
  extended['tasks']['many_labels'] = {'seconds': 1.0}
  assert 'Tasks without a table here: many_labels' in quality_tables.tables(
      extended)
  broken = tmp_path / 'broken.json'
  broken.write_text(json.dumps({'tasks': {'ner': {'threshold': 0.5}}}))
  assert quality_tables.main([str(broken)]) == 2
  assert 'cannot build tables' in capsys.readouterr().err
