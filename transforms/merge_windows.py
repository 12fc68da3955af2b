"""Post-processing: model results of all windows and tasks -> one result per
document, per task."""
from __future__ import annotations

from typing import Dict, Iterable, Sequence, Tuple

import apache_beam as beam
from apache_beam.metrics import Metrics

from common.metrics import NAMESPACE
from common.records import DEAD_LETTER, CallResult, DeadLetter, EnrichedDocument
from model_handler.tasks import Task



def merge_document(record_key: str, results: Iterable[CallResult],
                   tasks: Sequence[Task]):
  """All results of one input row -> EnrichedDocument, or a DeadLetter when a
  call failed or a window went missing (never half-enriched)."""
  results = sorted(
      results,
      key=lambda r: (r.call.window.index, r.call.task, r.call.stage,
                     r.call.tag))
  first = results[0].call.window
  errors = [r for r in results if r.error]
  if errors:
    bad = errors[0]
    return DeadLetter(
        record_key, first.doc_id, 'inference',
        f'{bad.call.task} on window {bad.call.window.index} of '
        f'{first.n_windows}: {bad.error}', bad.call.window.text)
  seen = sorted({r.call.window.index for r in results})
  if seen != list(range(first.n_windows)):
    return DeadLetter(record_key, first.doc_id, 'merge',
                      f'expected windows 0..{first.n_windows - 1}, got {seen}')
  by_task: Dict[str, list] = {}
  for result in results:
    by_task.setdefault(result.call.task, []).append(result)
  outputs = {
      task.name: task.collect(by_task.get(task.name, []), first.n_windows)
      for task in tasks
  }
  return EnrichedDocument(record_key, first.doc_id, first.doc_chars,
                          first.doc_words, first.n_windows, outputs)


class MergeDocumentFn(beam.DoFn):
  def __init__(self, tasks: Sequence[Task]):
    self._tasks = tuple(tasks)
    self._enriched = Metrics.counter(NAMESPACE, 'documents_enriched')

  def process(self, keyed: Tuple[str, Iterable[CallResult]]):
    record_key, results = keyed
    merged = merge_document(record_key, results, self._tasks)
    if isinstance(merged, DeadLetter):
      yield beam.pvalue.TaggedOutput(DEAD_LETTER, merged)
      return
    self._enriched.inc()
    for entity in merged.entities:
      Metrics.counter(NAMESPACE, f'entities[{entity.label}]').inc()
    yield merged


class MergeResults(beam.PTransform):
  """CallResults of every stage -> (enriched documents, dead letters)."""

  def __init__(self, tasks: Sequence[Task]):
    super().__init__()
    self._tasks = tuple(tasks)

  def expand(self, predictions):
    merged = (
        predictions
        | 'KeyByRecord' >> beam.Map(lambda r: (r.call.window.record_key, r))
        | 'GroupByDocument' >> beam.GroupByKey()
        | 'Merge' >> beam.ParDo(MergeDocumentFn(self._tasks)).with_outputs(
            DEAD_LETTER, main='documents'))
    return merged.documents, merged[DEAD_LETTER]
