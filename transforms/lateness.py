"""Streaming: event-time windows that take late data, and dead letters (not
silence) for data later than the job allows.

Event time is the Pub/Sub publish time, or the message attribute named by
`--timestamp_attribute` (read in transforms.read_pubsub). Windows are fixed,
`--window_seconds` long; each fires once when the watermark passes its end
and then again for every later arrival (a late pane: its own file, the pane
index in the name) until `--allowed_lateness_seconds` after its end.

A runner may deliver data behind the watermark at any time -- a backlog
after a restart, a slow worker; Beam 2.77's direct runner does it under any
backlog, because it moves the watermark to the wall clock after every pull
of at most 10 messages. Beam drops such data at a GroupByKey once its window
has expired, without a trace. So the job never lets data reach a windowed
GroupByKey expired:
- `SplitTooLate` runs on arrival, before the model: a row whose window closed
  more than the allowed lateness ago (against the wall clock, which no
  watermark passes) becomes a dead letter with the reason, stamped with the
  current time so that it is written, not dropped.
- Between arrival and the sinks everything runs in the global window, where
  nothing expires (the model stages, the document assembly).
- The sinks' windows keep `SINK_SLACK_SECONDS` more lateness than the
  arrival check allows, so a row that passed it is still accepted after a
  long model stage; `SplitTooLate` runs once more before them as a last
  net (a document that took longer than the slack is dead-lettered).
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Optional

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms import trigger, window
from apache_beam.utils.timestamp import Duration, Timestamp

from common.metrics import NAMESPACE
from common.records import DEAD_LETTER, DeadLetter, EnrichedDocument, SourceRow

# Time a row may spend between the arrival check and the sinks.
SINK_SLACK_SECONDS = 1800
LATE_STAGE = 'late'
# An event time this far ahead of the wall clock is no event time.
FUTURE_SECONDS = 7 * 86400


def at_event_time(value, event_time: Optional[float]):
  """Give an output of the model stages its document's event time back:
  Beam's batching emits at the end of the global window, so without this
  every result would fall into a window that never closes."""
  if event_time is None or isinstance(value, window.TimestampedValue):
    return value
  if isinstance(value, beam.pvalue.TaggedOutput):
    return beam.pvalue.TaggedOutput(
        value.tag, at_event_time(value.value, event_time))
  return window.TimestampedValue(value, event_time)


def window_end(timestamp: Timestamp, window_seconds: int) -> float:
  seconds = float(timestamp)
  return seconds - seconds % window_seconds + window_seconds


def utc(seconds: float) -> str:
  return datetime.fromtimestamp(seconds, timezone.utc).strftime(
      '%Y-%m-%dT%H:%M:%SZ')


def event_windows(window_seconds: int, allowed_lateness: int):
  """The sinks' windowing: on time once, then a pane per late arrival."""
  return beam.WindowInto(
      window.FixedWindows(window_seconds),
      trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
      allowed_lateness=Duration(seconds=allowed_lateness +
                                SINK_SLACK_SECONDS),
      accumulation_mode=trigger.AccumulationMode.DISCARDING)


class SplitTooLateFn(beam.DoFn):
  """Rows, enriched documents or dead letters -> themselves, or (too late)
  a dead letter stamped now. A dead letter that is too late is only
  re-stamped: it already says why it is there."""

  def __init__(self, window_seconds: int, allowed_lateness: int,
               slack_seconds: int = 0):
    self._window = window_seconds
    self._lateness = allowed_lateness
    self._slack = slack_seconds  # before the sinks: the time in the model
    self._too_late = Metrics.counter(NAMESPACE, 'too_late_rows')

  def process(self, element, timestamp=beam.DoFn.TimestampParam):
    now = time.time()
    if float(timestamp) > now + FUTURE_SECONDS:
      # No event time (e.g. the end of the global window after batching):
      # its window would never close, so the row would never be written.
      Metrics.counter(NAMESPACE, 'rows_without_event_time').inc()
      yield window.TimestampedValue(element, now)
      return
    end = window_end(timestamp, self._window)
    if end + self._lateness + self._slack > now:
      yield element
      return
    if isinstance(element, DeadLetter):
      yield window.TimestampedValue(element, now)
      return
    self._too_late.inc()
    reason = (f'too late: event time {utc(float(timestamp))}, its '
              f'{self._window} s window closed at {utc(end)}, '
              f'{now - end:.0f} s before it was '
              f'{"enriched" if isinstance(element, EnrichedDocument) else "read"}'
              f', more than --allowed_lateness_seconds={self._lateness}' +
              (f' plus {self._slack} s for enrichment' if self._slack else ''))
    payload = element.text if isinstance(element, SourceRow) else None
    yield beam.pvalue.TaggedOutput(
        DEAD_LETTER,
        window.TimestampedValue(
            DeadLetter(element.record_key, element.doc_id, LATE_STAGE,
                       reason, payload), now))


class SplitTooLate(beam.PTransform):
  """-> (elements in time, dead letters for those too late)."""

  def __init__(self, window_seconds: int, allowed_lateness: int,
               slack_seconds: int = 0):
    super().__init__()
    self._window = window_seconds
    self._lateness = allowed_lateness
    self._slack = slack_seconds

  def expand(self, elements):
    split = elements | 'SplitTooLate' >> beam.ParDo(
        SplitTooLateFn(self._window, self._lateness,
                       self._slack)).with_outputs(
            DEAD_LETTER, main='in_time')
    return split.in_time, split[DEAD_LETTER]
