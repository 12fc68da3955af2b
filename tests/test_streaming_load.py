"""Streaming under load (Google's Pub/Sub emulator, BundleBasedDirectRunner).

Reproduces the loss reported in issue 19: the direct runner pulls at most
10 messages per bundle and then moves the watermark to the wall clock, so a
backlog's older messages reached the job's GroupByKeys behind the watermark
and were dropped as late data, silently. The model stage is made slower
than arrival with a sleep around the real handler's `run_inference` (the
only stand-in here: a real model on this machine is not slow enough to
build a backlog deterministically).

Every case checks the invariant: published = written documents + dead
letters + duplicates dropped, and every good message is written exactly
once. The duplicates are counted from what the test published: Beam 2.77's
BundleBasedDirectRunner reports user counters of a streaming job from each
step's first bundle only (its state sampler keeps the first bundle's metrics
container), so `duplicates_dropped` cannot be read back here; the TestStream
tests in test_streaming_dedup.py check what it counts.
"""
import json
import re
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.readers import window_files
from tests.emulators import pubsub_clients, pubsub_emulator_missing
from tests.emulators import streaming_job, topic_with_subscription
from tests.emulators import wait_for

MISSING = pubsub_emulator_missing()
pytestmark = pytest.mark.skipif(bool(MISSING), reason=MISSING or 'n/a')

PROJECT = 'gliner-beam-test'
WINDOW_SECONDS = 2
MALFORMED = [b'{"id": "bad-json", ', b'\xff\xfe not utf-8',
             b'{"id": "no-text"}']


def table_rows(directory):
  return [r for f in window_files(directory)
          for r in pq.read_table(f).to_pylist()]


def slow_model(monkeypatch, seconds_per_batch: float):
  """The real handler, slower than arrival: a sleep before each batch."""
  from model_handler.handler import GlinerModelHandler
  real = GlinerModelHandler.run_inference

  def slow(self, batch, model, inference_args=None):
    if batch:
      time.sleep(seconds_per_batch)
    return real(self, batch, model, inference_args)

  monkeypatch.setattr(GlinerModelHandler, 'run_inference', slow)


def document(i: int) -> bytes:
  return json.dumps({'id': f'd{i:04d}',
                     'text': f'Report {i} says Marie Curie lived in Paris.'
                     }).encode()


def publish_all(publisher, topic, payloads):
  for future in [publisher.publish(topic, p) for p in payloads]:
    future.result(timeout=60)


def job_argv(subscription, output, model, run_id, *extra):
  return ['--streaming', '--input_subscription', subscription, '--output',
          output, '--model', model, '--labels', 'location', '--threshold',
          '0.3', '--window_seconds', WINDOW_SECONDS, '--runner',
          'BundleBasedDirectRunner', '--run_id', run_id, *extra]


def written_rows(output, expected: int, timeout: float):
  """Wait until documents + dead letters reach `expected`, then one more
  window (a late or repeated copy would show up); -> (reached, documents,
  dead letters)."""
  def done():
    return (len(table_rows(output / 'documents')) +
            len(table_rows(output / 'dead_letter')) >= expected)

  reached = wait_for(done, timeout)
  time.sleep(WINDOW_SECONDS + 2)
  return (reached, table_rows(output / 'documents'),
          table_rows(output / 'dead_letter'))


def pane_indexes(directory):
  return sorted({int(re.search(r'-pane(\d+)-', f).group(1))
                 for f in window_files(directory)})


def test_burst_behind_a_slow_model_loses_nothing(marker_model, tmp_path,
                                                 monkeypatch):
  """A burst of many pulls' worth with malformed messages mixed in, then
  publisher retries that fall in a later window, then a trickle, behind a
  model slower than arrival. Before: the retries were written twice, and
  on a busy machine whole blocks of the burst vanished."""
  slow_model(monkeypatch, 0.3)
  n_docs = 120
  with pubsub_clients(tmp_path, monkeypatch) as (publisher, subscriber):
    topic, subscription = topic_with_subscription(publisher, subscriber,
                                                  PROJECT, 'docs')
    output = tmp_path / 'out'
    argv = job_argv(subscription, output, marker_model, 'load')
    with streaming_job(argv, publisher, topic):
      burst = [document(i) for i in range(n_docs)]
      burst[10:10] = MALFORMED
      publish_all(publisher, topic, burst)
      time.sleep(WINDOW_SECONDS + 1)  # the retries land in a later window
      retries = [document(i) for i in (0, 1, 2)]
      publish_all(publisher, topic, retries)
      # then a steady trickle while the backlog drains (the second report:
      # a burst, then a trickle, lost one contiguous block between them)
      trickle = [document(i) for i in range(n_docs, n_docs + 9)]
      for message in trickle:
        publish_all(publisher, topic, [message])
        time.sleep(0.3)
      n_docs += len(trickle)
      published = len(burst) + len(retries) + len(trickle)
      finished, docs, dead = written_rows(output, n_docs + len(MALFORMED),
                                          240)
  print(f'\nburst: published {published}, written {len(docs)}, dead '
        f'{len(dead)}, retries {len(retries)}')
  assert finished, (f'only {len(docs)} documents and {len(dead)} dead '
                    f'letters of {published} messages')
  assert sorted(d['doc_id'] for d in docs) == [f'd{i:04d}'
                                                for i in range(n_docs)]
  assert sorted(d['stage'] for d in dead) == ['parse'] * len(MALFORMED)
  assert published == len(docs) + len(dead) + len(retries)


