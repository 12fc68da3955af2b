"""Progress you can watch: a bar for local runs, a log line for workers.

The launcher of an in-process run (FnApiRunner, one process) registers a
tqdm bar under the run id, its total read from the input's Parquet footers
before the run; `ProgressFn`, on the stream of finished input rows
(documents and row-level dead letters), advances it. Where no bar is
registered -- worker processes on Dataflow, Flink or multi-processing --
it logs one progress line per interval instead.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Dict, List, Optional

import apache_beam as beam

_LOG = logging.getLogger(__name__)
LOG_INTERVAL_SECONDS = 30.0

_BARS: Dict[str, object] = {}
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
  return bar


def stop_bar(run_id: str) -> None:
  with _LOCK:
    bar = _BARS.pop(run_id, None)
  if bar is not None:
    bar.close()


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

  def process(self, unused_row):
    bar = _BARS.get(self._run_id)
    if bar is not None:
      bar.update(1)
      return
    self._count += 1
    now = time.monotonic()
    if now - self._last >= self._interval:
      _LOG.warning('gliner-beam run %s: %d input rows finished by this '
                   'worker', self._run_id, self._count)
      self._last = now
