"""Validate input rows and cut documents into model-sized windows.

Every row leaves as windows or as exactly one dead letter with the reason;
nothing raises mid-job and nothing is dropped.
"""
from __future__ import annotations

from typing import Iterator, Optional, Tuple, Union

import apache_beam as beam
from apache_beam.metrics import Metrics

from model_handler.checkpoint import resolve_model_dir
from pipeline.metrics import NAMESPACE
from transforms.records import DeadLetter, Document, SourceRow, Window
from transforms.windowing import WindowingError
from transforms.windowing import default_overlap
from transforms.windowing import plan_windows

DEAD = 'dead_letter'


def validate_row(row: SourceRow,
                 max_doc_chars: int) -> Union[Document, DeadLetter]:
  """Turn a raw row into a Document, or say exactly why it cannot be one."""

  def reject(reason: str) -> DeadLetter:
    return DeadLetter(row.record_key, row.doc_id, 'validate', reason, row.text)

  text = row.text
  if row.doc_id is None:
    return reject('id is null')
  if text is None:
    return reject('text is null')
  if isinstance(text, (bytes, bytearray)):
    try:
      text = bytes(text).decode('utf-8')
    except UnicodeDecodeError as exc:
      return reject(f'text is not valid UTF-8: {exc}')
  if not isinstance(text, str):
    return reject(f'text is not a string but {type(text).__name__}')
  if not text.strip():
    return reject('text is empty or whitespace only')
  if len(text) > max_doc_chars:
    return reject(f'text has {len(text)} characters, more than '
                  f'--max_doc_chars={max_doc_chars}')
  return Document(row.record_key, row.doc_id, text)


class ValidateRowsFn(beam.DoFn):
  def __init__(self, max_doc_chars: int):
    self._max_doc_chars = max_doc_chars

  def process(self, row: SourceRow):
    result = validate_row(row, self._max_doc_chars)
    if isinstance(result, DeadLetter):
      yield beam.pvalue.TaggedOutput(DEAD, result)
    else:
      yield result


class WindowDocumentsFn(beam.DoFn):
  """Split documents into windows; needs only the tokenizer, not the model."""

  def __init__(self, model_ref: str, labels: Tuple[str, ...],
               overlap: Optional[int]):
    self._model_ref = model_ref
    self._labels = labels
    self._overlap = overlap
    self._measure = None
    self._windows = Metrics.counter(NAMESPACE, 'windows')
    self._subwords = Metrics.distribution(NAMESPACE, 'window_subwords')

  def setup(self):
    from model_handler.measure import TextMeasure
    self._measure = TextMeasure(resolve_model_dir(self._model_ref))

  def process(self, doc: Document) -> Iterator:
    try:
      yield from self._windows_of(doc)
    except WindowingError as exc:
      yield beam.pvalue.TaggedOutput(
          DEAD, DeadLetter(doc.record_key, doc.doc_id, 'window', str(exc),
                           doc.text))

  def _windows_of(self, doc: Document) -> Iterator[Window]:
    measure = self._measure
    info = measure.info
    words = measure.words(doc.text)
    counts = measure.subword_counts([doc.text[s:e] for s, e in words])
    overlap = (self._overlap if self._overlap is not None else
               default_overlap(info.max_len, info.max_width))
    prompt = measure.prompt_cost(self._labels)
    spans = plan_windows(doc.text, words, counts, info.max_len,
                         measure.subword_limit - prompt, overlap)
    windows = []
    for index, span in enumerate(spans):
      if span.end_word > span.first_word:
        char_start = words[span.first_word][0]
        char_end = words[span.end_word - 1][1]
      else:
        char_start, char_end = 0, len(doc.text)
      cost = prompt + sum(counts[span.first_word:span.end_word])
      windows.append(
          Window(
              record_key=doc.record_key,
              doc_id=doc.doc_id,
              index=index,
              n_windows=len(spans),
              char_start=char_start,
              text=doc.text[char_start:char_end],
              own_start=span.own_start,
              own_end=span.own_end,
              labels=self._labels,
              n_words=span.end_word - span.first_word,
              cost=cost,
              doc_chars=len(doc.text),
              doc_words=len(words)))
    for window in windows:
      self._windows.inc()
      self._subwords.update(window.cost)
      yield window


class PrepareDocuments(beam.PTransform):
  """SourceRows -> (windows, dead letters)."""

  def __init__(self, model_ref: str, labels: Tuple[str, ...],
               max_doc_chars: int, overlap: Optional[int] = None):
    super().__init__()
    self._model_ref = model_ref
    self._labels = labels
    self._max_doc_chars = max_doc_chars
    self._overlap = overlap

  def expand(self, rows):
    validated = rows | 'Validate' >> beam.ParDo(
        ValidateRowsFn(self._max_doc_chars)).with_outputs(DEAD, main='docs')
    windowed = validated.docs | 'Window' >> beam.ParDo(
        WindowDocumentsFn(self._model_ref, self._labels,
                          self._overlap)).with_outputs(DEAD, main='windows')
    dead = ((validated[DEAD], windowed[DEAD])
            | 'FlattenDead' >> beam.Flatten())
    return windowed.windows, dead
