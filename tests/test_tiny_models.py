"""The tiny offline GLiNER fixtures build, reload and run; gliner's length
limits behave as bench/tiny_models.py documents."""

from __future__ import annotations

import json
import warnings

import pytest

from bench.tiny_models import MODEL_NAME, build_tiny_model, tiny_model_dir
from common.text import WORD_PATTERN, words_with_offsets

gliner = pytest.importorskip('gliner')

LABELS = ['person', 'location']
TEXT = ('Barack Obama visited the Eiffel Tower in Paris yesterday with Angela '
        'Merkel.')


@pytest.fixture(scope='module')
def cache_root(tmp_path_factory):
  return tmp_path_factory.mktemp('tiny-models')


def _load(path):
  return gliner.GLiNER.from_pretrained(str(path), local_files_only=True)


@pytest.fixture(scope='module')
def span_model(cache_root):
  return _load(tiny_model_dir('markerV0', cache_root))


@pytest.mark.parametrize('span_mode, class_name',
                         [('markerV0', 'UniEncoderSpanGLiNER'),
                          ('token_level', 'UniEncoderTokenGLiNER')])
def test_build_save_reload_and_infer(cache_root, span_mode, class_name):
  path = tiny_model_dir(span_mode, cache_root)
  assert tiny_model_dir(span_mode, cache_root) == path  # cached, not rebuilt
  saved = json.loads((path / 'gliner_config.json').read_text())
  assert saved['encoder_config']['model_type'] == 'deberta-v2'
  assert saved['model_name'] == MODEL_NAME and saved['span_mode'] == span_mode

  first, second = _load(path), _load(path)
  assert type(first).__name__ == class_name
  tok = first.data_processor.transformer_tokenizer
  assert first.config.class_token_index == tok.convert_tokens_to_ids(
      '<<ENT>>') == 1001
  assert tok.convert_tokens_to_ids('<<SEP>>') == 1002
  assert len(tok) == first.config.vocab_size == 1003

  out = first.inference([TEXT, 'Paris'], LABELS, threshold=0.0)
  assert len(out) == 2 and out[0]
  for ent in out[0]:
    assert TEXT[ent['start']:ent['end']] == ent['text']
    assert ent['label'] in LABELS and 0.0 <= ent['score'] <= 1.0
  # reproducible across loads
  assert second.inference([TEXT, 'Paris'], LABELS, threshold=0.0) == out
  assert isinstance(first.inference([TEXT], LABELS, threshold=0.5)[0], list)


def test_tokenizer_limit_is_finite_and_builds_are_deterministic(tmp_path):
  a = build_tiny_model(tmp_path / 'a', model_max_length=160)
  b = build_tiny_model(tmp_path / 'b', model_max_length=160)
  config = json.loads((a / 'tokenizer_config.json').read_text())
  assert config['model_max_length'] == 160
  for name in ('gliner_config.json', 'pytorch_model.bin', 'tokenizer.json',
               'tokenizer_config.json'):
    assert (a / name).read_bytes() == (b / name).read_bytes(), name

  tok = _load(a).data_processor.transformer_tokenizer
  assert tok.model_max_length == 160
  words = WORD_PATTERN.findall(TEXT)
  ids = tok(words, is_split_into_words=True)['input_ids']
  assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
  assert ids.count(tok.cls_token_id) == 1 and ids.count(tok.sep_token_id) == 1
  assert len(ids) - 2 > 2 * len(words)  # small vocab: several subwords per word


def test_more_than_max_len_words_truncates_with_warning(span_model):
  model = span_model
  assert model.config.max_len == 64
  text = ' '.join(['the cat is in the house .'] * 10)  # 70 words, few subwords
  words = words_with_offsets(text)
  with pytest.warns(UserWarning,
                    match='Sentence of length 70 has been truncated to 64'):
    out = model.inference([text], LABELS, threshold=0.0)[0]
  assert out and max(e['end'] for e in out) <= words[63][2]


def test_subword_limit_truncates_silently(span_model):
  """gliner tokenizes with truncation=True: too many subwords -> cut, no
  warning."""
  model = span_model
  tok = model.data_processor.transformer_tokenizer
  # 60 words (< max_len), ~390 subwords
  text = ' '.join(['Zyxwvut Qjkmbv Vwyxz Okapi'] * 15)
  words = WORD_PATTERN.findall(text)
  prompted, _ = model.data_processor.prepare_inputs([words], LABELS)
  full = tok(prompted[0], is_split_into_words=True, truncation=False,
             verbose=False)['input_ids']
  assert len(words) < model.config.max_len
  assert len(full) > 2 * tok.model_max_length
  encoded = model.data_processor.tokenize_inputs([words], LABELS)
  assert encoded['input_ids'].shape[1] == tok.model_max_length
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    out = model.inference([text], LABELS, threshold=0.0)[0]
  assert not [w for w in caught if 'truncat' in str(w.message)]
  # Spans are still returned for the words the encoder never saw.
  assert max(e['end'] for e in out) > len(text) // 2
