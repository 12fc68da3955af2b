"""The tools' progress line: it names the running step, counts steps done and
writes to stderr, so a tool's stdout (its result) stays clean."""
import io

import pytest

from common.progress_line import progress


@pytest.mark.unit
def test_names_each_step_while_it_runs_and_counts_them():
  out = io.StringIO()
  seen = []
  for item in progress(['qa', 'ner', 'relations'], 'evaluate_tasks',
                       label=str.upper, file=out):
    # The line already names the step being worked on.
    seen.append(out.getvalue().rsplit('\r', 1)[-1])
  assert seen[0].startswith('[0/3] evaluate_tasks: QA (')
  assert seen[1].startswith('[1/3] evaluate_tasks: NER (')
  assert seen[2].startswith('[2/3] evaluate_tasks: RELATIONS (')
  final = out.getvalue().rstrip().rsplit('\r', 1)[-1]
  assert final.startswith('[3/3] evaluate_tasks: done (')
  assert 'elapsed' in final and 'left)' in final


@pytest.mark.unit
def test_goes_to_stderr_and_yields_every_item(capsys):
  got = list(progress(iter(range(4)), 'bench'))  # no len(): total unknown
  captured = capsys.readouterr()
  assert got == [0, 1, 2, 3]
  assert captured.out == ''
  assert '[4/?] bench: done' in captured.err
