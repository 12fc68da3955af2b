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

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple, Union

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, TimerSpec, on_timer
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.utils.timestamp import Timestamp

from common.metrics import NAMESPACE
from common.records import DEAD_LETTER, CallResult, DeadLetter, StagePlan
from model_handler.tasks import Task
from transforms.lateness import at_event_time
from transforms.merge_windows import merged_outputs

Part = Union[CallResult, StagePlan]

# A document's results normally all arrive within seconds of each other.
DEFAULT_TIMEOUT_SECONDS = 3600


@dataclass(frozen=True)
class Tally:
  """What has arrived of one document, kept beside its parts so each
  arrival costs one small read, not a read of everything held (a long
  document has hundreds of results)."""
  stage1: int = 0
  expected1: int = 0
  relations1: int = 0
  plans: int = 0
  stage2: int = 0
  expected2: int = 0

  def add(self, part: Part, relations_task: Optional[str]) -> 'Tally':
    if isinstance(part, StagePlan):
      return dataclasses.replace(self, plans=self.plans + 1,
                                 expected2=self.expected2 + part.n_calls)
    if part.call.stage != 1:
      return dataclasses.replace(self, stage2=self.stage2 + 1)
    return dataclasses.replace(
        self, stage1=self.stage1 + 1, expected1=part.call.doc_calls,
        relations1=self.relations1 + (part.call.task == relations_task))

  def missing(self) -> Optional[str]:
    """None when every result of the document is in, else what is
    missing. Plans are awaited only once every stage-1 result is in (each
    stage-1 relations result brings exactly one)."""
    if not self.stage1:
      return 'no stage-1 result'
    if self.stage1 < self.expected1:
      return f'{self.stage1} of {self.expected1} stage-1 results'
    if self.plans < self.relations1:
      return f'{self.plans} of {self.relations1} stage-2 plans'
    if self.stage2 < self.expected2:
      return f'{self.stage2} of {self.expected2} stage-2 results'
    return None


class AssembleDocumentFn(beam.DoFn):
  """(record key, result or plan) -> the merged document, once complete."""

  PARTS = BagStateSpec('parts', PickleCoder())
  TALLY = ReadModifyWriteStateSpec('tally', PickleCoder())
  STALE = TimerSpec('stale', TimeDomain.REAL_TIME)
  PARTS_PARAM = beam.DoFn.StateParam(PARTS)
  TALLY_PARAM = beam.DoFn.StateParam(TALLY)
  STALE_PARAM = beam.DoFn.TimerParam(STALE)

  def __init__(self, tasks: Sequence[Task], relations_task: Optional[str],
               timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS):
    self._tasks = tuple(tasks)
    self._relations_task = relations_task
    self._timeout = timeout_seconds
    self._enriched = Metrics.counter(NAMESPACE, 'documents_enriched')
    self._incomplete = Metrics.counter(NAMESPACE, 'documents_incomplete')

  def process(self, keyed: Tuple[str, Part], parts=PARTS_PARAM,
              tally=TALLY_PARAM, stale=STALE_PARAM):
    record_key, part = keyed
    held = tally.read()
    if held is None:
      held = Tally()
      stale.set(Timestamp.now() + self._timeout)
    held = held.add(part, self._relations_task)
    if held.missing() is not None:
      parts.add(part)
      tally.write(held)
      return
    results = [p for p in list(parts.read()) + [part]
               if isinstance(p, CallResult)]
    parts.clear()
    tally.clear()
    stale.clear()
    event_time = results[0].call.window.event_time
    for output in merged_outputs(record_key, results, self._tasks,
                                 self._enriched):
      yield at_event_time(output, event_time)

  @on_timer(STALE)
  def on_stale(self, key=beam.DoFn.KeyParam, parts=PARTS_PARAM,
               tally=TALLY_PARAM):
    held = tally.read()
    results = [p for p in parts.read() if isinstance(p, CallResult)]
    parts.clear()
    tally.clear()
    if held is None:
      return
    self._incomplete.inc()
    window = results[0].call.window if results else None
    letter = DeadLetter(key, window and window.doc_id, 'merge',
                        f'results still incomplete after {self._timeout} s '
                        f'({held.missing()}); not merged from part of them')
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
