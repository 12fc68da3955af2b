"""One writer per output: a lease object with an owner and an expiry.

``<output>/_lease.json`` is created create-only by the run that starts; a
second run finds it and stops at start-up with a clear error instead of
racing the first one's commit. The launcher renews it while it waits for
the job; the commit step checks it still holds it (and the commit log's
create-only version is the final fence). A lease whose expiry passed, or
whose process is gone (same host, pid no longer alive), is stale: the next
run takes it over with a compare-and-delete, so two runs taking over the
same stale lease cannot both win.
"""
from __future__ import annotations

import datetime
import json
import os
import socket
import threading
from dataclasses import asdict, dataclass
from typing import Optional

from pipeline.objectstore import join, store_for

LEASE = '_lease.json'
DEFAULT_SECONDS = 3600


class OutputLocked(Exception):
  """Another run holds this output."""


class LeaseLost(Exception):
  """This run's lease was taken over (it expired): it must not commit."""


def _now() -> datetime.datetime:
  return datetime.datetime.now(datetime.timezone.utc)


def _process_start(pid: int) -> str:
  """The kernel's start time of a pid (tells a reused pid apart)."""
  try:
    with open(f'/proc/{pid}/stat', 'rb') as handle:
      return handle.read().rsplit(b')', 1)[1].split()[19].decode()
  except (OSError, IndexError):
    return ''


@dataclass
class Lease:
  run_id: str
  host: str
  pid: int
  pid_start: str
  acquired: str
  expires: str

  @classmethod
  def new(cls, run_id: str, seconds: int) -> 'Lease':
    now = _now()
    return cls(run_id, socket.gethostname(), os.getpid(),
               _process_start(os.getpid()), now.isoformat(timespec='seconds'),
               (now + datetime.timedelta(seconds=seconds)).isoformat(
                   timespec='seconds'))

  def stale_because(self) -> str:
    """Why this lease no longer protects a live run ('' when it does)."""
    if datetime.datetime.fromisoformat(self.expires) < _now():
      return f'expired at {self.expires}'
    if self.host == socket.gethostname():
      alive = os.path.exists(f'/proc/{self.pid}') and (
          not self.pid_start or _process_start(self.pid) == self.pid_start)
      if not alive:
        return f'process {self.pid} on {self.host} is gone'
    return ''

  def to_bytes(self) -> bytes:
    return json.dumps(asdict(self), sort_keys=True).encode('utf-8')

  def describe(self) -> str:
    return (f'run {self.run_id} (pid {self.pid} on {self.host}, since '
            f'{self.acquired}, lease until {self.expires})')


def lease_path(output: str) -> str:
  return join(output, LEASE)


def holder(output: str):
  """-> (Lease, token) or (None, None)."""
  blob = store_for(output).read_blob(lease_path(output))
  if blob is None:
    return None, None
  try:
    return Lease(**json.loads(blob.data.decode('utf-8'))), blob.token
  except (ValueError, TypeError):  # unreadable: treat as stale
    return Lease('?', '?', 0, '', '1970-01-01T00:00:00+00:00',
                 '1970-01-01T00:00:00+00:00'), blob.token


def acquire(output: str, run_id: str, seconds: int = DEFAULT_SECONDS,
            force: bool = False) -> Optional[str]:
  """Take the output for `run_id`; -> a note when a stale lease was taken
  over, else None. Raises OutputLocked when a live run holds it."""
  store = store_for(output)
  path = lease_path(output)
  mine = Lease.new(run_id, seconds)
  for _ in range(3):
    if store.create(path, mine.to_bytes()):
      return None
    current, token = holder(output)
    if current is None:
      continue  # released meanwhile
    why = current.stale_because() or ('broken by request' if force else '')
    if not why:
      raise OutputLocked(
          f'{output} is being written by {current.describe()}; wait for it '
          f'to finish, or if it is dead: python -m pipeline.recover {output} '
          '--break_lease')
    if store.delete_if(path, token) and store.create(path, mine.to_bytes()):
      return f'took over the lease of {current.describe()}: {why}'
  current, _ = holder(output)
  raise OutputLocked(f'{output} is being written by '
                     f'{current.describe() if current else "another run"}')


def check(output: str, run_id: str) -> None:
  current, _ = holder(output)
  if current is None or current.run_id != run_id:
    taken = current.describe() if current else 'nobody (released)'
    raise LeaseLost(f'run {run_id} no longer holds {output} (held by '
                    f'{taken}): not committing')


def renew(output: str, run_id: str, seconds: int = DEFAULT_SECONDS) -> bool:
  current, token = holder(output)
  if current is None or current.run_id != run_id:
    return False
  current.expires = (_now() + datetime.timedelta(seconds=seconds)).isoformat(
      timespec='seconds')
  return store_for(output).replace_if(lease_path(output), token,
                                      current.to_bytes())


def release(output: str, run_id: str) -> bool:
  current, token = holder(output)
  if current is None or current.run_id != run_id:
    return False
  return store_for(output).delete_if(lease_path(output), token)


class KeepLease:
  """Renews the lease from a daemon thread while the launcher waits."""

  def __init__(self, output: str, run_id: str, seconds: int):
    self._args = (output, run_id, seconds)
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._loop, daemon=True,
                                    name='gliner-beam-lease')

  def _loop(self) -> None:
    interval = max(1.0, min(60.0, self._args[2] / 4))
    while not self._stop.wait(interval):
      try:
        if not renew(*self._args):
          return  # released by the commit step, or lost
      except Exception:  # pylint: disable=broad-except
        pass  # a storage hiccup: try again next interval

  def __enter__(self) -> 'KeepLease':
    self._thread.start()
    return self

  def __exit__(self, *exc) -> None:
    self._stop.set()
    self._thread.join(timeout=5)
