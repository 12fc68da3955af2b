"""Task-file keys: the parsers a task declares for its settings.

Each task class lists its keys (`Task.keys`) with one of these parsers; the
task-file loader only dispatches, so a new task brings its own keys and
checks. Every error names the offending key (`qa.threshold`), so a bad spec
fails at start-up with a message the user can act on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Tuple

from common.records import Label
from common.text import label_list, normalise_label


class TaskSpecError(ValueError):
  """A bad task spec; the message starts with the key."""


@dataclass(frozen=True)
class Key:
  """One setting of a task: how to parse it, and whether it must be given."""
  parse: Callable[[str, Any], Any]
  required: bool = False


def strings(key: str, value: Any) -> Tuple[str, ...]:
  """A list of strings (or comma-separated text), normalised; empty items
  and duplicates are errors (a duplicate label breaks gliner's prompt)."""
  if not isinstance(value, (str, list, tuple)):
    raise TaskSpecError(f'{key}: expected a list of strings')
  items = value.split(',') if isinstance(value, str) else list(value)
  if not items:
    raise TaskSpecError(f'{key}: no values given')
  for index, item in enumerate(items):
    if not isinstance(item, str):
      raise TaskSpecError(f'{key}[{index}]: {item!r} is not a string')
    if not item.strip():
      raise TaskSpecError(f'{key}[{index}]: empty string')
  out = label_list(items)
  if len(out) < len(items):
    seen = set()
    for item in items:
      if normalise_label(item) in seen:
        raise TaskSpecError(f'{key}: {normalise_label(item)!r} is given '
                            'twice')
      seen.add(normalise_label(item))
  return out


def labels(key: str, value: Any) -> Tuple[Label, ...]:
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
      pairs.append((name.strip(), normalise_label(prompt)))
    if not pairs:
      raise TaskSpecError(f'{key}: no labels given')
    seen = {}
    for name, prompt in pairs:
      if prompt in seen:
        raise TaskSpecError(f'{key}: {seen[prompt]!r} and {name!r} have the '
                            f'same description {prompt!r}')
      seen[prompt] = name
    return tuple(pairs)
  return tuple((name, name) for name in strings(key, value))


def threshold(key: str, value: Any) -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise TaskSpecError(f'{key}: expected a number in [0, 1]')
  if not 0.0 <= float(value) <= 1.0:
    raise TaskSpecError(f'{key}: must be in [0, 1], got {value}')
  return float(value)


def boolean(key: str, value: Any) -> bool:
  if not isinstance(value, bool):
    raise TaskSpecError(f'{key}: expected true or false')
  return value


def positive_int(key: str, value: Any) -> int:
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise TaskSpecError(f'{key}: expected an integer >= 1')
  return value


def text(key: str, value: Any) -> str:
  if not isinstance(value, str) or not value.strip():
    raise TaskSpecError(f'{key}: expected a non-empty string')
  return value.strip()
