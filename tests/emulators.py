"""Real local stand-ins for Google services: Google's Pub/Sub emulator (Java)
and the pure-Python gcp-storage-emulator. Tests skip, printing why, when an
emulator is not installed on the machine."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from bench.gcs_emulator import free_port, gcs_emulator  # noqa: F401 (re-export)
from bench.pubsub_emulator import PUBSUB_EMULATOR, pubsub_emulator  # noqa: F401
from bench.pubsub_emulator import pubsub_emulator_missing  # noqa: F401
from bench.pubsub_emulator import topic_with_subscription  # noqa: F401
from bench.pubsub_emulator import streaming_job, wait_for  # noqa: F401
from bench.pubsub_emulator import wait_for_port  # noqa: F401



@contextmanager
def pubsub_clients(tmp_dir: Path, monkeypatch):
  """The emulator plus a publisher and a subscriber talking to it."""
  from google.cloud import pubsub_v1
  with pubsub_emulator(tmp_dir) as host:
    monkeypatch.setenv('PUBSUB_EMULATOR_HOST', host)
    yield pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
