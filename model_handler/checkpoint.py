"""Finding a GLiNER checkpoint and reading what windowing needs from it.

Windowing runs *before* RunInference, on workers that have not loaded the
model, so the limits (`max_len` words, the encoder's subword limit) and the
tokenizer come from the checkpoint files, without building the network.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

CONFIG_FILE = 'gliner_config.json'
HUB_ID = re.compile(r'^[A-Za-z0-9][\w.-]*/[\w.-]+$')
# Encoders whose tokenizer reports no finite limit still have position
# embeddings; this is the fallback when neither says.
DEFAULT_SUBWORD_LIMIT = 512


class CheckpointError(ValueError):
  """The model reference does not name a usable GLiNER checkpoint."""


def looks_like_local_path(ref: str) -> bool:
  """True when `ref` is meant as a path, so it must never become a hub lookup.

  A hub id is ``owner/name``; a reference that starts like a path, or whose
  first component exists here (``models/typo``), is a local path typo.
  """
  if ref.startswith(('/', './', '../', '~')) or os.sep + os.sep in ref:
    return True
  first = ref.split('/', 1)[0]
  return '/' not in ref or os.path.isdir(first)


def resolve_model_dir(ref: str, revision: Optional[str] = None) -> Path:
  """Return a local directory holding the checkpoint `ref` names.

  Local directories are used in place; `gs://` (any Beam file system)
  directories are copied once into a local cache (see `remote`); hub ids are
  fetched into the Hugging Face cache (a no-op when cached), at `revision`
  when given. Raises CheckpointError with the reason.
  """
  if revision and ('://' in ref or not HUB_ID.match(ref) or
                   Path(os.path.expanduser(ref)).is_dir()):
    raise CheckpointError(
        f'--model_revision applies to hub ids only, not {ref!r}')
  if '://' in ref:
    from model_handler.remote import IncompleteCheckpoint, fetch_checkpoint
    try:
      return fetch_checkpoint(ref)
    except IncompleteCheckpoint as exc:
      raise CheckpointError(str(exc)) from exc
    except Exception as exc:  # pylint: disable=broad-except
      raise CheckpointError(
          f'cannot read {ref}: {type(exc).__name__}: {str(exc)[:200]}'
      ) from exc
  path = Path(os.path.expanduser(ref))
  if path.is_dir():
    if not (path / CONFIG_FILE).is_file():
      raise CheckpointError(f'{ref!r} is a directory without {CONFIG_FILE}')
    return path
  if looks_like_local_path(ref) or not HUB_ID.match(ref):
    raise CheckpointError(f'{ref!r} is not a directory')
  try:
    from huggingface_hub import snapshot_download
    return Path(
        snapshot_download(
            ref,
            revision=revision,
            allow_patterns=[
                '*.json', '*.safetensors', '*.bin', '*.model', '*.txt'
            ],
            etag_timeout=10))
  except Exception as exc:  # pylint: disable=broad-except
    raise CheckpointError(
        f'{ref!r} is not a local directory and could not be fetched from '
        f'the Hugging Face Hub ({type(exc).__name__}: {str(exc)[:200]})'
    ) from exc


def remote_code_keys(config: Dict[str, Any]) -> List[str]:
  """Sub-configs that name custom model code (`auto_map`). gliner builds
  encoders with `trust_remote_code=True`, so such a checkpoint would run code
  from the hub; the job refuses it unless --trust_remote_code is given."""
  found = []
  for key, value in config.items():
    if isinstance(value, dict) and value.get('auto_map'):
      found.append(key)
  if config.get('auto_map'):
    found.append('auto_map')
  return found


def check_remote_code(model_dir: Path, trust_remote_code: bool) -> None:
  keys = remote_code_keys(read_config(model_dir))
  if keys and not trust_remote_code:
    raise CheckpointError(
        f'{model_dir / CONFIG_FILE} names custom model code ({", ".join(keys)}'
        '.auto_map); pass --trust_remote_code to allow it to run')


def read_config(model_dir: Path) -> Dict[str, Any]:
  try:
    with open(model_dir / CONFIG_FILE, encoding='utf-8') as handle:
      return json.load(handle)
  except (OSError, json.JSONDecodeError) as exc:
    raise CheckpointError(f'cannot read {model_dir / CONFIG_FILE}: {exc}')


def load_tokenizer(model_dir: Path, config: Dict[str, Any]):
  """Load the tokenizer exactly as gliner does, plus gliner's prompt tokens."""
  from transformers import AutoTokenizer
  if (model_dir / 'tokenizer_config.json').is_file():
    tokenizer = AutoTokenizer.from_pretrained(
        str(model_dir), local_files_only=True)
  else:
    tokenizer = AutoTokenizer.from_pretrained(config['model_name'])
  specials = [
      config.get('ent_token', '[ENT]'),
      config.get('sep_token', '[SEP]')
  ]
  missing = [t for t in specials if t not in tokenizer.get_vocab()]
  if missing:
    tokenizer.add_special_tokens({'additional_special_tokens': missing})
  return tokenizer


