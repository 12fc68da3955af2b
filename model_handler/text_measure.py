"""Measuring text the way the model will see it: gliner words and subwords.

gliner truncates texts longer than `max_len` words (with only a warning) and
its tokenizer cuts subwords past the encoder limit silently. Windowing uses
this class to keep every window inside both limits, with the label prompt.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from model_handler.checkpoint import CheckpointInfo
from model_handler.checkpoint import load_tokenizer
from model_handler.checkpoint import read_config
from model_handler.checkpoint import subword_limit

# [CLS] and [SEP] (or <s> and </s>) around every encoder input.
SPECIAL_TOKENS_PER_PASS = 2

# Per-word subword ids kept by one TextMeasure (~150 bytes each; cleared
# when full), and the longest word worth keeping.
WORD_CACHE_SIZE = 200_000
WORD_CACHE_MAX_CHARS = 64


class TextMeasure:
  """Word splitting and subword counting for one checkpoint."""

  def __init__(self, model_dir: Path):
    from gliner.data_processing import WordsSplitter
    from gliner.data_processing.tokenizer import WhitespaceTokenSplitter
    config = read_config(model_dir)
    self.info = CheckpointInfo.from_dir(model_dir)
    self._splitter = WordsSplitter(self.info.words_splitter_type)
    # gliner's default splitter is one regex: use its own compiled pattern
    # directly (same matches, without two generators per word).
    inner = getattr(self._splitter, 'splitter', None)
    self._word_pattern = (inner.whitespace_pattern
                          if type(inner) is WhitespaceTokenSplitter else None)
    self._tokenizer = load_tokenizer(model_dir, config)
    self.subword_limit = subword_limit(self._tokenizer, config)
    self._encoder = None
    self._word_ids: Dict[str, Tuple[int, ...]] = {}

  def words(self, text: str) -> List[Tuple[int, int]]:
    """Character spans of the words gliner will see in `text`."""
    if self._word_pattern is not None:
      return [match.span() for match in self._word_pattern.finditer(text)]
    return [(start, end) for _, start, end in self._splitter(text)]

  def subword_counts(self, words: Sequence[str]) -> List[int]:
    """Subwords per word, as gliner's `is_split_into_words` call counts them."""
    return [len(ids) for ids in self.subword_ids(words)]

  def subword_ids(self, words: Sequence[str]) -> List[Tuple[int, ...]]:
    """Subword ids per word, as gliner's `is_split_into_words` call gives them.

    With `is_split_into_words` the tokenizer normalises, pre-tokenises and
    splits every word on its own, so a word's ids do not depend on its
    neighbours: ids are cached per word and only words not seen before
    are tokenised (natural text repeats most of its words, so a worker
    tokenises a small fraction of each document). The same ids then build
    the model's inputs (model_handler.features): one tokenisation per word,
    none in the model stage.
    """
    cache = self._word_ids
    found = [cache.get(word) for word in words]
    if None in found:
      unseen = list(dict.fromkeys(
          word for word, ids in zip(words, found) if ids is None))
      fresh = dict(zip(unseen, self._tokenise(unseen)))
      found = [fresh[word] if ids is None else ids
               for word, ids in zip(words, found)]
      if len(cache) + len(fresh) > WORD_CACHE_SIZE:
        cache.clear()
      cache.update((w, ids) for w, ids in fresh.items()
                   if len(w) <= WORD_CACHE_MAX_CHARS)
    return found

  def _tokenise(self, words: Sequence[str]) -> List[Tuple[int, ...]]:
    """Subword ids per word from one tokenizer call (no cache)."""
    if not words:
      return []
    encoding = self._tokenizer(
        list(words),
        is_split_into_words=True,
        add_special_tokens=False,
        verbose=False)  # measuring, not encoding: no 'too long' warning
    per_word: List[List[int]] = [[] for _ in words]
    for token_id, word_id in zip(encoding['input_ids'], encoding.word_ids()):
      if word_id is not None:
        per_word[word_id].append(token_id)
    return [tuple(ids) for ids in per_word]

  @functools.lru_cache(maxsize=1024)
  def prefix_cost(self, prefix: str) -> Tuple[int, int]:
    """(words, subwords) an instruction prefix adds to every window.

    The prefix ends with whitespace, so gliner's words (and subwords) of
    `prefix + text` are those of the prefix followed by those of the text.
    """
    words = [prefix[s:e] for s, e in self.words(prefix)]
    return len(words), sum(self.subword_counts(words))

  def model_inputs(self, prefix: str, text: str, labels,
                   text_spans=None, text_ids=None):
    """The encoder input of `prefix + text` prompted with `labels` (None
    for architectures the model stage runs through gliner's `inference`);
    see model_handler.features.WindowEncoder."""
    if not self.info.prepared_inputs:
      return None
    if self._encoder is None:
      from model_handler.features import SpecialIds, WindowEncoder
      self._encoder = WindowEncoder(self, SpecialIds(self._tokenizer))
    return self._encoder.encode(prefix, text, labels, text_spans, text_ids)

  def prompt_words(self, labels: Sequence[str]) -> List[str]:
    """gliner's label prompt ``[ENT] l1 [ENT] l2 ... [SEP]`` as words (an
    empty label adds its marker only); none for a bi-encoder, whose labels
    go to their own encoder."""
    if self.info.bi_encoder:
      return []
    prompt: List[str] = []
    for label in labels:
      prompt.append(self.info.ent_token)
      if label:
        prompt.append(label)
    prompt.append(self.info.sep_token)
    return prompt

  def labels_fit(self, labels: Tuple[str, ...], subword_budget: int) -> bool:
    """The one rule a prompt's label set must meet (the planner's splits of
    stage-1 label sets and relations' stage-2 chunks both use it): its
    prompt takes at most `subword_budget` subwords, and it holds no more
    labels than the checkpoint saw per prompt in training (`max_types`; a
    bi-encoder has no such limit)."""
    limit = self.info.max_types
    if limit is not None and len(labels) > limit:
      return False
    return self.prompt_cost(labels) <= subword_budget

  @functools.lru_cache(maxsize=1024)
  def prompt_cost(self, labels: Tuple[str, ...]) -> int:
    """Subwords of the label prompt plus the pass's special tokens.

    Same for every window of a label set, hence cached.
    """
    return (sum(self.subword_counts(self.prompt_words(labels))) +
            SPECIAL_TOKENS_PER_PASS)

