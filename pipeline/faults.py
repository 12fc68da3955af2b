"""Crash points for the commit harness (tests/test_commit_protocol.py).

Every file operation of a commit or a recovery calls `point()` before and
after it. Unarmed (always, in production) that is a counter increment. The
harness arms one point with a signal -- SIGKILL like an OOM kill or a
preempted VM, SIGINT like Ctrl-C, SIGTERM like a scheduler's stop -- and the
process sends it to itself exactly there, so every step of the protocol is
interrupted in turn, not a sample. `GLINER_BEAM_CRASH_AT=<n>:<SIGNAL>` arms
a whole job started as a subprocess.
"""
from __future__ import annotations

import os
import signal
from typing import List, Optional, Tuple

ENV = 'GLINER_BEAM_CRASH_AT'

_count = 0
_armed: Optional[Tuple[int, int]] = None
_trace: Optional[List[str]] = None


def _from_env() -> Optional[Tuple[int, int]]:
  value = os.environ.get(ENV, '')
  if not value:
    return None
  at, name = value.split(':', 1)
  return int(at), int(getattr(signal, f'SIG{name.upper().removeprefix("SIG")}'))


def arm(at: Optional[int], signum: int = signal.SIGKILL,
        trace: Optional[List[str]] = None) -> None:
  """Send `signum` to this process at crash point number `at` (1-based);
  `trace` collects every point's label (the harness counts them)."""
  global _count, _armed, _trace  # pylint: disable=global-statement
  _count = 0
  _armed = None if at is None else (at, signum)
  _trace = trace


def point(label: str) -> None:
  global _count, _armed  # pylint: disable=global-statement
  if _armed is None and _count == 0 and os.environ.get(ENV):
    _armed = _from_env()
  _count += 1
  if _trace is not None:
    _trace.append(label)
  if _armed is not None and _armed[0] == _count:
    os.kill(os.getpid(), _armed[1])
