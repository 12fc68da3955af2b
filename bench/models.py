"""Models the benchmark runs: the embedded MiniLM demo model, randomly
initialised DeBERTa-v3-base-shaped GLiNER models (built offline into a cache
directory), and the tiny test fixture (smoke mode).

Nothing is downloaded. The base-shaped models use the embedded model's
WordPiece tokenizer (30,525 pieces, ``model_max_length`` 512): a real
subword rate for English (~1.3 subwords per word), unlike the tiny fixtures'
1,000-piece Unigram vocabulary (~3 per word), which would make every sequence
~2.5x longer than a real deberta-v3 checkpoint's. The encoder is shaped like
deberta-v3-base (hidden 768, 12 layers, 12 heads, intermediate 3072, relative
attention with 256 position buckets, no absolute positions); only the
embedding matrix is smaller (30,525 rows instead of 128,100), which does not
change the compute per token. Weights are random: speed numbers only.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from bench.tiny_models import build_once

REPO = Path(__file__).resolve().parent.parent
# $BENCH_MINILM_DIR: the same model elsewhere (a copy while the working tree's
# is being rebuilt; the GPU machine, where the tree travels without it).
MINILM_DIR = Path(os.environ.get('BENCH_MINILM_DIR') or
                  REPO / 'models' / 'gliner-multitask-minilm-l6')
BASE_VERSION = 1  # bump when the base-shaped recipe changes


@dataclass(frozen=True)
class ModelSpec:
  name: str          # short key used in the JSON and the table
  kind: str          # 'minilm' | 'base' | 'tiny'
  span_mode: str = 'markerV0'
  real: bool = False  # trained weights (entity content is meaningful)


MINILM = ModelSpec('minilm-demo-token_level', 'minilm', 'token_level', real=True)
BASE_TOKEN = ModelSpec('deberta-base-random-token_level', 'base', 'token_level')
BASE_MARKER = ModelSpec('deberta-base-random-markerV0', 'base', 'markerV0')
TINY = ModelSpec('tiny-random-markerV0', 'tiny', 'markerV0')
# CPU proxy of a fast GPU: compute is negligible (1 layer, 32 wide, no LSTM
# -- on a CPU gliner's word-level LSTM steps word by word and would cost more
# than the encoder) but the tokenizer is real (the embedded model's
# WordPiece), so a run times host work -- what a GPU worker's CPUs must do
# for the accelerator.
PROXY = ModelSpec('proxy-1x32-markerV0', 'proxy', 'markerV0')
PROXY_TOKEN = ModelSpec('proxy-1x32-token_level', 'proxy', 'token_level')
# A bi-encoder (labels embedded by their own encoder, e.g. knowledgator's
# gliner-bi-* models) of the proxy's size, built offline the same way.
BI_PROXY = ModelSpec('bi-proxy-1x32-markerV0', 'bi', 'markerV0')
PROXY_VERSION = 2


def default_cache_dir() -> Path:
  root = os.environ.get('XDG_CACHE_HOME') or os.path.join(
      os.path.expanduser('~'), '.cache')
  return Path(root) / 'gliner-beam-bench'


def base_encoder_config(vocab_size: int) -> dict:
  """deberta-v3-base's shape (relative attention only)."""
  from bench.tiny_models import deberta_v3_config
  return deberta_v3_config(vocab_size, hidden_size=768, layers=12, heads=12,
                           intermediate_size=3072)


def proxy_encoder_config(vocab_size: int) -> dict:
  """One 32-wide BERT layer (MiniLM's architecture, whose tokenizer it
  uses): the forward pass costs next to nothing."""
  from transformers import BertConfig
  return BertConfig(vocab_size=vocab_size, hidden_size=32,
                    num_hidden_layers=1, num_attention_heads=2,
                    intermediate_size=64, hidden_dropout_prob=0.0,
                    attention_probs_dropout_prob=0.0,
                    max_position_embeddings=512).to_dict()