def test_backlog_from_before_the_start_is_written(marker_model, tmp_path,
                                                  monkeypatch):
  """Messages waiting in the subscription when the job starts (a restart
  after an outage) are all behind the watermark once the first pull
  returns. Before: 53 of these 63 vanished. Now they are written in late
  panes. With --timestamp_attribute, a message two hours old by its
  attribute lands in that window; an unparsable attribute is a dead
  letter."""
  n_docs = 60
  with pubsub_clients(tmp_path, monkeypatch) as (publisher, subscriber):
    topic, subscription = topic_with_subscription(publisher, subscriber,
                                                  PROJECT, 'docs')
    backlog = [document(i) for i in range(n_docs)] + MALFORMED
    publish_all(publisher, topic, backlog)
    two_hours_ago = int((time.time() - 7200) * 1000)
    for future in [
        publisher.publish(topic, b'Old news from Lisbon.', id='old',
                          ts=str(two_hours_ago)),
        publisher.publish(topic, b'Bad stamp from Oslo.', id='bad-ts',
                          ts='yesterday-ish')]:
      future.result(timeout=30)
    published = len(backlog) + 2
    time.sleep(WINDOW_SECONDS + 1)  # their windows have closed
    output = tmp_path / 'out'
    argv = job_argv(subscription, output, marker_model, 'backlog',
                    '--timestamp_attribute', 'ts')
    with streaming_job(argv, publisher, topic):
      finished, docs, dead = written_rows(output, published, 180)
  print(f'\nbacklog: published {published}, written {len(docs)}, dead '
        f'{len(dead)}, document panes {pane_indexes(output / "documents")}')
  assert finished, (f'only {len(docs)} documents and {len(dead)} dead '
                    f'letters of {published} messages')
  assert sorted(d['doc_id'] for d in docs) == sorted(
      [f'd{i:04d}' for i in range(n_docs)] + ['old'])
  assert len(dead) == len(MALFORMED) + 1
  bad = [d for d in dead if d['doc_id'] == 'bad-ts']
  assert bad and "attribute 'ts' is not a timestamp" in bad[0]['reason']
  assert max(pane_indexes(output / 'documents')) > 0  # late panes fired
  old_window = time.strftime('%Y%m%dT%H', time.gmtime(two_hours_ago / 1000))
  assert any(Path(f).name.startswith(f'documents-{old_window}')
             for f in window_files(output / 'documents'))


def test_messages_later_than_allowed_are_dead_letters(marker_model, tmp_path,
                                                      monkeypatch):
  """With --allowed_lateness_seconds 1, a backlog whose windows closed
  seconds ago is too late: each message is a dead letter saying so (with
  its text), none vanishes, and fresh messages are written."""
  n_old, n_new = 25, 5
  with pubsub_clients(tmp_path, monkeypatch) as (publisher, subscriber):
    topic, subscription = topic_with_subscription(publisher, subscriber,
                                                  PROJECT, 'docs')
    publish_all(publisher, topic, [document(i) for i in range(n_old)])
    time.sleep(WINDOW_SECONDS + 3)
    output = tmp_path / 'out'
    argv = job_argv(subscription, output, marker_model, 'strict',
                    '--allowed_lateness_seconds', '1')
    with streaming_job(argv, publisher, topic):
      def old_done():
        return len(table_rows(output / 'dead_letter')) >= n_old

      old_finished = wait_for(old_done, 120)
      fresh = [document(i) for i in range(1000, 1000 + n_new)]
      publish_all(publisher, topic, fresh)

      def new_done():
        return len(table_rows(output / 'documents')) >= n_new

      new_finished = wait_for(new_done, 120)
      time.sleep(WINDOW_SECONDS + 2)
      docs = table_rows(output / 'documents')
      dead = table_rows(output / 'dead_letter')
  print(f'\ntoo late: published {n_old + n_new}, written {len(docs)}, '
        f'dead {len(dead)}')
  assert old_finished and new_finished, (len(docs), len(dead))
  assert sorted(d['doc_id'] for d in dead) == [f'd{i:04d}'
                                                for i in range(n_old)]
  assert {d['stage'] for d in dead} == {'late'}
  assert all('more than --allowed_lateness_seconds=1' in d['reason']
             for d in dead)
  assert all('Marie Curie' in d['payload_snippet'] for d in dead)
  assert sorted(d['doc_id'] for d in docs) == [
      f'd{i:04d}' for i in range(1000, 1000 + n_new)]
