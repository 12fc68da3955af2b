"""Thresholds a checkpoint was calibrated for: its `task_defaults.json`.

The right score threshold depends on the checkpoint (the embedded model
answers questions best near 0.2, not at the task's built-in 0.5), so a model
directory may carry the values it was calibrated for:

    {"format": 1,
     "tasks": {"qa": {"threshold": 0.2},
               "relations": {"ner_threshold": 0.3, "relation_threshold": 0.2}},
     "calibration": {...free-form provenance...}}

The job uses them where the task file sets none (task file > model file >
built-in default). Only the threshold keys of known tasks are accepted (read
from each task's own key parsers, so a new task's thresholds are known
without a list here); anything else is refused at start-up with the file
and the key named, never ignored: a typo would otherwise silently change
results.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Mapping, Optional, Tuple

from model_handler.checkpoint import CheckpointError, resolve_model_dir
from model_handler.tasks import TASK_TYPES
from model_handler.tasks import keys as spec

FILE_NAME = 'task_defaults.json'
FORMAT = 1
TOP_LEVEL_KEYS = ('format', 'tasks', 'calibration')
# Far above any real file (a few hundred bytes plus provenance): a larger one
# is not what the job expects to read at start-up.
MAX_BYTES = 1 << 20


class TaskDefaultsError(ValueError):
  """A task_defaults.json the job refuses; the message names file and key."""


@dataclass(frozen=True)
class TaskDefaults:
  """Task name -> threshold key -> value, and the file they came from
  (None: the checkpoint carries no file)."""
  tasks: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
  source: Optional[str] = None

  def for_task(self, name: str) -> Dict[str, float]:
    return dict(self.tasks.get(name, {}))


NONE = TaskDefaults()


def threshold_keys(task_name: str) -> Tuple[str, ...]:
  """The task-file keys of `task_name` that are score thresholds."""
  return tuple(key for key, parser in TASK_TYPES[task_name].keys.items()
               if parser.parse is spec.threshold)


def _unique_keys(pairs):
  seen = {}
  for key, value in pairs:
    if key in seen:
      raise TaskDefaultsError(f'{key}: given twice')
    seen[key] = value
  return seen


def parse_task_defaults(text: str, source: str) -> TaskDefaults:
  """The file's text -> TaskDefaults; TaskDefaultsError names `source` and
  the offending key."""

  def refuse(message: str) -> TaskDefaultsError:
    return TaskDefaultsError(f'{source}: {message}')

  try:
    document = json.loads(text, object_pairs_hook=_unique_keys)
  except TaskDefaultsError as exc:
    raise refuse(str(exc)) from exc
  except ValueError as exc:
    raise refuse(f'not valid JSON: {exc}') from exc
  if not isinstance(document, dict):
    raise refuse('expected a JSON object {"format": 1, "tasks": {...}}')
  for key in document:
    if key not in TOP_LEVEL_KEYS:
      raise refuse(f'{key}: unknown key (known: {", ".join(TOP_LEVEL_KEYS)})')
  if type(document.get('format')) is not int or document['format'] != FORMAT:
    raise refuse(f'format: expected {FORMAT}, got '
                 f'{json.dumps(document.get("format"))}')
  tasks = document.get('tasks', {})
  if not isinstance(tasks, dict):
    raise refuse('tasks: expected an object of task name -> thresholds')
  parsed: Dict[str, Dict[str, float]] = {}
  for name, values in tasks.items():
    if name not in TASK_TYPES:
      raise refuse(f'tasks.{name}: unknown task (known: '
                   f'{", ".join(TASK_TYPES)})')
    if not isinstance(values, dict):
      raise refuse(f'tasks.{name}: expected an object of threshold -> value')
    known = threshold_keys(name)
    parsed[name] = {}
    for key, value in values.items():
      if key not in known:
        raise refuse(f'tasks.{name}.{key}: not a threshold of {name} '
                     f'(known: {", ".join(known)})')
      try:
        parsed[name][key] = spec.threshold(f'tasks.{name}.{key}', value)
      except spec.TaskSpecError as exc:
        raise refuse(str(exc)) from exc
  return TaskDefaults({n: v for n, v in parsed.items() if v}, source)


def _read_remote(ref: str) -> Optional[Tuple[str, bytes]]:
  """(path, bytes) of a remote checkpoint's file, read in place (the
  weights are not downloaded), or None when it has none. A store that cannot
  be listed counts as no file: the model check reports that store."""
  from apache_beam.io.filesystems import FileSystems
  path = ref.rstrip('/') + '/' + FILE_NAME
  try:
    if not FileSystems.exists(path):
      return None
  except Exception:  # pylint: disable=broad-except
    return None
  try:
    with FileSystems.open(path) as handle:
      return path, handle.read(MAX_BYTES + 1)
  except Exception as exc:  # pylint: disable=broad-except
    raise TaskDefaultsError(f'{path}: cannot read: {exc}') from exc


def _read_local(ref: str,
                revision: Optional[str]) -> Optional[Tuple[str, bytes]]:
  """A local directory's file, or a hub checkpoint's as the snapshot holds
  it (offline: the cached snapshot; no file there means none). A reference
  that names no checkpoint has none: the model check reports it."""
  try:
    model_dir = resolve_model_dir(ref, revision)
  except CheckpointError:
    return None
  path = Path(model_dir) / FILE_NAME
  if not path.is_file():
    return None
  try:
    with open(path, 'rb') as handle:
      return str(path), handle.read(MAX_BYTES + 1)
  except OSError as exc:
    raise TaskDefaultsError(f'{path}: cannot read: {exc}') from exc


def read_task_defaults(ref: str,
                       revision: Optional[str] = None) -> TaskDefaults:
  """The defaults the checkpoint `ref` carries (a local directory, a
  `gs://` one or a hub id); NONE when it carries no file."""
  if '://' in ref:
    found = _read_remote(ref)
  else:
    found = _read_local(ref, revision)
  if found is None:
    return NONE
  path, data = found
  if len(data) > MAX_BYTES:
    raise TaskDefaultsError(f'{path}: larger than {MAX_BYTES} bytes')
  try:
    text = data.decode('utf-8')
  except UnicodeDecodeError as exc:
    raise TaskDefaultsError(f'{path}: not UTF-8 text: {exc}') from exc
  return parse_task_defaults(text, path)