# Share of (span, label) scores a calibrated proxy puts above 0.5: a few
# entities per 200-word document, as a trained model finds -- random heads
# score ~0.5 everywhere, and decoding thousands of spans would time gliner's
# decoder instead of the host work around the model.
PROXY_POSITIVE_RATE = {'markerV0': 2e-3, 'token_level': 0.3}


def calibrate_scores(model, labels=None, rate=None) -> None:
  """Rescale the proxy's last layer so its logits are ~N(0, 1) shifted to put
  `rate` (default `PROXY_POSITIVE_RATE`) of them above 0.

  Span models without `labels`: a constant label vector, so each logit is
  one projection of the span representation (what the committed proxy
  uses). With `labels` (the bi-encoder): scores keep depending on the label
  -- with hundreds of labels a label-independent score would send every
  passing span to the decoder once per label -- and one coordinate of the
  span and label vectors carries a constant, which is the shift."""
  import torch
  from bench.tiny_models import _training_text
  text = ' '.join(_training_text())[:200_000].split()
  texts = [' '.join(text[i:i + 200]) for i in range(0, 200 * 24, 200)]
  span_mode = model.config.span_mode
  rate = rate or PROXY_POSITIVE_RATE[span_mode]
  per_label = labels is not None
  labels = labels or ['person', 'organization', 'location', 'field of study',
                      'algorithm']
  with torch.no_grad():
    unit = None
    if span_mode == 'markerV0':
      head = model.model.prompt_rep_layer[3]
      last = model.model.span_rep_layer.span_rep_layer.out_project[3]
      if per_label:
        head.weight[0].zero_()
        head.bias[0] = 1.0
        last.weight[0].zero_()
      else:
        unit = torch.ones_like(head.bias) / head.bias.numel() ** 0.5
        head.weight.zero_()
        head.bias.copy_(unit)
    else:
      last = model.model.scorer.out_mlp[3]
    if not per_label:
      last.bias.zero_()
    else:
      last.bias[0] = 0.0
    prepared = model.prepare_batch(texts, labels)
    batch = model.collate_batch(prepared['input_x'], prepared['entity_types'])
    logits = model.run_batch(batch)[0].flatten().float()
    scale = 1.0 / float(logits.std())
    sample = logits[:4_000_000]
    cut = float(torch.quantile(sample, 1 - rate))
    shift = -cut * scale
    if per_label and span_mode == 'markerV0':
      last.weight[1:].mul_(scale)
      last.bias[1:].mul_(scale)
      last.bias[0] = shift
      return
    last.weight.mul_(scale)
    if unit is None:
      last.bias.fill_(shift)
    else:
      last.bias.copy_(unit * shift)


def build_base_model(out_dir: Path, span_mode: str, seed: int = 0,
                     encoder_config=base_encoder_config, hidden_size: int = 768,
                     name: str = 'random-deberta-v3-base-shaped',
                     calibrate=None, rnn_layers: int = 1) -> Path:
  """Random GLiNER with the embedded model's tokenizer, max_len 384 words,
  512 subwords; deberta-v3-base-shaped unless told otherwise."""
  import torch
  from transformers.utils import logging as hf_logging
  from gliner import GLiNER, GLiNERConfig

  out_dir = Path(out_dir)
  with tempfile.TemporaryDirectory(prefix='bench-tok-') as tok_dir:
    for name in ('tokenizer.json', 'tokenizer_config.json'):
      shutil.copy(MINILM_DIR / name, Path(tok_dir) / name)
    from transformers import AutoTokenizer
    vocab = len(AutoTokenizer.from_pretrained(tok_dir, local_files_only=True))
    config = GLiNERConfig(
        model_name=tok_dir,
        encoder_config=encoder_config(vocab),
        span_mode=span_mode,
        max_len=384,
        max_width=12,
        hidden_size=hidden_size,
        num_rnn_layers=rnn_layers,
        dropout=0.0,
        words_splitter_type='whitespace',
    )
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
      with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GLiNER.from_config(
            config, backbone_from_pretrained=False, local_files_only=True)
    finally:
      hf_logging.set_verbosity(verbosity)
    model.config.model_name = name
    if calibrate:
      calibrate(model)
    model.save_pretrained(out_dir)
  return out_dir


