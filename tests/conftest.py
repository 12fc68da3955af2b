"""Shared fixtures: offline tiny models, the embedded model, job runner.

Every test runs offline (HF_HUB_OFFLINE=1) and any gliner truncation warning
is turned into an error by pytest.ini, so a window that does not fit fails
the test instead of silently losing text.
"""
from __future__ import annotations

import os

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')

from pathlib import Path  # noqa: E402
from typing import Dict, List  # noqa: E402

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pytest  # noqa: E402

from bench.tiny_models import tiny_model_dir  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / 'models' / 'gliner-multitask-minilm-l6'
SAMPLE_DIR = REPO / 'data' / 'sample'
CROSSNER = REPO.parent / 'shared' / 'data' / 'crossner'


@pytest.fixture(scope='session')
def model_cache(tmp_path_factory) -> Path:
  return tmp_path_factory.mktemp('models')


@pytest.fixture(scope='session')
def marker_model(model_cache) -> Path:
  """Tiny random markerV0 model: max_len 64 words, 192 subwords."""
  return tiny_model_dir('markerV0', model_cache)


@pytest.fixture(scope='session')
def token_model(model_cache) -> Path:
  """Tiny random token_level model: max_len 64 words, 192 subwords."""
  return tiny_model_dir('token_level', model_cache)


@pytest.fixture(scope='session')
def default_model() -> Path:
  if not (DEFAULT_MODEL / 'gliner_config.json').is_file():
    pytest.fail(f'embedded default model missing at {DEFAULT_MODEL}')
  return DEFAULT_MODEL


def write_parquet(path: Path, columns: Dict[str, List], schema=None) -> Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  pq.write_table(pa.table(columns, schema=schema), path)
  return path


def read_table(output: Path, table: str) -> pa.Table:
  """A batch output's committed rows, as a reader should get them: the
  files of the latest commit-log version (pipeline.readers)."""
  from pipeline.table_log import committed_files, is_managed
  assert is_managed(str(output)), f'no committed run in {output}'
  files = committed_files(str(output), table)
  assert files, f'no committed Parquet files of {table} in {output}'
  return pa.concat_tables(pq.read_table(f) for f in files)


def run_cli(argv: List[str]) -> int:
  """Run the job in-process exactly as `python -m pipeline` would."""
  from pipeline.run import main
  return main([str(a) for a in argv])
