"""Reading the task file (`--tasks tasks.yaml`, JSON too).

This module only loads the document and dispatches each section to its task
type, which parses and checks its own keys (model_handler.tasks); errors
name the offending key (`qa.threshold`, `relations.relations`), so a bad
spec fails at start-up with a message the user can act on.

A checkpoint's calibrated thresholds (model_handler.task_defaults) fill the
keys a section leaves out: task file > model file > built-in default.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Mapping, Optional, Tuple

import yaml

from model_handler.tasks import TASK_TYPES, Task, TaskSpecError

__all__ = ['TaskSpecError', 'load_tasks', 'parse_task', 'parse_tasks',
           'parse_tasks_with_defaults', 'read_task_document']

# Model defaults: task name -> key -> value (TaskDefaults.tasks).
ModelDefaults = Mapping[str, Mapping[str, float]]


def parse_task(name: str, raw: Any) -> Task:
  if name not in TASK_TYPES:
    raise TaskSpecError(
        f'{name}: unknown task (known: {", ".join(TASK_TYPES)})')
  return TASK_TYPES[name].from_spec(raw)


def parse_tasks_with_defaults(
    document: Any, model_defaults: Optional[ModelDefaults] = None
) -> Tuple[Tuple[Task, ...], Dict[str, float]]:
  """The tasks of a task document, each section's missing keys filled from
  `model_defaults`; also what was taken from them (`{'qa.threshold': 0.2}`)
  for the run manifest."""
  if not isinstance(document, Mapping) or not document:
    raise TaskSpecError(
        'tasks: expected a mapping of task name -> settings, e.g. '
        '{"ner": {"labels": ["person"]}}')
  tasks, taken = [], {}
  for name, raw in document.items():
    name = str(name)
    defaults = (model_defaults or {}).get(name, {})
    if defaults and (raw is None or isinstance(raw, Mapping)):
      raw = dict(raw or {})
      for key, value in defaults.items():
        if key not in raw:
          raw[key] = value
          taken[f'{name}.{key}'] = value
    tasks.append(parse_task(name, raw))
  return tuple(tasks), taken


def parse_tasks(document: Any) -> Tuple[Task, ...]:
  return parse_tasks_with_defaults(document)[0]


class _UniqueKeyLoader(yaml.SafeLoader):
  """The safe loader, refusing a key given twice in one mapping (YAML and
  JSON parsers otherwise keep the last one silently)."""

  def construct_mapping(self, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
      key = self.construct_object(key_node, deep=deep)
      if key in seen:
        raise TaskSpecError(
            f'{key}: given twice (lines {seen[key] + 1} and '
            f'{key_node.start_mark.line + 1})')
      seen[key] = key_node.start_mark.line
    return super().construct_mapping(node, deep=deep)


def read_task_document(text: str) -> Any:
  """YAML or JSON text -> the task document (JSON is YAML; the safe loader
  is used)."""
  try:
    document = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (safe)
  except yaml.YAMLError as exc:
    try:
      document = json.loads(text)
    except ValueError:
      raise TaskSpecError(
          'tasks: not valid YAML or JSON: ' + ' '.join(str(exc).split())) from exc
  return document


def load_tasks(text: str) -> Tuple[Task, ...]:
  """YAML or JSON text -> tasks."""
  return parse_tasks(read_task_document(text))
