"""The ModelHandler: batching budget, empty batches, per-window isolation,
one model load per process, and windows that always fit the encoder."""
import pytest
import json
import random

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from gliner import GLiNER

from model_handler import loading
from model_handler.handler import GlinerModelHandler, call_cost, padded_groups
from model_handler.text_measure import TextMeasure
from model_handler.tasks import NerTask
from model_handler.tasks.base import plain_labels
from transforms.prepare import PlanModelCallsFn
from common.records import Document, ModelCall, PromptSpec, Window


def make_window(key, cost, text='Paris is a city.', labels=('location', ),
                threshold=0.3):
  window = Window(key, key, 0, 1, 0, text, 0, len(text), 4, cost, len(text), 4)
  return ModelCall(
      window, PromptSpec('ner', 1, '', '', plain_labels(labels), threshold),
      cost)


def key_of(call):
  return call.window.record_key


@pytest.mark.unit
def test_padded_groups_respect_budget_and_keep_every_window():
  rng = random.Random(7)
  windows = [make_window(f'k{i}', rng.randint(5, 190)) for i in range(300)]
  groups = padded_groups(windows, 512)
  flat = [key_of(w) for g in groups for w in g]
  assert sorted(flat) == sorted(key_of(w) for w in windows)  # none lost/duplicated
  for group in groups:
    assert max(map(call_cost, group)) * len(group) <= 512 or len(group) == 1


def test_empty_batch_returns_nothing(marker_model):
  handler = GlinerModelHandler(str(marker_model))
  assert list(handler.run_inference([], model=None)) == []


class FailOnMarker:
  """Fault injection (a wrapper, not a mock of gliner): delegates to the real
  model but raises when a text contains a marker, as a CUDA OOM or a
  tokenizer bug would for one unlucky window."""

  def __init__(self, model):
    self._model = model

  def inference(self, texts, *args, **kwargs):
    if any('BOOM' in t for t in texts):
      raise RuntimeError('injected failure')
    return self._model.inference(texts, *args, **kwargs)


def test_one_failing_window_does_not_fail_its_batch(marker_model):
  handler = GlinerModelHandler(str(marker_model))
  model = FailOnMarker(handler.load_model())
  batch = [make_window('a', 20), make_window('b', 20, 'BOOM goes Paris.'),
           make_window('c', 20, 'Berlin and Rome.')]
  results = {key_of(r.example): r.inference
             for r in handler.run_inference(batch, model)}
  assert results['b'].error == 'RuntimeError: injected failure'
  assert results['a'].error is None and results['c'].error is None
  assert results['a'].spans and results['c'].spans


class RecordingHandler(GlinerModelHandler):
  """Appends the calls of every model batch to a file, to check the budget
  where the model is actually called (the handler is pickled to workers)."""

  def __init__(self, record_file, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self.record_file = str(record_file)

  def _infer(self, model, group):
    with open(self.record_file, 'a') as out:
      out.write(json.dumps([(c.window.record_key, c.cost) for c in group]))
      out.write('\n')
    return super()._infer(model, group)


def test_batches_stay_within_budget_in_a_pipeline(marker_model, tmp_path):
  """RunInference over many windows: every window comes back exactly once,
  and no model batch exceeds the padded subword budget."""
  windows = [make_window(f'k{i}', 30 + i % 50, f'Paris and Rome number {i}.')
             for i in range(120)]
  loading.clear_model_cache()
  loads_before = loading.LOAD_COUNT['loads']
  record = tmp_path / 'batches.jsonl'
  handler = RecordingHandler(record, str(marker_model), max_batch_tokens=300)
  with TestPipeline(runner='FnApiRunner') as p:
    keys = (p | beam.Create(windows) | RunInference(handler)
            | beam.Map(lambda r: r.example.window.record_key))
    assert_that(keys, equal_to([key_of(w) for w in windows]))
  # FnApiRunner runs its single worker in this process: one load for all
  # batches (at least 120 * 30 / 300 = 12 of them).
  assert loading.LOAD_COUNT['loads'] - loads_before == 1
  batches = [json.loads(line) for line in record.read_text().splitlines()]
  assert len(batches) >= 12
  for batch in batches:
    assert max(cost for _, cost in batch) * len(batch) <= 300
  keys = [key for batch in batches for key, _ in batch]
  assert sorted(keys) == sorted(key_of(w) for w in windows)


def test_windows_fit_the_encoder_with_the_prompt(token_model):
  """Every planned window, tokenized by gliner's own processor together with
  the label prompt, stays within the subword limit (so nothing is cut)."""
  model = GLiNER.from_pretrained(str(token_model), local_files_only=True)
  measure = TextMeasure(token_model)
  labels = ('person', 'organization', 'geographic location')
  rng = random.Random(1)
  vocab = ('Zyxwvut Qjkmbv the of Okapi Wrocław naïve well-known '
           'Ouagadougou a 1984 , .').split()
  text = ' '.join(rng.choice(vocab) for _ in range(2500))
  fn = PlanModelCallsFn(
      str(token_model), [NerTask(labels=plain_labels(labels))], overlap=None)
  fn.setup()
  calls = list(fn.process(Document('k', 'd', text)))
  assert len(calls) > 10
  processor = model.data_processor
  tokenizer = processor.transformer_tokenizer
  for call in calls:
    words = [w for w, _, _ in processor.words_splitter(call.text)]
    assert len(words) == call.window.n_words <= measure.info.max_len
    prompt_and_text, _ = processor.prepare_inputs([words], list(labels))
    ids = tokenizer(prompt_and_text, is_split_into_words=True,
                    truncation=False)['input_ids'][0]
    assert len(ids) == call.cost  # our count is gliner's count, exactly
    assert len(ids) <= measure.subword_limit


def test_cached_subword_ids_and_words_match_gliner(token_model, monkeypatch):
  """The per-word id cache and the direct word regex change nothing: every
  word's ids equal one uncached tokenizer call on the whole word list, across
  calls, repeated words, long words and a cache cleared when full."""
  from model_handler import text_measure
  monkeypatch.setattr(text_measure, 'WORD_CACHE_SIZE', 40)
  measure = TextMeasure(token_model)
  rng = random.Random(3)
  vocab = ('Zyxwvut Qjkmbv the of Okapi Wrocław naïve well-known 1984 , . '
           '[ENT] [SEP] 東京 x' + 'y' * 80).split()
  for n in (0, 1, 7, 60, 300, 300):
    text = ' '.join(rng.choice(vocab) + rng.choice(['', 's', 'ing', '-2'])
                    for _ in range(n))
    spans = measure.words(text)
    assert spans == [(s, e) for _, s, e in measure._splitter(text)]
    words = [text[s:e] for s, e in spans]
    assert measure.subword_ids(words) == measure._tokenise(words)
    assert measure.subword_counts(words) == [
        len(ids) for ids in measure._tokenise(words)]
    assert len(measure._word_ids) <= 40 + n
  assert all(len(w) <= text_measure.WORD_CACHE_MAX_CHARS
             for w in measure._word_ids)
