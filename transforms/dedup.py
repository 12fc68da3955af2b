"""Streaming: drop Pub/Sub's repeats across windows, with Beam's own
DeduplicatePerKey (state and a processing-time timer per key).

Pub/Sub delivers at least once, and publishers retry. Two kinds of repeat
are dropped while the first copy is younger than the horizon (counted from
when the job read it):
- a redelivery: the same message id again (`redeliveries_dropped`);
- a publisher retry: a new message with the same document id and the same
  content -- text and task inputs (`duplicates_dropped`).
A new version of a document (same id, other content) is a different
document and goes through; readers tell versions apart by `source`.

Both run in the global window, before any windowing: DeduplicatePerKey
keeps its state per window, so inside fixed windows a retry that falls in
the next window would get through (it did, before). Counting what a Beam
transform drops needs no second copy of its logic: every element adds one
before it and every survivor takes one away after it, so the counter holds
the drops (in-flight elements count until they pass, a moment later).
"""
from __future__ import annotations

from typing import Any, Tuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.deduplicate import DeduplicatePerKey
from apache_beam.utils.timestamp import Duration

from common.metrics import NAMESPACE
from common.records import SourceRow


def message_key(row: SourceRow) -> str:
  return row.record_key


def content_key(row: SourceRow) -> str:
  """Same document id and same content; a row without an id (it will be
  dead-lettered) is keyed by its message, so it is never merged away."""
  if row.doc_id is None:
    return 'message\x00' + row.record_key
  return f'doc\x00{row.doc_id}\x00{row.content_hash()}'


class DropRepeats(beam.PTransform):
  """Rows -> rows, keeping the first of those with the same key within
  `horizon_seconds`; `counter` counts the rest."""

  def __init__(self, key_fn, horizon_seconds: int, counter: str):
    super().__init__()
    self._key_fn = key_fn
    self._horizon = horizon_seconds
    self._counter = counter

  def expand(self, rows):
    dropped = Metrics.counter(NAMESPACE, self._counter)
    key_fn = self._key_fn

    def seen(row):
      dropped.inc()
      return (key_fn(row), row)

    def kept(keyed):
      dropped.dec()
      return keyed[1]

    return (rows
            | 'Key' >> beam.Map(seen).with_output_types(Tuple[str, Any])
            | 'DeduplicatePerKey' >> DeduplicatePerKey(
                processing_time_duration=Duration(seconds=self._horizon))
            | 'Unkey' >> beam.Map(kept))


class DropDuplicates(beam.PTransform):
  """Redeliveries, then publisher retries; horizon 0 turns both off."""

  def __init__(self, horizon_seconds: int):
    super().__init__()
    self._horizon = horizon_seconds

  def expand(self, rows):
    if self._horizon <= 0:
      return rows
    return (rows
            | 'DropRedeliveries' >> DropRepeats(message_key, self._horizon,
                                                 'redeliveries_dropped')
            | 'DropRetries' >> DropRepeats(content_key, self._horizon,
                                           'duplicates_dropped'))
