"""Progress you can watch: a bar for local runs, a log line for workers.

The launcher of an in-process run (FnApiRunner, one process) registers a
tqdm bar under the run id, its total read from the input's Parquet footers
before the run. `ProgressFn` advances it as rows finish where the work is
done: each model call's result counts as its share of a document (so the
bar moves during inference, not only when the merge stage runs at the end),
rows rejected before the model and rows skipped by --incremental count as
one. Where no bar is registered -- worker processes on Dataflow, Flink or
multi-processing -- it logs one progress line per interval instead.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Dict, List, Optional

import apache_beam as beam

from common.records import CallResult, DeadLetter

_LOG = logging.getLogger(__name__)
LOG_INTERVAL_SECONDS = 30.0

_BARS: Dict[str, object] = {}
_DONE: Dict[str, float] = {}  # documents finished so far, fractions included
_LOCK = threading.Lock()


def input_rows(files: List[str]) -> int:
  """Rows declared by the Parquet footers of `files` (no data read)."""
  from pipeline.commit import parquet_rows
  total = 0
  for path in files:
    try:
      total += parquet_rows(path)
    except Exception:  # pylint: disable=broad-except
      total += 1  # an unreadable file becomes one dead letter
  return total


def start_bar(run_id: str, total: Optional[int]):
  """A tqdm bar for this process's run (stderr, even when not a TTY)."""
  from tqdm import tqdm
  bar = tqdm(total=total, unit='doc', desc='gliner-beam', file=sys.stderr,
             mininterval=0.5, dynamic_ncols=True, disable=False)
  with _LOCK:
    _BARS[run_id] = bar
    _DONE[run_id] = 0.0
  return bar


def advance(run_id: str, share: float) -> bool:
  """Add `share` of a document to the run's bar (whole documents shown);
  False when this process has no bar for the run."""
  with _LOCK:
    bar = _BARS.get(run_id)
    if bar is None:
      return False
    _DONE[run_id] += share
    whole = int(round(_DONE[run_id], 6)) - bar.n
    if whole > 0:
      bar.update(whole)
  return True


def stop_bar(run_id: str) -> None:
  with _LOCK:
    bar = _BARS.pop(run_id, None)
    _DONE.pop(run_id, None)
  if bar is not None:
    bar.close()


# Dead-letter stages before the model: the row is finished there.
BEFORE_MODEL = ('read', 'parse', 'validate', 'plan', 'window', 'task_input')


def finished_share(element) -> float:
  """How much of an input row `element` finishes: a stage-1 model call's
  result 1/doc_calls, a row-level dead letter before the model or a skipped
  row (its record key) 1, anything else 0."""
  if isinstance(element, CallResult):
    calls = element.call.doc_calls
    return 1.0 / calls if calls else 0.0
  if isinstance(element, DeadLetter):
    return 1.0 if (element.task is None and
                   element.stage in BEFORE_MODEL) else 0.0
  return 1.0 if isinstance(element, str) else 0.0


class ProgressFn(beam.DoFn):
  """Counts finished input rows into the local bar, or logs them."""

  def __init__(self, run_id: str, interval: float = LOG_INTERVAL_SECONDS):
    self._run_id = run_id
    self._interval = interval
    self._count = 0
    self._last = 0.0

  def setup(self):
    self._count = 0
    self._last = time.monotonic()

  def process(self, element):
    share = finished_share(element)
    if not share:
      return
    if advance(self._run_id, share):
      return
    self._count += share
    now = time.monotonic()
    if now - self._last >= self._interval:
      _LOG.warning('gliner-beam run %s: %.0f input rows finished by this '
                   'worker', self._run_id, self._count)
      self._last = now
