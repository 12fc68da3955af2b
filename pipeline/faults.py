"""Crash points for the commit harness (tests/test_commit_protocol.py).

Every file operation of a commit or a recovery calls `point()` before and
after it. Unarmed (always, in production) that is a counter increment. The
harness arms one point with a signal -- SIGKILL like an OOM kill or a
preempted VM, SIGINT like Ctrl-C, SIGTERM like a scheduler's stop -- and the
process sends it to itself exactly there, so every step of the protocol is
interrupted in turn, not a sample. `GLINER_BEAM_CRASH_AT=<n>:<SIGNAL>[:<text>]`
arms a whole job started as a subprocess (the n-th point whose label
contains <text>, e.g. `1:KILL:_ready.json`).
"""
from __future__ import annotations

import os
import signal
from typing import List, Optional, Tuple

ENV = 'GLINER_BEAM_CRASH_AT'

_count = 0
_armed: Optional[Tuple[int, int, str]] = None
_trace: Optional[List[str]] = None


def _from_env() -> Optional[Tuple[int, int, str]]:
  at, name, *text = os.environ[ENV].split(':', 2)
  signum = getattr(signal, f'SIG{name.upper().removeprefix("SIG")}')
  return int(at), int(signum), text[0] if text else ''


def arm(at: Optional[int], signum: int = signal.SIGKILL,
        trace: Optional[List[str]] = None, match: str = '') -> None:
  """Send `signum` to this process at crash point number `at` (1-based,
  counting only points whose label contains `match`); `trace` collects
  every point's label (the harness counts them)."""
  global _count, _armed, _trace, _env_read  # pylint: disable=global-statement
  _count, _env_read = 0, True
  _armed = None if at is None else (at, int(signum), match)
  _trace = trace


_env_read = False


def point(label: str) -> None:
  global _count, _armed, _env_read  # pylint: disable=global-statement
  if not _env_read:
    _env_read = True
    _armed = _from_env() if os.environ.get(ENV) else None
  if _trace is not None:
    _trace.append(label)
  if _armed is None or _armed[2] not in label:
    return
  _count += 1
  if _armed[0] == _count:
    os.kill(os.getpid(), _armed[1])
