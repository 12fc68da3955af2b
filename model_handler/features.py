"""A window's model inputs, built where the window is planned, not in the
model stage.

gliner's `inference()` splits words, runs the HF tokenizer over every batch
(with `is_split_into_words`), builds word masks and span indices, runs the
network and decodes, all under one GIL beside the accelerator. Here the
planning worker, which already holds a per-word cache of subword ids
(`TextMeasure.subword_ids`), builds what gliner's collator would build for
one window -- ids, word mask, text length, word offsets -- and the model
stage only pads, stacks and runs the forward pass (model_handler.batching).
Each step mirrors gliner 0.2.29's collator line for line (prompt words,
truncation, `prepare_word_mask`'s numbering, which skips words without
subwords); the conformance tests compare the tensors and the decoded output
with `GLiNER.inference` on span- and token-level, WordPiece and Unigram,
uni- and bi-encoder checkpoints.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np

from common.records import Label, ModelInputs


def label_prompts(labels: Sequence[Label]) -> Tuple[List[str], List[str]]:
  """(model-facing prompts, public names) exactly as gliner normalises the
  label argument the handler would pass (names, or name -> description)."""
  from gliner.model import _normalize_label_set
  if all(name == prompt for name, prompt in labels):
    return _normalize_label_set([name for name, _ in labels])
  return _normalize_label_set(dict(labels))


class SpecialIds:
  """The ids the tokenizer puts around one sequence, and its padding."""

  def __init__(self, tokenizer):
    encoding = tokenizer(['x'], is_split_into_words=True)
    ids, word_ids = encoding['input_ids'], encoding.word_ids()
    first = word_ids.index(0)
    last = len(word_ids) - 1 - word_ids[::-1].index(0)
    self.prefix = tuple(ids[:first])
    self.suffix = tuple(ids[last + 1:])
    limit = tokenizer.model_max_length
    # truncation=True cuts to model_max_length when it is finite
    self.max_length = int(limit) if limit and limit < 1_000_000_000 else None
    self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    self.pad_left = getattr(tokenizer, 'padding_side', 'right') == 'left'


def encode_window(measure, specials: SpecialIds, text: str,
                  labels: Sequence[Label]) -> ModelInputs:
  """The collator's tensors for `text` prompted with `labels`, unpadded."""
  info = measure.info
  spans = measure.words(text)[:info.max_len]  # gliner cuts at max_len words
  words = [text[s:e] for s, e in spans]
  prompts, _ = label_prompts(labels)
  prompt = measure.prompt_words(prompts)
  per_word = measure.subword_ids(prompt + words)
  room = None
  if specials.max_length is not None:
    room = specials.max_length - len(specials.prefix) - len(specials.suffix)
  ids: List[int] = list(specials.prefix)
  mask: List[int] = [0] * len(ids)
  pooling = info.subtoken_pooling
  seen = 0          # words with at least one kept subword (gliner's count)
  skip = len(prompt)
  kept = 0
  for word_ids in per_word:
    if room is not None and kept + len(word_ids) > room:
      word_ids = word_ids[:max(0, room - kept)]
    if not word_ids:
      if room is not None and kept >= room:
        break
      continue
    seen += 1
    kept += len(word_ids)
    ids.extend(word_ids)
    value = seen - skip if seen > skip else 0
    n = len(word_ids)
    if value == 0:
      mask.extend([0] * n)
    elif pooling == 'first':
      mask.extend([value] + [0] * (n - 1))
    elif pooling == 'last':
      mask.extend([0] * (n - 1) + [value])
    else:  # mean / max: every subword
      mask.extend([value] * n)
  ids.extend(specials.suffix)
  mask.extend([0] * len(specials.suffix))
  n_words = len(words) if words else 1  # gliner pads an empty text to one word
  return ModelInputs(
      input_ids=np.asarray(ids, dtype=np.int64),
      words_mask=np.asarray(mask, dtype=np.int64),
      word_starts=np.asarray([s for s, _ in spans], dtype=np.int64),
      word_ends=np.asarray([e for _, e in spans], dtype=np.int64),
      text_length=n_words)


_SPAN_INDEX: Dict[Tuple[int, int], np.ndarray] = {}


def span_index(n_words: int, max_width: int) -> np.ndarray:
  """gliner's `prepare_span_idx`: every (start, start + w) for w < max_width,
  shared per length (span models enumerate the same spans for every window
  of that length)."""
  key = (n_words, max_width)
  found = _SPAN_INDEX.get(key)
  if found is None:
    starts = np.repeat(np.arange(n_words, dtype=np.int64), max_width)
    widths = np.tile(np.arange(max_width, dtype=np.int64), n_words)
    found = np.stack([starts, starts + widths], axis=1)
    if len(_SPAN_INDEX) > 4096:
      _SPAN_INDEX.clear()
    _SPAN_INDEX[key] = found
  return found
