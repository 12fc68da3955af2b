"""A progress line for tools whose runs take minutes (the benchmark, the
self-learning tools): which step runs now, how many are done, time spent and
an estimate of the time left, on stderr so a tool's stdout stays its result.

    for task in progress(tasks, 'evaluate_tasks', label=str):
      ...

It is tqdm (already a dependency, and what `pipeline.progress` uses for the
job's own bar) with the settings these tools share; the step's name is shown
while it runs, not after it ends.
"""
from __future__ import annotations

import sys
from typing import Callable, Iterable, Iterator, Optional, TextIO, TypeVar

T = TypeVar('T')


def progress(items: Iterable[T], what: str,
             label: Optional[Callable[[T], str]] = None,
             total: Optional[int] = None, unit: str = 'step',
             file: Optional[TextIO] = None) -> Iterator[T]:
  """Yields `items`, drawing `[k/n] what: <label(item)> (elapsed, ~left)`
  on stderr (or `file`); `total` defaults to `len(items)` where it has one."""
  from tqdm import tqdm
  if total is None and hasattr(items, '__len__'):
    total = len(items)  # type: ignore[arg-type]
  bar = tqdm(total=total, desc=what, unit=unit,
             file=file if file is not None else sys.stderr,
             dynamic_ncols=True, mininterval=0.5, leave=True,
             bar_format='[{n_fmt}/{total_fmt}] {desc} '
                        '({elapsed} elapsed, ~{remaining} left)')
  try:
    for item in items:
      if label is not None:
        bar.set_description_str(f'{what}: {label(item)}')
      yield item
      bar.update(1)
    bar.set_description_str(f'{what}: done')
  finally:
    bar.close()
