"""Google's Pub/Sub emulator (Java), started and stopped from Python, for
the streaming tests and bench.streaming."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from bench.gcs_emulator import free_port

PUBSUB_EMULATOR = Path(
    '/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/'
    'cloud-pubsub-emulator')


def wait_for_port(port: int, timeout: float) -> None:
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    with socket.socket() as sock:
      if sock.connect_ex(('127.0.0.1', port)) == 0:
        return
    time.sleep(0.1)
  raise TimeoutError(f'nothing listens on port {port} after {timeout} s')


def pubsub_emulator_missing() -> str:
  if not PUBSUB_EMULATOR.exists():
    return f'Google Pub/Sub emulator not installed ({PUBSUB_EMULATOR})'
  if not shutil.which('java'):
    return 'Pub/Sub emulator needs java, which is not installed'
  return ''


@contextmanager
def pubsub_emulator(tmp_dir: Path):
  """Start the emulator in its own process group; kill the group on exit."""
  port = free_port()
  log = open(tmp_dir / 'pubsub-emulator.log', 'wb')
  proc = subprocess.Popen(
      [str(PUBSUB_EMULATOR), '--host=127.0.0.1', f'--port={port}',
       f'--data-dir={tmp_dir}'],
      stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
  try:
    wait_for_port(port, 30)
    yield f'127.0.0.1:{port}'
  finally:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    log.close()


def topic_with_subscription(publisher, subscriber, project: str, name: str):
  """Create a topic and one subscription to it; -> (topic, subscription)."""
  topic = publisher.topic_path(project, name)
  subscription = subscriber.subscription_path(project, f'{name}-sub')
  publisher.create_topic(name=topic)
  subscriber.create_subscription(name=subscription, topic=topic)
  return topic, subscription


@contextmanager
def streaming_job(argv, publisher, topic):
  """Run the streaming job (in this process, BundleBasedDirectRunner) while a
  heartbeat keeps the direct runner's 30 s pull returning; cancel on exit.

  Yields (config, result)."""
  import threading

  from pipeline.run import parse, submit
  config, options = parse([str(a) for a in argv])
  result = submit(config, options)  # as the job starts: claims its run id
  stop = threading.Event()

  def heartbeat():  # lets the direct runner's pull return and advance
    while not stop.is_set():
      publisher.publish(topic, b'', gliner_beam_heartbeat='1')
      stop.wait(0.4)

  beat = threading.Thread(target=heartbeat, daemon=True)
  beat.start()
  try:
    yield config, result
  finally:
    stop.set()
    result.cancel()
    beat.join(5)


def wait_for(predicate, timeout: float) -> bool:
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if predicate():
      return True
    time.sleep(0.5)
  return False
