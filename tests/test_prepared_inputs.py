"""Prepared inputs (model_handler.features) conform to gliner: the stacked
tensors equal gliner's collator's, and the handler's output equals
`GLiNER.inference` on the same weights -- span-level (markerV0) and
token-level checkpoints, Unigram (tiny fixtures) and WordPiece (MiniLM's)
tokenizers, uni- and bi-encoders, with truncation (past `max_len` words and
past the tokenizer's subword limit), words without subwords and long
label prompts. Real models built offline; no mocks."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch

from bench import models as bench_models
from common.records import ModelCall, PromptSpec, Window
from model_handler import batching, loading
from model_handler.handler import (GlinerModelHandler, labels_argument,
                                   padded_groups)
from model_handler.text_measure import TextMeasure
from transforms.prepare import make_call

WORDS = ('Angela Merkel met Emmanuel Macron in Berlin on Monday to discuss '
         'the budget of the European Union , said a spokesperson for the '
         'Bundestag . Zyxwvut Qjkmbv naïve well-known 1984 東京 Wrocław '
         'okapi').split()


def texts(n_words_list, seed=0):
  rng = np.random.default_rng(seed)
  return [' '.join(rng.choice(WORDS, size=n)) for n in n_words_list]


CASES = {
    'plain': (('person', 'person'), ('location', 'location'),
              ('organization', 'organization')),
    'descriptions': (('person', 'a human being named in the text'),
                     ('city', 'a city, town or village')),
    'many labels': tuple((f'type {i}', f'type {i}') for i in range(40)),
}


@pytest.fixture(scope='session')
def bi_model(model_cache):
  """A tiny bi-encoder (text and label encoders: one 32-wide BERT layer,
  MiniLM's WordPiece), as bench builds it."""
  from bench.tiny_models import build_once
  return build_once(model_cache / 'bi-encoder',
                    lambda d: bench_models.build_bi_encoder(d))


@pytest.fixture(scope='session')
def wordpiece_model(model_cache):
  """The CPU proxy: WordPiece (MiniLM's tokenizer), span-level, 384 words."""
  from bench.tiny_models import build_once
  return build_once(
      model_cache / 'proxy',
      lambda d: bench_models.build_base_model(
          d, 'markerV0', encoder_config=bench_models.proxy_encoder_config,
          hidden_size=32, name='proxy', rnn_layers=0))


def calls_for(model_dir, items, labels, threshold=0.3, prefix=''):
  measure = TextMeasure(model_dir)
  out = []
  for i, text in enumerate(items):
    window = Window(f'k{i}', f'd{i}', 0, 1, 0, text, 0, len(text), 0, 0,
                    len(text), 0)
    prompt = PromptSpec('ner', 1, '', prefix, labels, threshold)
    out.append(make_call(window, prompt, measure))
  return out


def gliner_batch(model, calls):
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')  # gliner's own truncation warning
    prepared = model.prepare_batch([c.text for c in calls],
                                   labels_argument(calls[0].labels))
    return model.collate_batch(prepared['input_x'],
                               prepared['entity_types'])


def lengths_for(model_dir):
  """Texts that stay inside the checkpoint, then ones past max_len words and
  past the tokenizer's subword limit (gliner truncates those)."""
  measure = TextMeasure(model_dir)
  return [3, 17, 40, measure.info.max_len - 20, measure.info.max_len + 25,
          measure.subword_limit]


MODELS = ['marker_model', 'token_model', 'wordpiece_model', 'bi_model']


@pytest.mark.parametrize('fixture', MODELS)
@pytest.mark.parametrize('case', sorted(CASES))
def test_stacked_tensors_equal_gliner_collator(fixture, case, request):
  model_dir = request.getfixturevalue(fixture)
  model = loading.load_gliner(str(model_dir), 'cpu')
  items = texts(lengths_for(model_dir))
  items.append('Paris \u200b \u200b is ; \u00ad big')  # words without subwords
  calls = calls_for(model_dir, items, CASES[case], prefix='')
  expected = gliner_batch(model, calls)
  tokenizer = model.data_processor.transformer_tokenizer
  got = batching.stack([c.inputs for c in calls], tokenizer.pad_token_id,
                       tokenizer.padding_side == 'left',
                       model.config.span_mode != 'token_level',
                       model.config.max_width)
  keys = ['input_ids', 'attention_mask', 'words_mask', 'text_lengths']
  if model.config.span_mode != 'token_level':
    keys += ['span_idx', 'span_mask']
  for key in keys:
    assert torch.equal(got[key], expected[key].to(got[key].dtype)), key
  assert got['token_lengths'] == expected['token_lengths']
  assert got['word_lengths'] == expected['word_lengths']
  # decoding's word -> character maps are gliner's
  for call, tokens in zip(calls, expected['tokens']):
    words = [call.text[s:e] for s, e in zip(call.inputs.word_starts,
                                            call.inputs.word_ends)]
    assert words == list(tokens)


def spans_of(results):
  return [[(e.start, e.end, e.text, e.label) for e in r.spans]
          for r in results]


@pytest.mark.parametrize('fixture', MODELS)
@pytest.mark.parametrize('case', ['plain', 'descriptions'])
def test_handler_output_equals_gliner_inference(fixture, case, request):
  """Same texts, labels, threshold and batches: the same spans, labels,
  character offsets and scores."""
  model_dir = request.getfixturevalue(fixture)
  handler = GlinerModelHandler(str(model_dir), device='cpu')
  model = handler.load_model()
  assert batching.supports_prepared_inputs(model)
  items = texts(lengths_for(model_dir)[:4] * 3, seed=1)
  prefix = 'find the entities \n '
  # the bi-encoder proxy is calibrated for hundreds of labels: with a few,
  # its scores are low
  threshold = 0.02 if fixture == 'bi_model' else 0.2
  calls = calls_for(model_dir, items, CASES[case], threshold=threshold,
                    prefix=prefix)
  got = [p.inference for p in handler.run_inference(calls, model)]
  assert not [r.error for r in got if r.error]
  assert all(r.call.inputs is None for r in got)  # not carried downstream
  # gliner on the same batches the handler formed (same padding, so the same
  # floats: random tiny models score ~0.5 everywhere, where a different
  # batch composition could flip a near-tie)
  expected = {}
  for group in padded_groups(calls, handler._max_batch_tokens):
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')
      preds = model.inference([c.text for c in group],
                              labels_argument(CASES[case]),
                              threshold=threshold, batch_size=len(group))
    expected.update(zip((id(c) for c in group), preds))
  expected = [expected[id(c)] for c in calls]
  assert spans_of(got) == [[(p['start'], p['end'], p['text'], p['label'])
                            for p in preds] for preds in expected]
  assert sum(len(r.spans) for r in got) > 0  # something was compared
  for result, preds in zip(got, expected):
    for entity, pred in zip(result.spans, preds):
      assert entity.score == pytest.approx(pred['score'], abs=1e-6)


def test_planner_inputs_equal_inputs_built_from_scratch(wordpiece_model):
  """The planner hands its own word spans and ids to the encoder; the result
  is what re-splitting and re-tokenising the prompted window gives."""
  from common.records import Document
  from model_handler.tasks import NerTask
  from model_handler.tasks.base import plain_labels
  from transforms.prepare import PlanModelCallsFn
  fn = PlanModelCallsFn(str(wordpiece_model),
                        [NerTask(labels=plain_labels(['person', 'city']))],
                        overlap=None)
  fn.setup()
  text = ' '.join(texts([1500], seed=4))
  calls = [c for c in fn.process(Document('k', 'd', text))
           if isinstance(c, ModelCall)]
  assert len(calls) > 3  # several windows
  fresh = TextMeasure(wordpiece_model)
  for call in calls:
    rebuilt = fresh.model_inputs(call.prefix, call.window.text, call.labels)
    assert call.inputs == rebuilt
    assert len(call.inputs.input_ids) == call.cost


def test_bi_encoder_embeds_each_label_set_once_and_takes_no_window_room(
    bi_model, monkeypatch):
  handler = GlinerModelHandler(str(bi_model), device='cpu')
  model = handler.load_model()
  assert batching.is_bi_encoder(model)
  encoder = model.model.token_rep_layer
  seen = []
  original = encoder.encode_labels

  def counting(*args, **kwargs):
    seen.append(args[0].shape[0])
    return original(*args, **kwargs)

  monkeypatch.setattr(encoder, 'encode_labels', counting)
  labels = tuple((f'kind {i}', f'kind {i}') for i in range(300))
  for seed in range(3):
    calls = calls_for(bi_model, texts([30, 60, 90], seed=seed), labels)
    results = list(handler.run_inference(calls, model))
    assert not [r.inference.error for r in results if r.inference.error]
  assert seen == [300]  # one label set, embedded once for three batches
  measure = TextMeasure(bi_model)
  assert measure.prompt_cost(tuple(p for _, p in labels)) == 2  # specials
  # the window holds only text and the specials: no label prompt
  assert len(calls[0].inputs.input_ids) == 2 + sum(
      measure.subword_counts([calls[0].text[s:e] for s, e in zip(
          calls[0].inputs.word_starts, calls[0].inputs.word_ends)]))


def test_one_bad_window_fails_alone_on_the_prepared_path(marker_model):
  """A window whose prepared ids are out of the vocabulary (as a corrupt
  input would be) fails its own call only; the group's others decode."""
  handler = GlinerModelHandler(str(marker_model), device='cpu')
  model = handler.load_model()
  calls = calls_for(marker_model, texts([10, 12, 14, 16], seed=2),
                    CASES['plain'])
  broken = calls[1].inputs.input_ids.copy()
  broken[1] = 10 ** 7
  calls[1] = dataclasses.replace(
      calls[1], inputs=dataclasses.replace(calls[1].inputs, input_ids=broken))
  results = [p.inference for p in handler.run_inference(calls, model)]
  assert [r.error is None for r in results] == [True, False, True, True]
  assert 'IndexError' in results[1].error or 'index' in results[1].error
