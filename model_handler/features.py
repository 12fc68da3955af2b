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

import itertools
from typing import Dict, List, Optional, Sequence, Tuple

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


class WindowEncoder:
  """Builds `ModelInputs` for one checkpoint from a TextMeasure's per-word
  ids; the prompt part (label prompt + instruction prefix) is built once
  per (prefix, labels)."""

  def __init__(self, measure, specials: SpecialIds):
    self._measure = measure
    self._specials = specials
    self._heads: Dict[Tuple[str, Tuple[str, ...]], tuple] = {}

  def _head(self, prefix: str, prompts: Tuple[str, ...]):
    key = (prefix, prompts)
    head = self._heads.get(key)
    if head is None:
      measure = self._measure
      prompt = measure.prompt_words(prompts)
      prefix_spans = measure.words(prefix)
      prefix_ids = measure.subword_ids([prefix[s:e] for s, e in prefix_spans])
      head = (measure.subword_ids(prompt), len(prompt), prefix_spans,
              prefix_ids)
      if len(self._heads) > 1024:
        self._heads.clear()
      self._heads[key] = head
    return head

  def encode(self, prefix: str, text: str, labels: Sequence[Label],
             text_spans: Optional[Sequence[Tuple[int, int]]] = None,
             text_ids: Optional[Sequence[Tuple[int, ...]]] = None
             ) -> ModelInputs:
    """The collator's tensors for `prefix + text` prompted with `labels`,
    unpadded. `text_spans`/`text_ids`: the words of `text` and their ids
    when the caller has them (the planner does), else computed here.

    `prefix` ends with whitespace (or is empty), so gliner's words of
    `prefix + text` are the prefix's followed by the text's."""
    measure, specials = self._measure, self._specials
    if text_spans is None:
      text_spans = measure.words(text)
      text_ids = measure.subword_ids([text[s:e] for s, e in text_spans])
    prompts, _ = label_prompts(labels)
    prompt_ids, skip, prefix_spans, prefix_ids = self._head(prefix,
                                                            tuple(prompts))
    shift = len(prefix)
    spans = list(prefix_spans) + [(s + shift, e + shift) for s, e in text_spans]
    word_ids = list(prefix_ids) + list(text_ids)
    max_len = measure.info.max_len
    if len(spans) > max_len:  # gliner cuts the text at max_len words
      spans, word_ids = spans[:max_len], word_ids[:max_len]
    per_word = list(prompt_ids) + word_ids
    lengths = np.fromiter(map(len, per_word), dtype=np.int64,
                          count=len(per_word))
    room = None
    if specials.max_length is not None:
      room = specials.max_length - len(specials.prefix) - len(specials.suffix)
    if room is not None and int(lengths.sum()) > room:
      # truncation=True keeps the first `room` subwords (a word may be cut)
      ends = np.minimum(np.cumsum(lengths), room)
      lengths = np.diff(ends, prepend=0)
      per_word = [ids[:n] for ids, n in zip(per_word, lengths.tolist())]
    flat = np.fromiter(itertools.chain.from_iterable(per_word),
                       dtype=np.int64, count=int(lengths.sum()))
    # prepare_word_mask: words are numbered by how many words WITH subwords
    # precede them (a word without subwords shifts the numbering, as in
    # gliner); prompt words are 0
    seen = np.cumsum(lengths > 0)
    value = np.where(seen > skip, seen - skip, 0)
    pooling = measure.info.subtoken_pooling
    if pooling in ('mean', 'max'):
      mask = np.repeat(value, lengths)
    else:
      mask = np.zeros(len(flat), dtype=np.int64)
      has = lengths > 0
      ends = np.cumsum(lengths)
      where = (ends - lengths) if pooling == 'first' else (ends - 1)
      mask[where[has]] = value[has]
    n_pre, n_suf = len(specials.prefix), len(specials.suffix)
    input_ids = np.concatenate([
        np.asarray(specials.prefix, dtype=np.int64), flat,
        np.asarray(specials.suffix, dtype=np.int64)])
    words_mask = np.concatenate([np.zeros(n_pre, dtype=np.int64), mask,
                                 np.zeros(n_suf, dtype=np.int64)])
    starts = np.fromiter((s for s, _ in spans), dtype=np.int64,
                         count=len(spans))
    ends_ = np.fromiter((e for _, e in spans), dtype=np.int64,
                        count=len(spans))
    return ModelInputs(input_ids=input_ids, words_mask=words_mask,
                       word_starts=starts, word_ends=ends_,
                       text_length=len(spans) or 1)


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
