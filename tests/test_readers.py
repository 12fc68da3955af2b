"""The README's "Reading the outputs" snippets, run exactly as written against
a real output: two committed runs of the job (FnApiRunner, a tiny model, the
Iceberg sink), the second `--incremental` after one input row changed, so
that row has a version in each run and must show once, from the newer run.

The code is taken from README.md itself (the python blocks between the
`reading-outputs:begin` and `:end` markers), so the README cannot drift from
what is tested; without the section this test fails.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import run_cli, write_parquet

REPO = Path(__file__).resolve().parent.parent
README = REPO / 'README.md'
SECTION = re.compile(
    r'<!-- reading-outputs:begin.*?-->(.*?)<!-- reading-outputs:end -->', re.S)
BLOCK = re.compile(r'```python\n(.*?)```', re.S)
TEXTS = ['Marie Curie worked in Paris with Pierre Curie.',
         'Acme Corp hired Jane Doe, who was born in Oslo.',
         'Rome is older than Berlin and Vienna.']
CHANGED = 1  # the input row enriched again by the second run
KEY = ('source', 'run_id', 'start', 'end', 'label', 'text')


def readme_snippets():
  """library -> the README's snippet for it."""
  found = SECTION.search(README.read_text(encoding='utf-8'))
  assert found, ('README.md has no "Reading the outputs" section between '
                 '<!-- reading-outputs:begin --> and <!-- reading-outputs:end '
                 '--> markers')
  snippets = {}
  for code in BLOCK.findall(found.group(1)):
    library = ('pyiceberg' if 'pyiceberg' in code else
               'duckdb' if 'import duckdb' in code else
               'pyarrow' if 'import pyarrow' in code else None)
    assert library and library not in snippets, code
    snippets[library] = code
  assert set(snippets) == {'duckdb', 'pyarrow', 'pyiceberg'}, list(snippets)
  return snippets


@pytest.fixture(scope='module')
def output(marker_model, tmp_path_factory):
  """A folder holding `out/sample` (the path the snippets read): run night1,
  then night2 --incremental after row CHANGED changed; both --sink iceberg."""
  readme_snippets()  # no section, no job runs: fail at once
  root = tmp_path_factory.mktemp('readers')
  inputs = root / 'in' / 'docs.parquet'
  out = root / 'out' / 'sample'
  common = ['--input', inputs, '--output', out, '--model', marker_model,
            '--labels', 'person,location', '--threshold', '0.3',
            '--sink', 'iceberg', '--incremental']
  write_parquet(inputs, {'id': ['a', 'b', 'c'], 'text': TEXTS})
  assert run_cli([*common, '--run_id', 'night1']) == 0
  changed = list(TEXTS)
  changed[CHANGED] = 'Acme Corp moved from Oslo to Bergen with Jane Doe.'
  write_parquet(inputs, {'id': ['a', 'b', 'c'], 'text': changed})
  assert run_cli([*common, '--run_id', 'night2']) == 0
  return root


def committed_entities(root: Path):
  from pipeline.readers import read_table
  return read_table(str(root / 'out' / 'sample'), 'entities').to_pylist()


def latest_entities(root: Path) -> Counter:
  """What a reader must get: the changed row's entities from night2 only,
  the others' from night1 (computed from all committed rows)."""
  rows = committed_entities(root)
  changed = f'docs.parquet#{CHANGED}'
  both = {r['run_id'] for r in rows if r['source'].endswith(changed)}
  assert both == {'night1', 'night2'}, (
      'the changed row needs entities in both runs for the check to bite')
  return Counter(tuple(r[k] for k in KEY) for r in rows
                 if (r['run_id'] == 'night2') == r['source'].endswith(changed))


def run_snippet(name: str, root: Path, monkeypatch, capsys) -> dict:
  monkeypatch.chdir(root)
  namespace: dict = {'__name__': f'readme_{name}'}
  exec(compile(readme_snippets()[name], f'README.md ({name} snippet)', 'exec'),
       namespace)  # pylint: disable=exec-used
  namespace['printed'] = capsys.readouterr().out
  return namespace


def test_duckdb_snippet_shows_the_latest_version_of_each_row(
    output, monkeypatch, capsys):
  ns = run_snippet('duckdb', output, monkeypatch, capsys)
  relation = ns['entities']
  rows = [dict(zip(relation.columns, r)) for r in relation.fetchall()]
  assert Counter(tuple(r[k] for k in KEY) for r in rows) == latest_entities(
      output)
  assert 'run' not in relation.columns  # the partition column is dropped
  assert 'person' in ns['printed']


def test_pyarrow_snippet_shows_the_latest_version_of_each_row(
    output, monkeypatch, capsys):
  ns = run_snippet('pyarrow', output, monkeypatch, capsys)
  rows = ns['entities'].to_pylist()
  assert Counter(tuple(r[k] for k in KEY) for r in rows) == latest_entities(
      output)
  assert 'person' in ns['printed']


def test_pyiceberg_snippet_reads_the_committed_rows(output, monkeypatch,
                                                    capsys):
  ns = run_snippet('pyiceberg', output, monkeypatch, capsys)
  want = Counter(tuple(r[k] for k in KEY) for r in committed_entities(output)
                 if r['label'] == 'person')
  assert want, 'no person entity committed: nothing compared'
  got = Counter(tuple(r[k] for k in KEY) for r in ns['entities'].to_pylist())
  assert got == want
  assert f'{sum(want.values())} person entities in 2 snapshots' in ns['printed']