def subword_limit(tokenizer, config: Dict[str, Any]) -> int:
  """The most subwords (specials included) one encoder pass accepts.

  gliner tokenizes with `truncation=True`, so anything past this limit is cut
  silently; windows are sized to stay under it.
  """
  limits = []
  if tokenizer.model_max_length and tokenizer.model_max_length < 1_000_000:
    limits.append(int(tokenizer.model_max_length))
  encoder = config.get('encoder_config') or {}
  if encoder.get('max_position_embeddings') and not encoder.get(
      'relative_attention'):
    limits.append(int(encoder['max_position_embeddings']))
  return min(limits) if limits else DEFAULT_SUBWORD_LIMIT


def prompt_label_limit(config: Dict[str, Any]) -> Optional[int]:
  """The checkpoint's `max_types` for a uni-encoder (labels in the prompt),
  None for a bi-encoder or when the config has no usable value."""
  value = config.get('max_types')
  if (config.get('labels_encoder') is not None or isinstance(value, bool) or
      not isinstance(value, int) or value < 1):
    return None
  return value


@dataclass(frozen=True)
class CheckpointInfo:
  """The limits windowing must respect, read from a checkpoint's config, and
  what building the model's inputs outside the model needs to know."""
  model_dir: str
  max_len: int
  max_width: int
  words_splitter_type: str
  ent_token: str
  sep_token: str
  span_mode: str = 'markerV0'
  subtoken_pooling: str = 'first'
  # Labels are embedded by their own encoder and take no room in the window.
  bi_encoder: bool = False
  # The most labels one training prompt held: past it a uni-encoder's
  # scores drift (a label set is split so no prompt holds more). None: no
  # limit (not in the config, or a bi-encoder, whose labels are embedded
  # one by one).
  max_types: Optional[int] = None
  # The architectures whose inputs model_handler.features builds (uni- and
  # bi-encoder, span or token level); others (label decoders, relation
  # layers, streaming sessions, precomputed prompts) go through gliner's own
  # `inference`.
  prepared_inputs: bool = True

  @classmethod
  def from_dir(cls, model_dir: Path) -> 'CheckpointInfo':
    config = read_config(model_dir)
    return cls(
        model_dir=str(model_dir),
        max_len=int(config.get('max_len', 384)),
        max_width=int(config.get('max_width', 12)),
        words_splitter_type=str(
            config.get('words_splitter_type', 'whitespace')),
        ent_token=str(config.get('ent_token', '[ENT]')),
        sep_token=str(config.get('sep_token', '[SEP]')),
        span_mode=str(config.get('span_mode', 'markerV0')),
        subtoken_pooling=str(config.get('subtoken_pooling') or 'first'),
        bi_encoder=config.get('labels_encoder') is not None,
        max_types=prompt_label_limit(config),
        prepared_inputs=(
            config.get('labels_decoder') is None and
            config.get('relations_layer') is None and
            config.get('model_type') != 'gliner_streaming_span' and
            not config.get('precomputed_prompts_mode') and
            str(config.get('subtoken_pooling') or 'first') in (
                'first', 'last', 'mean', 'max')),
    )
