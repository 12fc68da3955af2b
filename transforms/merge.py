"""Post-processing: model results per window -> one result per document."""
from __future__ import annotations

from typing import Iterable, Tuple

import apache_beam as beam
from apache_beam.metrics import Metrics

from model_handler.merge import resolve_overlaps
from model_handler.merge import to_document_entities
from pipeline.metrics import NAMESPACE
from transforms.records import DeadLetter, EnrichedDocument, WindowResult

DEAD = 'dead_letter'


def merge_document(record_key: str, results: Iterable[WindowResult],
                   flat_ner: bool, multi_label: bool):
  """All windows of one input row -> EnrichedDocument, or a DeadLetter when a
  window failed or went missing (a document is never half-enriched)."""
  results = sorted(results, key=lambda r: r.window.index)
  first = results[0].window
  errors = [r for r in results if r.error]
  if errors:
    return DeadLetter(
        record_key, first.doc_id, 'inference',
        f'window {errors[0].window.index} of {first.n_windows}: '
        f'{errors[0].error}', errors[0].window.text)
  indices = [r.window.index for r in results]
  if indices != list(range(first.n_windows)):
    return DeadLetter(record_key, first.doc_id, 'merge',
                      f'expected windows 0..{first.n_windows - 1}, got '
                      f'{indices}', None)
  entities = []
  for result in results:
    entities.extend(to_document_entities(result.window, result.entities))
  if first.n_windows > 1:
    entities = resolve_overlaps(entities, flat_ner, multi_label)
  return EnrichedDocument(record_key, first.doc_id, first.doc_chars,
                          first.doc_words, first.n_windows, tuple(entities))


class MergeWindowsFn(beam.DoFn):
  def __init__(self, flat_ner: bool, multi_label: bool):
    self._flat_ner = flat_ner
    self._multi_label = multi_label
    self._enriched = Metrics.counter(NAMESPACE, 'documents_enriched')

  def process(self, keyed: Tuple[str, Iterable[WindowResult]]):
    record_key, results = keyed
    merged = merge_document(record_key, results, self._flat_ner,
                            self._multi_label)
    if isinstance(merged, DeadLetter):
      yield beam.pvalue.TaggedOutput(DEAD, merged)
      return
    self._enriched.inc()
    for entity in merged.entities:
      Metrics.counter(NAMESPACE, f'entities[{entity.label}]').inc()
    yield merged


class MergeWindows(beam.PTransform):
  """PredictionResults -> (enriched documents, dead letters)."""

  def __init__(self, flat_ner: bool, multi_label: bool):
    super().__init__()
    self._flat_ner = flat_ner
    self._multi_label = multi_label

  def expand(self, predictions):
    merged = (
        predictions
        | 'KeyByRecord' >> beam.Map(
            lambda p: (p.example.record_key, p.inference))
        | 'GroupWindows' >> beam.GroupByKey()
        | 'Merge' >> beam.ParDo(
            MergeWindowsFn(self._flat_ner, self._multi_label)).with_outputs(
                DEAD, main='documents'))
    return merged.documents, merged[DEAD]
