"""The layering of the code base, checked by parsing every module's imports.

Imports go one way: `common` (records, schemas, metric names, text rules) ->
the model side (`model_handler`) -> `transforms` -> `pipeline` -> the tools
on top (`selflearning`, then `bench`, `scripts`, `templates`) -> `tests`.
A module may import its own package or lower layers only, so the job's
runtime never drags in tools or tests, and a change in a tool can never break
the job.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

REPO = Path(__file__).resolve().parent.parent

LAYERS = {
    'common': 0,
    'model_handler': 1,
    'transforms': 2,
    'pipeline': 3,
    'selflearning': 4,
    'bench': 5,
    'scripts': 5,
    'templates': 5,
    'tests': 6,
}


def project_modules() -> Iterator[Path]:
  for package in LAYERS:
    root = REPO / package
    if root.is_dir():
      yield from sorted(p for p in root.rglob('*.py') if '_probe' not in p.parts)


def imported_packages(path: Path) -> Iterator[Tuple[int, str]]:
  """(line, top-level package) of every import in the module, including the
  ones inside functions."""
  tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        yield node.lineno, alias.name.split('.')[0]
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      yield node.lineno, node.module.split('.')[0]


def wrong_way_imports() -> List[str]:
  problems = []
  for path in project_modules():
    package = path.relative_to(REPO).parts[0]
    layer = LAYERS[package]
    for line, imported in imported_packages(path):
      if imported not in LAYERS or imported == package:
        continue
      if LAYERS[imported] >= layer:
        problems.append(f'{path.relative_to(REPO)}:{line} imports {imported} '
                        f'(layer {LAYERS[imported]} >= {package}, layer '
                        f'{layer})')
  return problems


@pytest.mark.unit
def test_every_import_goes_down_the_layers():
  problems = wrong_way_imports()
  assert not problems, 'imports going the wrong way:\n' + '\n'.join(problems)


@pytest.mark.unit
def test_the_checker_sees_a_wrong_way_import(tmp_path, monkeypatch):
  """The check itself can fail: a model-side module importing pipeline."""
  fake_repo = tmp_path
  (fake_repo / 'model_handler').mkdir()
  (fake_repo / 'model_handler' / 'bad.py').write_text(
      'def f():\n  from pipeline.metrics import NAMESPACE\n  return NAMESPACE\n')
  monkeypatch.setattr(sys.modules[__name__], 'REPO', fake_repo)
  assert wrong_way_imports() == [
      'model_handler/bad.py:2 imports pipeline (layer 3 >= model_handler, '
      'layer 1)'
  ]


@pytest.mark.unit
def test_module_names_say_what_they_hold():
  """No two modules share a file name across packages (two merge.py or
  run.py made paths ambiguous); __init__/__main__ excepted."""
  seen = {}
  clashes = []
  for path in project_modules():
    if path.parts[-2:-1] == ('tests', ) or path.name.startswith('__'):
      continue
    if path.name in seen:
      clashes.append(f'{seen[path.name]} and {path.relative_to(REPO)}')
    seen[path.name] = path.relative_to(REPO)
  assert not clashes, clashes


def test_importing_the_job_has_no_side_effects():
  """Importing the job's packages must not patch Beam's GCS credentials (that
  happens where a job starts), even with an emulator configured."""
  code = ('import model_handler.tasks, transforms.sinks, pipeline.build\n'
          'from apache_beam.internal.gcp import auth\n'
          'print(auth._Credentials._credentials_init)\n')
  env = dict(os.environ, STORAGE_EMULATOR_HOST='http://127.0.0.1:9')
  out = subprocess.run([sys.executable, '-c', code], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120, check=True)
  assert out.stdout.strip() == 'False', out.stderr[-2000:]


def indentation_steps(path: Path) -> Iterator[Tuple[int, int]]:
  """(line, step) of every block indentation that is not 2 spaces deeper."""
  import io
  import tokenize
  levels = [0]
  source = path.read_text(encoding='utf-8')
  for token in tokenize.generate_tokens(io.StringIO(source).readline):
    if token.type == tokenize.INDENT:
      width = len(token.string.expandtabs(8))
      if width - levels[-1] != 2:
        yield token.start[0], width - levels[-1]
      levels.append(width)
    elif token.type == tokenize.DEDENT:
      levels.pop()


@pytest.mark.unit
def test_one_indentation_style():
  """Blocks are indented by 2 spaces everywhere (ruff's own indentation
  rules only know 4)."""
  problems = []
  for path in project_modules():
    steps = list(indentation_steps(path))
    if steps:
      line, step = steps[0]
      problems.append(f'{path.relative_to(REPO)}:{line} indents by {step} '
                      f'({len(steps)} such blocks)')
  assert not problems, '\n'.join(problems)
