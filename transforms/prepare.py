"""Validate input rows, cut documents into windows, and prompt each window
for every configured task.

Every row leaves as model calls or as exactly one document-level dead letter
with the reason; nothing raises mid-job and nothing is dropped: an
unexpected exception in any per-document step becomes a dead letter naming
the step, never a failed bundle. A bad per-document task input (e.g. a null
question, or one too long for the encoder) dead-letters only that task.
"""
from __future__ import annotations

import dataclasses
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import apache_beam as beam
from apache_beam.metrics import Metrics

from model_handler.checkpoint import resolve_model_dir
from model_handler.tasks import PromptSpec, Task
from common.metrics import NAMESPACE
from common.records import DEAD_LETTER, DeadLetter, Document, ModelCall, SourceRow
from common.records import Window
from common.text import not_utf8
from transforms.emulators import use_anonymous_gcs_for_emulator
from transforms.windowing import WindowingError
from transforms.windowing import default_overlap
from transforms.windowing import plan_windows



def validate_row(row: SourceRow,
                 max_doc_chars: int) -> Union[Document, DeadLetter]:
  """Turn a raw row into a Document, or say exactly why it cannot be one."""

  def reject(reason: str) -> DeadLetter:
    return DeadLetter(row.record_key, row.doc_id, 'validate', reason, row.text)

  text = row.text
  if row.doc_id is None:
    return reject('id is null')
  bad = not_utf8(row.doc_id)
  if bad:
    return reject(f'id is not valid Unicode text: {bad}')
  if text is None:
    return reject('text is null')
  if isinstance(text, (bytes, bytearray)):
    try:
      text = bytes(text).decode('utf-8')
    except UnicodeDecodeError as exc:
      return reject(f'text is not valid UTF-8: {exc}')
  if not isinstance(text, str):
    return reject(f'text is not a string but {type(text).__name__}')
  bad = not_utf8(text)
  if bad:
    return reject(f'text is not valid Unicode text: {bad}')
  for column, value in row.extras.items():
    bad = not_utf8(value)
    if bad:
      return reject(f'column {column!r} is not valid Unicode text: {bad}')
  if not text.strip():
    return reject('text is empty or whitespace only')
  if len(text) > max_doc_chars:
    return reject(f'text has {len(text)} characters, more than '
                  f'--max_doc_chars={max_doc_chars}')
  return Document(row.record_key, row.doc_id, text, row.extras,
                  row.content_hash(), row.event_time)


def load_measure(model_ref: str, revision: Optional[str] = None):
  """A worker's TextMeasure for the checkpoint (tokenizer and limits only;
  a gs:// checkpoint is fetched to the local cache first)."""
  from model_handler.text_measure import TextMeasure
  use_anonymous_gcs_for_emulator()
  return TextMeasure(resolve_model_dir(model_ref, revision))


class ValidateRowsFn(beam.DoFn):
  def __init__(self, max_doc_chars: int):
    self._max_doc_chars = max_doc_chars

  def process(self, row: SourceRow):
    try:
      result = validate_row(row, self._max_doc_chars)
    except Exception as exc:  # pylint: disable=broad-except
      result = DeadLetter(row.record_key, row.doc_id, 'validate',
                          f'{type(exc).__name__}: {exc}'[:500], row.text)
    if isinstance(result, DeadLetter):
      yield beam.pvalue.TaggedOutput(DEAD_LETTER, result)
    else:
      yield result


