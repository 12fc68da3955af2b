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


def load_tasks(text: str) -> Tuple[Task, ...]:
  """YAML or JSON text -> tasks (JSON is YAML; the safe loader is used)."""
  try:
    document = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (safe)
  except yaml.YAMLError as exc:
    try:
      document = json.loads(text)
    except ValueError:
      raise TaskSpecError(
          'tasks: not valid YAML or JSON: ' + ' '.join(str(exc).split())) from exc
  return parse_tasks(document)
