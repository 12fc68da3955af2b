"""Streaming from Google's Pub/Sub emulator on BundleBasedDirectRunner:
every message is accounted for, window files read back with the declared
schemas, and a redelivered document is enriched once."""
import json
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.readers import window_files
from tests.emulators import pubsub_clients, pubsub_emulator_missing
from tests.emulators import streaming_job, topic_with_subscription
from tests.emulators import wait_for

MISSING = pubsub_emulator_missing()
pytestmark = pytest.mark.skipif(bool(MISSING), reason=MISSING or 'n/a')

PROJECT = 'gliner-beam-test'
WINDOW_SECONDS = 3
DOCS = {
    'p1': 'Marie Curie lived in Paris.',
    'p2': 'Acme Corp hired Jane Doe in Oslo.',
    'p3': 'Rome is older than Berlin.',
    'p4': 'The Danube flows to the Black Sea.',
}


def read_rows(directory):
  files = [Path(f) for f in window_files(directory)]
  tables = [pq.read_table(f) for f in files]
  return files, (pa.concat_tables(tables) if tables else None)


def test_pubsub_stream_to_windowed_parquet(marker_model, tmp_path,
                                           monkeypatch):
  with pubsub_clients(tmp_path, monkeypatch) as (publisher, subscriber):
    topic, subscription = topic_with_subscription(publisher, subscriber,
                                                  PROJECT, 'docs')
    out_topic, out_subscription = topic_with_subscription(
        publisher, subscriber, PROJECT, 'enriched')

    output = tmp_path / 'out'
    started = time.monotonic()
    argv = [
        '--streaming', '--input_subscription', subscription, '--output',
        str(output), '--model', str(marker_model), '--labels', 'location',
        '--threshold', '0.3', '--window_seconds', str(WINDOW_SECONDS),
        '--runner', 'BundleBasedDirectRunner', '--output_topic', out_topic
    ]
    with streaming_job(argv, publisher, topic) as (config, result):
      # Publish everything just after a window boundary, so the redelivered
      # copy shares a window with the original.
      time.sleep(WINDOW_SECONDS - time.time() % WINDOW_SECONDS + 0.05)
      futures = [
          publisher.publish(topic, json.dumps({'id': i, 'text': t}).encode())
          for i, t in DOCS.items()
      ]
      futures.append(publisher.publish(  # redelivery of p1
          topic, json.dumps({'id': 'p1', 'text': DOCS['p1']}).encode()))
      futures.append(publisher.publish(topic, b'Raw text about Lisbon.',
                                       id='raw-1'))
      futures.append(publisher.publish(topic, b'{"id": "bad-json", "text": '))
      futures.append(publisher.publish(topic, b'\xff\xfe not utf-8'))
      futures.append(publisher.publish(topic, b'{"id": "no-text"}'))
      for future in futures:
        future.result(timeout=30)
      published_at = time.monotonic()
      expected_docs = len(DOCS) + 1  # + raw-1; p1's copy is dropped
      expected_dead = 3

      def done():
        _, docs = read_rows(output / 'documents')
        _, dead = read_rows(output / 'dead_letter')
        return (docs is not None and docs.num_rows >= expected_docs and
                dead is not None and dead.num_rows >= expected_dead)

      assert wait_for(done, 120), 'outputs did not appear in 120 s'
      end_to_end = time.monotonic() - published_at
      # One more window so a late duplicate would have shown up.
      time.sleep(WINDOW_SECONDS + 1)
    pulled = subscriber.pull(subscription=out_subscription, max_messages=50,
                             timeout=10)
    messages = [json.loads(m.message.data) for m in pulled.received_messages]

  doc_files, docs = read_rows(output / 'documents')
  dead_files, dead = read_rows(output / 'dead_letter')
  entity_files, entities = read_rows(output / 'entities')
  from common import schemas
  from model_handler.tasks import table_schemas
  assert docs.schema.equals(schemas.DOCUMENTS, check_metadata=False)
  assert dead.schema.equals(schemas.DEAD_LETTER, check_metadata=False)
  # Every message accounted for: 9 published, 1 redelivery dropped.
  assert sorted(docs.column('doc_id').to_pylist()) == sorted(
      list(DOCS) + ['raw-1'])
  assert docs.num_rows + dead.num_rows == 9 - 1
  reasons = sorted(dead.column('reason').to_pylist())
  assert reasons[0].startswith('JSON has no "text" field')
  assert reasons[1].startswith('malformed JSON')
  assert reasons[2].startswith('message is not valid UTF-8')
  # Window file names carry the window and never collide.
  names = [f.name for f in doc_files + dead_files + entity_files]
  assert len(names) == len(set(names))
  assert all(n.split('-')[0] in ('documents', 'dead_letter', 'entities')
             for n in names)
  # --output_topic: one JSON message per enriched document.
  assert sorted(m['doc_id'] for m in messages) == sorted(
      docs.column('doc_id').to_pylist())
  assert all(m['run_id'] == config.run_id for m in messages)
  if entities is not None:
    assert entities.schema.equals(table_schemas()['entities'], check_metadata=False)
    texts = dict(DOCS, **{'raw-1': 'Raw text about Lisbon.'})
    for row in entities.to_pylist():
      assert texts[row['doc_id']][row['start']:row['end']] == row['text']
  print(f'\nstreaming: {expected_docs} documents + {expected_dead} dead '
        f'letters written {end_to_end:.1f} s after publishing '
        f'(window {WINDOW_SECONDS} s, total {time.monotonic() - started:.1f} s)')
