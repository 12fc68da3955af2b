"""Streaming's merge: gather each document's model results with state, and
merge it once every result is in.

The batch job groups results per document with a GroupByKey, which is
complete because the input is. A streaming GroupByKey fires when the
watermark passes a window's end; a document that arrives late (a backlog,
a slow worker) then reaches it piecemeal, each late pane holding part of its
results. So the streaming job runs its model stages in the global window and
counts instead: stage-1 calls carry their document's call count
(`ModelCall.doc_calls`), and every stage-1 relations result is followed by a
StagePlan saying how many stage-2 calls it led to. A document is merged
exactly when those counts are met, never from part of its results. One that
stays incomplete past `timeout_seconds` (a lost result would be a bug) is
dead-lettered with what it got, not kept forever or dropped.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple, Union

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

from common.metrics import NAMESPACE
from common.records import DEAD_LETTER, CallResult, DeadLetter, StagePlan
from model_handler.tasks import Task
from transforms.lateness import at_event_time
from transforms.merge_windows import merged_outputs

Part = Union[CallResult, StagePlan]

# A document's results normally all arrive within seconds of each other.
DEFAULT_TIMEOUT_SECONDS = 3600


def missing_parts(parts: Sequence[Part],
                  relations_task: Optional[str]) -> Optional[str]:
  """None when every result of the document is in, else what is missing."""
  results = [p for p in parts if isinstance(p, CallResult)]
  plans = [p for p in parts if isinstance(p, StagePlan)]
  stage1 = [r for r in results if r.call.stage == 1]
  if not stage1:
    return 'no stage-1 result'
  expected = stage1[0].call.doc_calls
  if len(stage1) < expected:
    return f'{len(stage1)} of {expected} stage-1 results'
  if relations_task is None:
    return None
  planned = sum(1 for r in stage1 if r.call.task == relations_task)
  if len(plans) < planned:
    return f'{len(plans)} of {planned} stage-2 plans'
  stage2 = len(results) - len(stage1)
  wanted = sum(p.n_calls for p in plans)
  if stage2 < wanted:
    return f'{stage2} of {wanted} stage-2 results'
  return None


class AssembleDocumentFn(beam.DoFn):
  """(record key, result or plan) -> the merged document, once complete."""

  PARTS = BagStateSpec('parts', PickleCoder())
  STALE = TimerSpec('stale', TimeDomain.REAL_TIME)
  PARTS_PARAM = beam.DoFn.StateParam(PARTS)
  STALE_PARAM = beam.DoFn.TimerParam(STALE)

  def __init__(self, tasks: Sequence[Task], relations_task: Optional[str],
               timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS):
    self._tasks = tuple(tasks)
    self._relations_task = relations_task
    self._timeout = timeout_seconds
    self._enriched = Metrics.counter(NAMESPACE, 'documents_enriched')
    self._incomplete = Metrics.counter(NAMESPACE, 'documents_incomplete')

  def process(self, keyed: Tuple[str, Part],
              parts=PARTS_PARAM, stale=STALE_PARAM):
    record_key, part = keyed
    held: List[Part] = list(parts.read())
    if not held:
      stale.set(Timestamp.now() + self._timeout)
    held.append(part)
    if missing_parts(held, self._relations_task) is not None:
      parts.add(part)
      return
    parts.clear()
    stale.clear()
    results = [p for p in held if isinstance(p, CallResult)]
    event_time = results[0].call.window.event_time
    for output in merged_outputs(record_key, results, self._tasks,
                                 self._enriched):
      yield at_event_time(output, event_time)

  @on_timer(STALE)
  def on_stale(self, key=beam.DoFn.KeyParam,
               parts=PARTS_PARAM):
    held = list(parts.read())
    parts.clear()
    if not held:
      return
    self._incomplete.inc()
    results = [p for p in held if isinstance(p, CallResult)]
    window = results[0].call.window if results else None
    missing = missing_parts(held, self._relations_task)
    letter = DeadLetter(key, window and window.doc_id, 'merge',
                        f'results still incomplete after {self._timeout} s '
                        f'({missing}); not merged from part of them')
    yield beam.pvalue.TaggedOutput(
        DEAD_LETTER, at_event_time(letter, window and window.event_time))


class AssembleDocuments(beam.PTransform):
  """CallResults and StagePlans of every stage -> (enriched documents, dead
  letters), merged per document as soon as it is complete."""

  def __init__(self, tasks: Sequence[Task], relations_task: Optional[str],
               timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS):
    super().__init__()
    self._tasks = tuple(tasks)
    self._relations_task = relations_task
    self._timeout = timeout_seconds

  def expand(self, parts):
    assembled = (
        parts
        | 'KeyByRecord' >> beam.Map(
            lambda p: ((p.record_key if isinstance(p, StagePlan) else
                        p.call.window.record_key), p)).with_output_types(
                            Tuple[str, Any])
        | 'Assemble' >> beam.ParDo(
            AssembleDocumentFn(self._tasks, self._relations_task,
                               self._timeout)).with_outputs(
                                   DEAD_LETTER, main='documents'))
    return assembled.documents, assembled[DEAD_LETTER]
