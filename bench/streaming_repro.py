"""Re-run issue 19's two reports on Google's Pub/Sub emulator and print the
counts: nothing lost, nothing written twice.

    .venv/bin/python -m bench.streaming_repro [--busy]

1. `paced`: 300 documents at 20 messages/s plus 3 malformed messages (and,
   with --busy, a second process keeping a core busy, as "another job was
   running"). Reported before: 149 documents never written, 2 of the 3
   malformed messages never dead-lettered.
2. `burst`: 30 documents in one burst, then the 3 malformed ones and 9 more
   as a trickle. Reported before: one contiguous block of 26 vanished.
Then 3 publisher retries of documents already written, a few seconds later
(another window): dropped, not written twice.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from bench.pubsub_emulator import pubsub_emulator, pubsub_emulator_missing
from bench.pubsub_emulator import streaming_job, topic_with_subscription
from bench.pubsub_emulator import wait_for
from pipeline.readers import window_files

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / 'models' / 'gliner-multitask-minilm-l6'
MALFORMED = [b'{"id": "bad-json", ', b'\xff\xfe not utf-8', b'{"id": "no-text"}']


def doc(prefix: str, i: int) -> bytes:
  return json.dumps({'id': f'{prefix}{i:04d}',
                     'text': f'Report {i}: Marie Curie met Albert Einstein '
                             f'in Paris, said Acme Corp.'}).encode()


def rows(directory: Path):
  return [r for f in window_files(directory)
          for r in pq.read_table(f).to_pylist()]


def burn(stop_at: float):  # a busy core, like another job
  while time.time() < stop_at:
    sum(i * i for i in range(10_000))


def scenario(name: str, publish, expected_docs: int, expected_dead: int,
             retries: int, busy: bool) -> dict:
  with tempfile.TemporaryDirectory() as tmp, pubsub_emulator(Path(tmp)) as host:
    os.environ['PUBSUB_EMULATOR_HOST'] = host
    from google.cloud import pubsub_v1
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    topic, subscription = topic_with_subscription(
        publisher, subscriber, 'gliner-beam-repro', 'docs')
    output = Path(tmp) / 'out'
    argv = ['--streaming', '--input_subscription', subscription, '--output',
            output, '--model', MODEL, '--labels',
            'person,organization,location', '--window_seconds', '2',
            '--runner', 'BundleBasedDirectRunner']
    burner = None
    if busy:
      burner = multiprocessing.Process(target=burn, args=(time.time() + 600,))
      burner.start()
    started = time.time()
    try:
      with streaming_job(argv, publisher, topic):
        published = publish(publisher, topic)
        wait_for(lambda: len(rows(output / 'documents')) + len(
            rows(output / 'dead_letter')) >= expected_docs + expected_dead,
                 600)
        time.sleep(5)  # a late or repeated copy would show up now
        docs, dead = rows(output / 'documents'), rows(output / 'dead_letter')
    finally:
      if burner is not None:
        burner.terminate()
  ids = [d['doc_id'] for d in docs]
  return {
      'scenario': name, 'busy': busy, 'published': published,
      'documents_written': len(docs), 'distinct_documents': len(set(ids)),
      'expected_documents': expected_docs,
      'dead_letters': len(dead), 'expected_dead_letters': expected_dead,
      'retries_published': retries,
      'lost': expected_docs - len(set(ids)) + expected_dead - len(dead),
      'written_twice': len(ids) - len(set(ids)),
      'late_panes': sum(1 for f in window_files(output / 'documents')
                        if '-pane000-' not in f),
      'seconds': round(time.time() - started, 1),
  }


def publish_all(publisher, topic, payloads):
  for future in [publisher.publish(topic, p) for p in payloads]:
    future.result(timeout=60)


def paced(publisher, topic) -> int:
  messages = [doc('p', i) for i in range(300)]
  for k, bad in enumerate(MALFORMED):
    messages.insert(100 * (k + 1), bad)
  for message in messages:
    publish_all(publisher, topic, [message])
    time.sleep(1 / 20)
  time.sleep(3)
  publish_all(publisher, topic, [doc('p', i) for i in range(3)])  # retries
  return len(messages) + 3


def burst(publisher, topic) -> int:
  publish_all(publisher, topic, [doc('b', i) for i in range(30)])
  trickle = MALFORMED + [doc('b', i) for i in range(30, 39)]
  for message in trickle:
    publish_all(publisher, topic, [message])
    time.sleep(0.5)
  time.sleep(3)
  publish_all(publisher, topic, [doc('b', i) for i in range(3)])  # retries
  return 30 + len(trickle) + 3


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--busy', action='store_true',
                      help='keep a core busy meanwhile (another job)')
  args = parser.parse_args(argv)
  missing = pubsub_emulator_missing()
  if missing:
    print(missing, file=sys.stderr)
    return 2
  results = [scenario('paced', paced, 300, 3, 3, args.busy),
             scenario('burst', burst, 39, 3, 3, args.busy)]
  for result in results:
    print(json.dumps(result))
  return 0 if all(r['lost'] == 0 and r['written_twice'] == 0
                  for r in results) else 1


if __name__ == '__main__':
  sys.exit(main())
