"""Streaming under poison: hostile messages between good ones, new versions
of a document, and a restart into the same output (Google's Pub/Sub
emulator, BundleBasedDirectRunner).

Before, one message whose id held a lone surrogate killed the pipeline and
the messages pulled after it were lost (the local runner acks on pull); a
second message with the same id but other content was dropped; a restart
needed --overwrite, which deleted every earlier window file.
"""
import json
import time

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
GOOD = {f'g{i}': f'Document {i} mentions Paris and Marie Curie.'
        for i in range(6)}
POISON = [
    b'{"id": "s1", "text": "lone \\ud800 surrogate in the text"}',
    b'{"id": "\\udfff-id", "text": "lone surrogate in the id"}',
    b'{"id": "n1", "text": null}',
    b'{"id": "n2", "text": 42}',
    b'{"id": "no-text", "txt": "typo"}',
    b'{"id": "bad-json", ',
    b'\xff\xfe not utf-8',
    b'{"id": "w1", "text": " \\n\\t "}',
]


def table_rows(directory):
  files = window_files(directory)
  rows = [r for f in files for r in pq.read_table(f).to_pylist()]
  return files, rows


def test_poison_between_good_messages_and_a_restart(marker_model, tmp_path,
                                                    monkeypatch):
  with pubsub_clients(tmp_path, monkeypatch) as (publisher, subscriber):
    topic, subscription = topic_with_subscription(publisher, subscriber,
                                                  PROJECT, 'docs')
    output = tmp_path / 'out'
    argv = ['--streaming', '--input_subscription', subscription, '--output',
            output, '--model', marker_model, '--labels', 'location',
            '--threshold', '0.3', '--window_seconds', WINDOW_SECONDS,
            '--runner', 'BundleBasedDirectRunner']

    def publish(payloads):
      for future in [publisher.publish(topic, p) for p in payloads]:
        future.result(timeout=30)

    good = [json.dumps({'id': i, 'text': t}).encode() for i, t in GOOD.items()]
    with streaming_job(argv + ['--run_id', 'first'], publisher, topic):
      time.sleep(WINDOW_SECONDS - time.time() % WINDOW_SECONDS + 0.05)
      # good, poison, good, poison, ... then a new version of g0 (same id,
      # other content) and a true redelivery of g1, in the same window.
      interleaved = [m for pair in zip(good, POISON) for m in pair]
      publish(interleaved + POISON[len(good):] + [
          json.dumps({'id': 'g0', 'text': 'Version two of g0, in Oslo.'
                      }).encode(), good[1]])

      def first_done():
        _, docs = table_rows(output / 'documents')
        _, dead = table_rows(output / 'dead_letter')
        return len(docs) >= len(GOOD) + 1 and len(dead) >= len(POISON)

      assert wait_for(first_done, 120), 'outputs did not appear in 120 s'
      time.sleep(WINDOW_SECONDS + 1)  # a late duplicate would show up now
    first_files = {f.name: f.stat().st_mtime for f in output.rglob('[!.]*.parquet')}

    # Restart into the same output: no flag needed, nothing deleted.
    with streaming_job(argv + ['--run_id', 'second', '--num_shards', '2'],
                       publisher, topic):
      publish([json.dumps({'id': 'after-restart', 'text': 'Rome.'}).encode()])

      def second_done():
        _, docs = table_rows(output / 'documents')
        return any(d['doc_id'] == 'after-restart' for d in docs)

      assert wait_for(second_done, 120), 'restarted job wrote nothing'

    # Reusing the first run's id is refused at start-up, before any write.
    from pipeline.option_error import OptionError
    from pipeline.run import parse
    with pytest.raises(OptionError, match='already used by a streaming job'):
      parse([str(a) for a in argv + ['--run_id', 'first']])

  for name, mtime in first_files.items():  # every earlier file untouched
    matches = list(output.rglob(name))
    assert matches and matches[0].stat().st_mtime == mtime, name
  _, docs = table_rows(output / 'documents')
  _, dead = table_rows(output / 'dead_letter')
  ids = sorted(d['doc_id'] for d in docs)
  # Every good message written once; g0 twice (two versions); g1's
  # redelivery dropped; the post-restart document too.
  assert ids == sorted(list(GOOD) + ['g0', 'after-restart'])
  g0 = sorted(d['source'] for d in docs if d['doc_id'] == 'g0')
  assert len(set(g0)) == 2  # told apart by their messages
  # Every poison message dead-lettered, with a reason and a writable id.
  assert len(dead) == len(POISON)
  reasons = ' | '.join(sorted(d['reason'] for d in dead))
  for expected in ('text is not valid Unicode text', 'id is not valid Unicode',
                   'text is null', 'text is not a string but int',
                   'has no "text" field', 'malformed JSON', 'not valid UTF-8',
                   'empty or whitespace only'):
    assert expected in reasons, (expected, reasons)
  assert any('\\udfff' in (d['doc_id'] or '') for d in dead)
  names = [f.name for f in output.rglob('[!.]*.parquet')]
  assert any(n.endswith('-first.parquet') for n in names)
  assert any(n.endswith('of002-second.parquet') for n in names)  # sharded
  assert any(n.endswith('of001-first.parquet') for n in names)
