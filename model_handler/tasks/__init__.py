"""The tasks a GLiNER multi-task model can do, one module each.

`TASK_TYPES` is the registry the task file is read against: a new task is
its module plus one line here (or `register_task` from outside the package,
e.g. a plugin or a test).
"""
from typing import Dict, Type

import pyarrow as pa

from common.schemas import SHARED_TABLES
from model_handler.tasks.base import PromptSpec, Task
from model_handler.tasks.classification import ClassificationTask
from model_handler.tasks.keys import TaskSpecError
from model_handler.tasks.ner import NerTask
from model_handler.tasks.open_extraction import OpenExtractionTask
from model_handler.tasks.qa import QaTask
from model_handler.tasks.relations import RelationsTask
from model_handler.tasks.summary import SummaryTask

TASK_TYPES: Dict[str, Type[Task]] = {
    task.name: task for task in (
        NerTask,
        RelationsTask,
        QaTask,
        SummaryTask,
        ClassificationTask,
        OpenExtractionTask,
    )
}


def register_task(task_type: Type[Task]) -> Type[Task]:
  """Add a task type to the registry (usable as a class decorator).

  Its name and table must be new: two tasks writing one table would mix
  their rows.
  """
  if not task_type.name or not task_type.table:
    raise ValueError(f'{task_type.__name__} needs a name and a table')
  taken = {t.table: n for n, t in TASK_TYPES.items() if n != task_type.name}
  if task_type.table in taken or task_type.table in SHARED_TABLES:
    raise ValueError(f'table {task_type.table!r} is already written by '
                     f'{taken.get(task_type.table, "every run")}')
  existing = TASK_TYPES.get(task_type.name)
  if existing is not None and existing is not task_type:
    raise ValueError(f'task {task_type.name!r} is already registered')
  TASK_TYPES[task_type.name] = task_type
  return task_type


def table_schemas() -> Dict[str, pa.Schema]:
  """Every table a run can write -> its schema: the registered tasks'
  tables, then documents and dead_letter."""
  tables = {task.table: task.schema() for task in TASK_TYPES.values()}
  tables.update(SHARED_TABLES)
  return tables


def unregister_task(name: str) -> None:
  """Remove a task type added with `register_task` (tests)."""
  TASK_TYPES.pop(name, None)


__all__ = ['PromptSpec', 'Task', 'TaskSpecError', 'TASK_TYPES',
           'register_task', 'table_schemas', 'unregister_task'] + [
               t.__name__ for t in TASK_TYPES.values()]
