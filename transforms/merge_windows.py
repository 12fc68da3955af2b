"""Post-processing: model results of all windows and tasks -> one result per
document, per task."""
from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, List, Sequence, Tuple

import apache_beam as beam
from apache_beam.metrics import Metrics

from common.metrics import NAMESPACE
from common.records import DEAD_LETTER, CallResult, DeadLetter, EnrichedDocument
from model_handler.span_rules import resolve_overlaps
from model_handler.tasks import Task



def merge_label_parts(results: Sequence[CallResult]) -> List[CallResult]:
  """Results of a label set split into parts -> one result per prompt, as
  if the model had seen every label at once: the union of the parts' spans
  (decoded without overlap rules) with the prompt's own flat/multi-label
  rules applied across them."""
  merged: List[CallResult] = []
  parts: Dict[tuple, List[CallResult]] = {}
  for result in results:
    prompt = result.call.prompt
    if prompt.parts == 1:
      merged.append(result)
    else:
      key = (result.call.window.index, prompt.task, prompt.stage, prompt.tag)
      parts.setdefault(key, []).append(result)
  for group in parts.values():
    group.sort(key=lambda r: r.call.prompt.part)
    first = group[0].call
    whole = dataclasses.replace(
        first.prompt, labels=tuple(label for r in group for label in r.call.labels),
        part=0, parts=1)
    spans = resolve_overlaps([s for r in group for s in r.spans],
                             whole.flat_ner, whole.multi_label)
    merged.append(CallResult(dataclasses.replace(first, prompt=whole),
                             spans=tuple(spans)))
  return merged


def merge_document(record_key: str, results: Iterable[CallResult],
                   tasks: Sequence[Task]):
  """All results of one input row -> (EnrichedDocument, task dead letters),
  or (DeadLetter, []) when a call failed or a window went missing (never
  half-enriched). A task whose merge fails is dead-lettered alone."""
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
        f'{first.n_windows}: {bad.error}', bad.call.window.text), []
  seen = sorted({r.call.window.index for r in results})
  if seen != list(range(first.n_windows)):
    return DeadLetter(
        record_key, first.doc_id, 'merge',
        f'expected windows 0..{first.n_windows - 1}, got {seen}'), []
  by_task: Dict[str, list] = {}
  for result in merge_label_parts(results):
    by_task.setdefault(result.call.task, []).append(result)
  outputs, task_dead = {}, []
  for task in tasks:
    try:
      outputs[task.name] = task.collect(by_task.get(task.name, []),
                                        first.n_windows)
    except Exception as exc:  # pylint: disable=broad-except
      outputs[task.name] = ()
      task_dead.append(
          DeadLetter(record_key, first.doc_id, 'merge',
                     f'{type(exc).__name__}: {exc}'[:500], task=task.name))
  return EnrichedDocument(record_key, first.doc_id, first.doc_chars,
                          first.doc_words, first.n_windows, outputs,
                          first.content_hash), task_dead


def merged_outputs(record_key: str, results: Sequence[CallResult],
                   tasks: Sequence[Task], enriched_counter):
  """merge_document's outputs as a DoFn yields them: the document (or its
  dead letter) plus task dead letters; a merge that raises dead-letters the
  document with the reason."""
  try:
    merged, task_dead = merge_document(record_key, results, tasks)
  except Exception as exc:  # pylint: disable=broad-except
    some = next(iter(results), None)
    doc_id = some.call.window.doc_id if some else None
    merged, task_dead = DeadLetter(record_key, doc_id, 'merge',
                                   f'{type(exc).__name__}: {exc}'[:500]), []
  for letter in task_dead:
    yield beam.pvalue.TaggedOutput(DEAD_LETTER, letter)
  if isinstance(merged, DeadLetter):
    yield beam.pvalue.TaggedOutput(DEAD_LETTER, merged)
    return
  enriched_counter.inc()
  for entity in merged.entities:
    Metrics.counter(NAMESPACE, f'entities[{entity.label}]').inc()
  yield merged


class MergeDocumentFn(beam.DoFn):
  def __init__(self, tasks: Sequence[Task]):
    self._tasks = tuple(tasks)
    self._enriched = Metrics.counter(NAMESPACE, 'documents_enriched')

  def process(self, keyed: Tuple[str, Iterable[CallResult]]):
    record_key, results = keyed
    yield from merged_outputs(record_key, list(results), self._tasks,
                              self._enriched)


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
