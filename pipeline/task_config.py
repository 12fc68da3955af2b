"""Parsing and checking the task file (`--tasks tasks.yaml`, JSON too).

Each error names the offending key (`qa.threshold`, `relations.relations`),
so a bad spec fails at start-up with a message the user can act on.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Mapping, Tuple

import yaml

from model_handler.tasks import TASK_TYPES, Task
from model_handler.tasks.base import plain_labels


class TaskSpecError(ValueError):
  """A bad task spec; the message starts with the key."""


def _labels(key: str, value: Any) -> Tuple[Tuple[str, str], ...]:
  """A list of labels, or a mapping label -> description (the prompt)."""
  if isinstance(value, Mapping):
    pairs = []
    for name, prompt in value.items():
      if not isinstance(name, str) or not name.strip():
        raise TaskSpecError(f'{key}: label names must be non-empty strings')
      if prompt is None:
        prompt = name
      if not isinstance(prompt, str) or not prompt.strip():
        raise TaskSpecError(f'{key}.{name}: description must be a string')
      pairs.append((name.strip(), ' '.join(prompt.split())))
    if not pairs:
      raise TaskSpecError(f'{key}: no labels given')
    return tuple(pairs)
  return plain_labels(_strings(key, value))


def _strings(key: str, value: Any) -> Tuple[str, ...]:
  if isinstance(value, str):
    value = [v for v in value.split(',')]
  if not isinstance(value, (list, tuple)):
    raise TaskSpecError(f'{key}: expected a list of strings')
  out: List[str] = []
  for item in value:
    if not isinstance(item, str):
      raise TaskSpecError(f'{key}: {item!r} is not a string')
    item = ' '.join(item.split())
    if item and item not in out:
      out.append(item)
  if not out:
    raise TaskSpecError(f'{key}: no values given')
  return tuple(out)


def _threshold(key: str, value: Any) -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise TaskSpecError(f'{key}: expected a number in [0, 1]')
  if not 0.0 <= float(value) <= 1.0:
    raise TaskSpecError(f'{key}: must be in [0, 1], got {value}')
  return float(value)


def _bool(key: str, value: Any) -> bool:
  if not isinstance(value, bool):
    raise TaskSpecError(f'{key}: expected true or false')
  return value


def _positive_int(key: str, value: Any) -> int:
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise TaskSpecError(f'{key}: expected an integer >= 1')
  return value


def _text(key: str, value: Any) -> str:
  if not isinstance(value, str) or not value.strip():
    raise TaskSpecError(f'{key}: expected a non-empty string')
  return value.strip()


# Per task: key -> (parser, required).
_KEYS: Dict[str, Dict[str, Tuple[Callable, bool]]] = {
    'ner': {
        'labels': (_labels, False),
        'labels_column': (_text, False),
        'threshold': (_threshold, False),
        'flat_ner': (_bool, False),
        'multi_label': (_bool, False),
    },
    'relations': {
        'relations': (_strings, True),
        'entity_labels': (_labels, False),
        'ner_threshold': (_threshold, False),
        'relation_threshold': (_threshold, False),
        'label_budget': (_positive_int, False),
    },
    'qa': {
        'questions': (_strings, False),
        'questions_column': (_text, False),
        'threshold': (_threshold, False),
        'top_k': (_positive_int, False),
    },
    'summary': {
        'threshold': (_threshold, False),
        'max_sentences': (_positive_int, False),
    },
    'classification': {
        'classes': (_strings, True),
        'multi_label': (_bool, False),
        'threshold': (_threshold, False),
    },
    'open_extraction': {
        'prompt': (_text, True),
        'label': (_text, False),
        'threshold': (_threshold, False),
    },
}


def parse_task(name: str, raw: Any) -> Task:
  if name not in _KEYS:
    raise TaskSpecError(
        f'{name}: unknown task (known: {", ".join(_KEYS)})')
  if raw is None:
    raw = {}
  if not isinstance(raw, Mapping):
    raise TaskSpecError(f'{name}: expected a mapping of settings')
  keys = _KEYS[name]
  kwargs = {}
  for key, value in raw.items():
    if key not in keys:
      raise TaskSpecError(
          f'{name}.{key}: unknown key (known: {", ".join(keys)})')
    kwargs[key] = keys[key][0](f'{name}.{key}', value)
  for key, (_, required) in keys.items():
    if required and key not in kwargs:
      raise TaskSpecError(f'{name}.{key}: required')
  if name == 'ner' and not kwargs.get('labels') and not kwargs.get(
      'labels_column'):
    raise TaskSpecError('ner.labels: give labels or a labels_column')
  if name == 'qa' and not kwargs.get('questions') and not kwargs.get(
      'questions_column'):
    raise TaskSpecError('qa.questions: give questions or a questions_column')
  return TASK_TYPES[name](**kwargs)


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