class PlanModelCallsFn(beam.DoFn):
  """Document -> one ModelCall per (window, prompt); needs only the
  tokenizer, not the model.

  Windows are sized for the most demanding prompt of the document (longest
  instruction, most label subwords, room for later-stage labels), so every
  call fits the encoder and gliner's word limit.
  """

  def __init__(self, model_ref: str, tasks: Sequence[Task],
               overlap: Optional[int], revision: Optional[str] = None,
               max_label_subwords: Optional[int] = None):
    self._model_ref = model_ref
    self._max_label_subwords = max_label_subwords
    self._revision = revision
    self._tasks = tuple(tasks)
    self._overlap = overlap
    self._measure = None
    self._windows = Metrics.counter(NAMESPACE, 'windows')
    self._calls = Metrics.counter(NAMESPACE, 'model_calls')
    self._subwords = Metrics.distribution(NAMESPACE, 'call_subwords')

  def setup(self):
    self._measure = load_measure(self._model_ref, self._revision)

  def process(self, doc: Document) -> Iterator:
    try:
      outputs = list(self._process(doc))
    except Exception as exc:  # pylint: disable=broad-except
      # Nothing of this document was emitted yet: one dead letter for it.
      outputs = [beam.pvalue.TaggedOutput(
          DEAD_LETTER, DeadLetter(doc.record_key, doc.doc_id, 'plan',
                                  f'{type(exc).__name__}: {exc}'[:500],
                                  doc.text))]
    yield from outputs

  def _task_prompts(self, task: Task, doc: Document):
    """A task's prompts, keeping only those that fit the encoder with room
    for text; a failing or oversized task input dead-letters that task."""
    try:
      prompts, dead = task.prompts(doc)
    except Exception as exc:  # pylint: disable=broad-except
      return [], [task.task_dead_letter(
          doc, f'prompting failed: {type(exc).__name__}: {exc}'[:500], None)]
    fitting = []
    for prompt in [p for whole in prompts for p in self._split_labels(whole)]:
      reason = self._too_long(prompt)
      if reason:
        dead.append(task.task_dead_letter(doc, reason,
                                          prompt.tag or prompt.prefix))
      else:
        fitting.append(prompt)
    return fitting, dead

  def _prompt_budget(self) -> int:
    """Subwords one prompt (instruction + labels) may take."""
    return self._max_label_subwords or self._measure.subword_limit // 2

  def _label_budget(self, prompt: PromptSpec) -> int:
    return self._prompt_budget() - self._measure.prefix_cost(prompt.prefix)[1]

  def _split_labels(self, prompt: PromptSpec) -> List[PromptSpec]:
    """A label set whose prompt takes more than the label budget, or holds
    more labels than the model's `max_types` -> several prompts with
    consecutive chunks of it (gliner would cut it silently)."""
    measure = self._measure
    budget = self._label_budget(prompt)
    if (len(prompt.labels) < 2 or
        measure.labels_fit(tuple(p for _, p in prompt.labels), budget)):
      return [prompt]
    chunks: List[List] = [[]]
    for label in prompt.labels:
      trial = tuple(p for _, p in chunks[-1] + [label])
      if chunks[-1] and not measure.labels_fit(trial, budget):
        chunks.append([])
      chunks[-1].append(label)
    return [
        dataclasses.replace(prompt, labels=tuple(chunk), part=i,
                            parts=len(chunks))
        for i, chunk in enumerate(chunks)
    ]

  def _too_long(self, prompt: PromptSpec) -> Optional[str]:
    """A prompt (instruction + labels) may take at most half of the model's
    words and the label budget in subwords (default: half the encoder's), so
    every window still holds text."""
    measure = self._measure
    words, subwords = measure.prefix_cost(prompt.prefix)
    subwords += measure.prompt_cost(tuple(p for _, p in prompt.labels))
    budget = self._prompt_budget()
    if words > measure.info.max_len // 2:
      return (f'instruction has {words} words, more than half of the '
              f'model\'s {measure.info.max_len}')
    if subwords > budget:
      return (f'prompt has {subwords} subwords, more than the {budget} a '
              f'prompt may take of the encoder\'s {measure.subword_limit}')
    return None

  def _process(self, doc: Document) -> Iterator:
    prompts: List[PromptSpec] = []
    for task in self._tasks:
      task_prompts, task_dead = self._task_prompts(task, doc)
      prompts.extend(task_prompts)
      for letter in task_dead:
        yield beam.pvalue.TaggedOutput(DEAD_LETTER, letter)
    if not prompts:
      yield beam.pvalue.TaggedOutput(
          DEAD_LETTER, DeadLetter(doc.record_key, doc.doc_id, 'task_input',
                           'no task has input for this document', doc.text))
      return
    try:
      calls = self._calls_for(doc, prompts)
    except WindowingError as exc:
      yield beam.pvalue.TaggedOutput(
          DEAD_LETTER, DeadLetter(doc.record_key, doc.doc_id, 'window', str(exc),
                           doc.text))
      return
    for call in calls:
      self._calls.inc()
      self._subwords.update(call.cost)
      yield call

  def _overheads(self, prompts: Sequence[PromptSpec]) -> Tuple[int, int]:
    """Largest (prefix words, prefix + prompt subwords) over all prompts."""
    measure = self._measure
    words, subwords = 0, 0
    for prompt in prompts:
      prefix_words, prefix_subwords = measure.prefix_cost(prompt.prefix)
      words = max(words, prefix_words)
      subwords = max(
          subwords, prefix_subwords +
          measure.prompt_cost(tuple(p for _, p in prompt.labels)))
    for task in self._tasks:
      if task.reserve_subwords:
        prefix_words, prefix_subwords = measure.prefix_cost(
            task.later_stage_prefix)
        words = max(words, prefix_words)
        subwords = max(
            subwords,
            prefix_subwords + measure.prompt_cost(()) + task.reserve_subwords)
    return words, subwords

  def _calls_for(self, doc: Document,
                 prompts: Sequence[PromptSpec]) -> List[ModelCall]:
    measure = self._measure
    info = measure.info
    words = measure.words(doc.text)
    word_ids = measure.subword_ids([doc.text[s:e] for s, e in words])
    counts = [len(ids) for ids in word_ids]
    prefix_words, overhead = self._overheads(prompts)
    overlap = (self._overlap if self._overlap is not None else
               default_overlap(info.max_len, info.max_width))
    spans = plan_windows(doc.text, words, counts, info.max_len - prefix_words,
                         measure.subword_limit - overhead, overlap)
    calls = []
    for index, span in enumerate(spans):
      char_start = words[span.first_word][0]
      char_end = words[span.end_word - 1][1]
      window = Window(
          record_key=doc.record_key,
          doc_id=doc.doc_id,
          index=index,
          n_windows=len(spans),
          char_start=char_start,
          text=doc.text[char_start:char_end],
          own_start=span.own_start,
          own_end=span.own_end,
          n_words=span.end_word - span.first_word,
          n_subwords=sum(counts[span.first_word:span.end_word]),
          doc_chars=len(doc.text),
          doc_words=len(words),
          content_hash=doc.content_hash,
          event_time=doc.event_time)
      self._windows.inc()
      text_spans = [(s - char_start, e - char_start)
                    for s, e in words[span.first_word:span.end_word]]
      text_ids = word_ids[span.first_word:span.end_word]
      calls.extend(make_call(window, prompt, measure, text_spans, text_ids)
                   for prompt in prompts)
    return [dataclasses.replace(c, doc_calls=len(calls)) for c in calls]


