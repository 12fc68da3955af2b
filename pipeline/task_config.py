"""Reading the task file (`--tasks tasks.yaml`, JSON too).

This module only loads the document and dispatches each section to its task
type, which parses and checks its own keys (model_handler.tasks); errors
name the offending key (`qa.threshold`, `relations.relations`), so a bad
spec fails at start-up with a message the user can act on.
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Tuple

import yaml

from model_handler.tasks import TASK_TYPES, Task, TaskSpecError

__all__ = ['TaskSpecError', 'load_tasks', 'parse_task', 'parse_tasks']


def parse_task(name: str, raw: Any) -> Task:
  if name not in TASK_TYPES:
    raise TaskSpecError(
        f'{name}: unknown task (known: {", ".join(TASK_TYPES)})')
  return TASK_TYPES[name].from_spec(raw)


def parse_tasks(document: Any) -> Tuple[Task, ...]:
  if not isinstance(document, Mapping) or not document:
    raise TaskSpecError(
        'tasks: expected a mapping of task name -> settings, e.g. '
        '{"ner": {"labels": ["person"]}}')
  return tuple(parse_task(str(name), raw) for name, raw in document.items())


def load_tasks(text: str) -> Tuple[Task, ...]:
  """YAML or JSON text -> tasks (JSON is YAML; the safe loader is used)."""
  try:
    document = yaml.safe_load(text)
  except yaml.YAMLError as exc:
    try:
      document = json.loads(text)
    except ValueError:
      raise TaskSpecError(
          'tasks: not valid YAML or JSON: ' + ' '.join(str(exc).split())) from exc
  return parse_tasks(document)
