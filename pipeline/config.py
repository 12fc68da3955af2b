"""Start-up validation: options -> a checked, immutable JobConfig.

Everything that can be known before the pipeline starts is checked here, so a
bad flag costs one line on stderr and exit code 2, not a failed job an hour
in. Each error names the option.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Tuple

from apache_beam.io.filesystems import FileSystems

from model_handler.checkpoint import CheckpointError
from model_handler.checkpoint import resolve_model_dir
from transforms.schemas import Lineage, TABLES

SCHEMA_CHECK_FILES = 20


class OptionError(ValueError):
  """A bad option value; `option` is the flag to blame."""

  def __init__(self, option: str, message: str):
    super().__init__(f'{option}: {message}')
    self.option = option


@dataclass(frozen=True)
class JobConfig:
  input: str
  output: str
  labels: Tuple[str, ...]
  model: str
  model_id: str
  threshold: float
  flat_ner: bool
  multi_label: bool
  text_column: str
  id_column: str
  window_overlap: Optional[int]
  max_batch_tokens: int
  max_doc_chars: int
  device: str
  dtype: str
  torch_threads: Optional[int]
  large_model: bool
  run_id: str
  overwrite: bool

  def task_config(self) -> dict:
    """What determines the extracted rows (not where or how fast)."""
    return {
        'labels': list(self.labels),
        'threshold': self.threshold,
        'flat_ner': self.flat_ner,
        'multi_label': self.multi_label,
        'window_overlap': self.window_overlap,
        'text_column': self.text_column,
        'id_column': self.id_column,
    }

  def config_hash(self) -> str:
    canonical = json.dumps(self.task_config(), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]

  def lineage(self) -> Lineage:
    return Lineage(self.model_id, self.run_id, self.config_hash())

  def to_json(self) -> str:
    return json.dumps(asdict(self), sort_keys=True)


def parse_labels(raw: Optional[str]) -> Tuple[str, ...]:
  labels = []
  for label in (raw or '').split(','):
    label = ' '.join(label.split())
    if label and label not in labels:
      labels.append(label)
  return tuple(labels)


def describe_model(ref: str, model_dir: Path) -> str:
  """A short, machine-independent model id for lineage columns."""
  if not Path(ref).expanduser().is_dir():
    return ref
  digest = hashlib.sha256((model_dir / 'gliner_config.json').read_bytes())
  for weights in sorted(model_dir.glob('*.safetensors')) + sorted(
      model_dir.glob('*.bin')):
    digest.update(f'{weights.name}:{weights.stat().st_size}'.encode())
  return f'{model_dir.resolve().name}@{digest.hexdigest()[:12]}'


def _check_input(pattern: Optional[str], text_column: str) -> None:
  import pyarrow.parquet as pq
  from apache_beam.io.filesystem import CompressionTypes
  if not pattern:
    raise OptionError('--input', 'required (a Parquet file pattern)')
  try:
    matched = FileSystems.match([pattern])[0].metadata_list
  except Exception as exc:  # pylint: disable=broad-except
    raise OptionError('--input', f'cannot list {pattern!r}: {exc}') from exc
  files = sorted(m.path for m in matched)
  if not files:
    raise OptionError('--input', f'no files match {pattern!r}')
  for path in files[:SCHEMA_CHECK_FILES]:
    try:
      with FileSystems.open(
          path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        names = pq.ParquetFile(handle).schema_arrow.names
    except Exception as exc:  # pylint: disable=broad-except
      raise OptionError('--input',
                        f'{path} is not a readable Parquet file: {exc}')
    if text_column not in names:
      raise OptionError(
          '--text_column',
          f'column {text_column!r} not in {path} (columns: {names})')


def existing_outputs(output: str) -> list:
  """Parquet files already in the output tables (a rerun would mix them)."""
  existing = []
  for table in TABLES:
    pattern = FileSystems.join(output, table, '*.parquet')
    try:
      existing += [m.path for m in FileSystems.match([pattern])[0].metadata_list]
    except Exception:  # pylint: disable=broad-except
      continue  # nothing there yet
  return existing


def _check_output(output: Optional[str], overwrite: bool) -> None:
  if not output:
    raise OptionError('--output', 'required (an output directory)')
  existing = existing_outputs(output)
  if existing and not overwrite:
    raise OptionError(
        '--output',
        f'{output} already holds {len(existing)} Parquet file(s) '
        f'(e.g. {existing[0]}); use a new path or pass --overwrite')


def validate(opts) -> JobConfig:
  """Check a GlinerOptions view and return the JobConfig, or raise OptionError."""
  labels = parse_labels(opts.entity_labels)
  if not labels:
    raise OptionError('--labels', 'no labels given (e.g. "person,location")')
  if opts.threshold is None or not 0.0 <= opts.threshold <= 1.0:
    raise OptionError('--threshold', f'must be in [0, 1], got {opts.threshold}')
  for name in ('max_batch_tokens', 'max_doc_chars'):
    if getattr(opts, name) < 1:
      raise OptionError(f'--{name}', f'must be >= 1, got {getattr(opts, name)}')
  if opts.window_overlap is not None and opts.window_overlap < 0:
    raise OptionError('--window_overlap',
                      f'must be >= 0, got {opts.window_overlap}')
  if opts.torch_threads is not None and opts.torch_threads < 1:
    raise OptionError('--torch_threads',
                      f'must be >= 1, got {opts.torch_threads}')
  if not opts.text_column:
    raise OptionError('--text_column', 'must not be empty')
  try:
    model_dir = resolve_model_dir(opts.model)
  except CheckpointError as exc:
    raise OptionError('--model', str(exc)) from exc
  _check_input(opts.input, opts.text_column)
  _check_output(opts.output, opts.overwrite)
  run_id = opts.run_id or (
      datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ') +
      '-' + secrets.token_hex(3))
  return JobConfig(
      input=opts.input,
      output=opts.output,
      labels=labels,
      model=opts.model,
      model_id=describe_model(opts.model, model_dir),
      threshold=float(opts.threshold),
      flat_ner=not opts.nested_ner,
      multi_label=bool(opts.multi_label),
      text_column=opts.text_column,
      id_column=opts.id_column,
      window_overlap=opts.window_overlap,
      max_batch_tokens=opts.max_batch_tokens,
      max_doc_chars=opts.max_doc_chars,
      device=opts.device,
      dtype=opts.dtype,
      torch_threads=opts.torch_threads,
      large_model=bool(opts.large_model),
      run_id=run_id,
      overwrite=bool(opts.overwrite))