def make_call(window: Window, prompt: PromptSpec, measure, text_spans=None,
              text_ids=None) -> ModelCall:
  """A prompt applied to a window, with its exact subword cost and its
  encoder input (built here, from the planner's per-word cache, so the
  model stage runs no tokenizer)."""
  cost = (measure.prefix_cost(prompt.prefix)[1] + window.n_subwords +
          measure.prompt_cost(tuple(p for _, p in prompt.labels)))
  return ModelCall(window, prompt, cost,
                   inputs=measure.model_inputs(prompt.prefix, window.text,
                                               prompt.labels, text_spans,
                                               text_ids))


class PrepareDocuments(beam.PTransform):
  """SourceRows -> (stage-1 model calls, dead letters)."""

  def __init__(self, model_ref: str, tasks: Sequence[Task],
               max_doc_chars: int, overlap: Optional[int] = None,
               revision: Optional[str] = None,
               max_label_subwords: Optional[int] = None):
    super().__init__()
    self._revision = revision
    self._max_label_subwords = max_label_subwords
    self._model_ref = model_ref
    self._tasks = tuple(tasks)
    self._max_doc_chars = max_doc_chars
    self._overlap = overlap

  def expand(self, rows):
    validated = rows | 'Validate' >> beam.ParDo(
        ValidateRowsFn(self._max_doc_chars)).with_outputs(DEAD_LETTER, main='docs')
    planned = validated.docs | 'PlanCalls' >> beam.ParDo(
        PlanModelCallsFn(self._model_ref, self._tasks, self._overlap,
                         self._revision,
                         self._max_label_subwords)).with_outputs(DEAD_LETTER, main='calls')
    dead = ((validated[DEAD_LETTER], planned[DEAD_LETTER])
            | 'FlattenDead' >> beam.Flatten())
    return planned.calls, dead
