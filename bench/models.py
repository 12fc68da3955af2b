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
                  REPO / 'models' / 'gliner-minilm-demo')
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


def default_cache_dir() -> Path:
  root = os.environ.get('XDG_CACHE_HOME') or os.path.join(
      os.path.expanduser('~'), '.cache')
  return Path(root) / 'gliner-beam-bench'


def base_encoder_config(vocab_size: int) -> dict:
  """deberta-v3-base's shape (relative attention only)."""
  from bench.tiny_models import deberta_v3_config
  return deberta_v3_config(vocab_size, hidden_size=768, layers=12, heads=12,
                           intermediate_size=3072)


def build_base_model(out_dir: Path, span_mode: str, seed: int = 0) -> Path:
  """Random deberta-v3-base-shaped GLiNER, max_len 384 words, 512 subwords."""
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
        encoder_config=base_encoder_config(vocab),
        span_mode=span_mode,
        max_len=384,
        max_width=12,
        hidden_size=768,
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
    model.config.model_name = 'random-deberta-v3-base-shaped'
    model.save_pretrained(out_dir)
  return out_dir


def model_dir(spec: ModelSpec, cache_dir: Optional[Path] = None) -> Path:
  """Local checkpoint directory of `spec`, built on first use (offline)."""
  cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
  if spec.kind == 'minilm':
    return MINILM_DIR
  if spec.kind == 'base':
    target = cache_dir / f'deberta-base-random-v{BASE_VERSION}-{spec.span_mode}'
    return build_once(target, lambda d: build_base_model(d, spec.span_mode))
  if spec.kind == 'tiny':
    from bench.tiny_models import tiny_model_dir
    return tiny_model_dir(spec.span_mode, cache_dir)
  raise ValueError(spec.kind)