def build_bi_encoder(out_dir: Path, span_mode: str = 'markerV0',
                     seed: int = 0) -> Path:
  """Random bi-encoder GLiNER, MiniLM's WordPiece on both sides: the text
  encoder is the proxy's (one 32-wide BERT layer), the label encoder has
  all-MiniLM-L6's shape (6 layers, 384 wide) -- the sentence encoders
  gliner-bi-* checkpoints use, whose cost per label is what re-encoding
  the labels every batch pays. Scores calibrated as the proxy's."""
  import torch
  from transformers import AutoTokenizer, BertConfig, BertModel
  from transformers.utils import logging as hf_logging
  from gliner import GLiNER, GLiNERConfig

  out_dir = Path(out_dir)
  verbosity = hf_logging.get_verbosity()
  hf_logging.set_verbosity_error()
  try:
    with tempfile.TemporaryDirectory(prefix='bench-bi-') as backbone, \
        tempfile.TemporaryDirectory(prefix='bench-bi-labels-') as labels, \
        torch.random.fork_rng(devices=[]):
      torch.manual_seed(seed)
      for folder in (backbone, labels):
        for name in ('tokenizer.json', 'tokenizer_config.json'):
          shutil.copy(MINILM_DIR / name, Path(folder) / name)
      vocab = len(AutoTokenizer.from_pretrained(backbone,
                                                local_files_only=True))
      BertModel(BertConfig(**proxy_encoder_config(vocab))).save_pretrained(
          backbone)
      BertModel(BertConfig(vocab_size=vocab, hidden_size=384,
                           num_hidden_layers=6, num_attention_heads=12,
                           intermediate_size=1536)).save_pretrained(labels)
      config = GLiNERConfig(model_name=backbone, labels_encoder=labels,
                            span_mode=span_mode, hidden_size=32, max_len=384,
                            max_width=12, dropout=0.0, num_rnn_layers=0)
      model = GLiNER.from_config(config, backbone_from_pretrained=True,
                                 local_files_only=True)
      model.config.model_name = 'random-bi-proxy-1x32'
      # label-dependent scores, as many candidate spans per document with
      # hundreds of labels as the proxy has with five
      from bench.corpora import many_labels
      calibrate_scores(model, labels=many_labels(100),
                       rate=PROXY_POSITIVE_RATE[span_mode] * 5 / 500)
      model.save_pretrained(out_dir)
  finally:
    hf_logging.set_verbosity(verbosity)
  return out_dir


def model_dir(spec: ModelSpec, cache_dir: Optional[Path] = None) -> Path:
  """Local checkpoint directory of `spec`, built on first use (offline)."""
  cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
  if spec.kind == 'minilm':
    return MINILM_DIR
  if spec.kind == 'base':
    target = cache_dir / f'deberta-base-random-v{BASE_VERSION}-{spec.span_mode}'
    return build_once(target, lambda d: build_base_model(d, spec.span_mode))
  if spec.kind == 'proxy':
    target = cache_dir / f'proxy-v{PROXY_VERSION}-{spec.span_mode}'
    return build_once(target, lambda d: build_base_model(
        d, spec.span_mode, encoder_config=proxy_encoder_config,
        hidden_size=32, name='random-proxy-1x32',
        calibrate=calibrate_scores, rnn_layers=0))
  if spec.kind == 'bi':
    target = cache_dir / f'bi-proxy-v{PROXY_VERSION + 2}-{spec.span_mode}'
    return build_once(target, lambda d: build_bi_encoder(d, spec.span_mode))
  if spec.kind == 'tiny':
    from bench.tiny_models import tiny_model_dir
    return tiny_model_dir(spec.span_mode, cache_dir)
  raise ValueError(spec.kind)
