"""Reading documents from Pub/Sub (streaming).

A message is either JSON -- ``{"id": ..., "text": ..., <task columns>...}`` --
or raw UTF-8 text. With raw text (and JSON without "id") the document id is
the message attribute `--id_attribute` (default ``id``) when present, else the
Pub/Sub message id. Malformed JSON, invalid UTF-8 and missing text become
dead letters keyed by the message id. Messages carrying the attribute
``gliner_beam_heartbeat`` are dropped: they only keep a quiet subscription
moving (see tests).

Event time is the publish time, or with `--timestamp_attribute` that
attribute (milliseconds since the epoch, or RFC 3339) where a message has
it. The attribute is read here rather than by the source: the source fails
the whole pipeline on one unparsable value, here it is that message's dead
letter. The source's watermark then follows publish times; a message whose
attribute is older than its publish time may arrive late (see
transforms.lateness).
"""
from __future__ import annotations

import dataclasses
import json
from typing import Optional, Tuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from common.metrics import NAMESPACE
from common.records import DEAD_LETTER, DeadLetter, SourceRow
from common.schemas import writable
from common.text import not_utf8

HEARTBEAT_ATTRIBUTE = 'gliner_beam_heartbeat'


def parse_message(data: bytes, attributes: dict, message_id: str,
                  message_format: str, id_attribute: str,
                  extra_columns: Tuple[str, ...]):
  """Pub/Sub payload -> SourceRow, or DeadLetter with the reason."""
  key = f'pubsub:{message_id}'
  attribute_id = (attributes or {}).get(id_attribute)
  try:
    text = data.decode('utf-8')
  except UnicodeDecodeError as exc:
    return DeadLetter(key, attribute_id, 'parse',
                      f'message is not valid UTF-8: {exc}', data)
  as_json = message_format == 'json' or (message_format == 'auto' and
                                         text.lstrip().startswith('{'))
  if not as_json:
    return SourceRow(key, attribute_id or message_id, text)
  try:
    payload = json.loads(text)
  except ValueError as exc:
    return DeadLetter(key, attribute_id, 'parse', f'malformed JSON: {exc}',
                      data)
  if not isinstance(payload, dict):
    return DeadLetter(key, attribute_id, 'parse',
                      f'JSON is a {type(payload).__name__}, not an object',
                      data)
  raw_id = payload.get('id', attribute_id or message_id)
  doc_id: Optional[str] = None if raw_id is None else str(raw_id)
  if 'text' not in payload:
    return DeadLetter(key, doc_id, 'parse', 'JSON has no "text" field', data)
  extras = {column: payload.get(column) for column in extra_columns}
  # JSON lets lone surrogates through; Beam's coders would fail on them
  # (killing the pipeline), so such a message is a dead letter here, with
  # its id escaped.
  for what, value in (('id', doc_id), ('text', payload['text']),
                      ('task columns', extras)):
    bad = not_utf8(value)
    if bad:
      return DeadLetter(key, writable(doc_id), 'parse',
                        f'{what} is not valid Unicode text: {bad}', data)
  return SourceRow(key, doc_id, payload['text'], extras)


def event_time(value: str) -> Timestamp:
  """A timestamp attribute: milliseconds since the epoch, or RFC 3339."""
  try:
    return Timestamp(micros=int(value) * 1000)
  except ValueError:
    return Timestamp.from_rfc3339(value)


class ParseMessagesFn(beam.DoFn):
  def __init__(self, message_format: str, id_attribute: str,
               extra_columns: Tuple[str, ...],
               timestamp_attribute: Optional[str] = None):
    self._format = message_format
    self._id_attribute = id_attribute
    self._extra_columns = tuple(extra_columns)
    self._timestamp_attribute = timestamp_attribute
    self._read = Metrics.counter(NAMESPACE, 'documents_read')

  def process(self, message, timestamp=beam.DoFn.TimestampParam):
    attributes = message.attributes or {}
    if HEARTBEAT_ATTRIBUTE in attributes:
      return
    self._read.inc()
    try:
      parsed = parse_message(message.data, attributes, message.message_id,
                             self._format, self._id_attribute,
                             self._extra_columns)
    except Exception as exc:  # pylint: disable=broad-except
      parsed = DeadLetter(f'pubsub:{message.message_id}', None, 'parse',
                          f'{type(exc).__name__}: {exc}'[:500], message.data)
    stamp = attributes.get(self._timestamp_attribute or '')
    if not isinstance(parsed, DeadLetter):
      try:
        when = timestamp if stamp is None else event_time(stamp)
        parsed = TimestampedValue(
            dataclasses.replace(parsed, event_time=float(when)), when)
      except Exception as exc:  # pylint: disable=broad-except
        parsed = DeadLetter(
            parsed.record_key, parsed.doc_id, 'parse',
            f'attribute {self._timestamp_attribute!r} is not a timestamp '
            f'(milliseconds since the epoch or RFC 3339): {str(stamp)[:100]!r} '
            f'({type(exc).__name__})', message.data)
    if isinstance(parsed, DeadLetter):
      yield beam.pvalue.TaggedOutput(DEAD_LETTER, parsed)
    else:
      yield parsed


class ReadPubSubDocuments(beam.PTransform):
  """Subscription or topic -> (SourceRows, dead letters)."""

  def __init__(self, subscription: Optional[str], topic: Optional[str],
               message_format: str = 'auto', id_attribute: str = 'id',
               extra_columns: Tuple[str, ...] = (),
               cross_language: bool = False,
               expansion_service: Optional[str] = None,
               timestamp_attribute: Optional[str] = None):
    super().__init__()
    self._timestamp_attribute = timestamp_attribute
    # Portable runners (Flink) cannot run Python's native Pub/Sub source;
    # Beam's cross-language read runs the Java one through an expansion
    # service instead.
    self._cross_language = cross_language
    self._expansion_service = expansion_service
    self._subscription = subscription
    self._topic = topic
    self._format = message_format
    self._id_attribute = id_attribute
    self._extra_columns = tuple(extra_columns)

  def expand(self, pbegin):
    if self._cross_language:
      from apache_beam.io.external.gcp.pubsub import ReadFromPubSub
      read = ReadFromPubSub(
          subscription=self._subscription,
          topic=self._topic,
          with_attributes=True,
          expansion_service=self._expansion_service)
    else:
      read = beam.io.ReadFromPubSub(
          subscription=self._subscription,
          topic=self._topic,
          with_attributes=True)
    parsed = (
        pbegin
        | 'ReadPubSub' >> read
        | 'ParseMessages' >> beam.ParDo(
            ParseMessagesFn(self._format, self._id_attribute,
                            self._extra_columns,
                            self._timestamp_attribute)).with_outputs(
                                DEAD_LETTER, main='rows'))
    return parsed.rows, parsed[DEAD_LETTER]
