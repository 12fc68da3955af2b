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

# Per-word subword counts kept by one TextMeasure (~100 bytes each; cleared
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
    self._word_subwords: Dict[str, int] = {}

  def words(self, text: str) -> List[Tuple[int, int]]:
    """Character spans of the words gliner will see in `text`."""
    if self._word_pattern is not None:
      return [match.span() for match in self._word_pattern.finditer(text)]
    return [(start, end) for _, start, end in self._splitter(text)]

  def subword_counts(self, words: Sequence[str]) -> List[int]:
    """Subwords per word, as gliner's `is_split_into_words` call counts them.

    With `is_split_into_words` the tokenizer normalises, pre-tokenises and
    splits every word on its own, so a word's count does not depend on its
    neighbours: counts are cached per word and only words not seen before
    are tokenised (natural text repeats most of its words, so a worker
    tokenises a small fraction of each document).
    """
    cache = self._word_subwords
    counts = [cache.get(word) for word in words]
    if None in counts:
      unseen = list(dict.fromkeys(
          word for word, count in zip(words, counts) if count is None))
      fresh = dict(zip(unseen, self._tokenise_counts(unseen)))
      counts = [fresh[word] if count is None else count
                for word, count in zip(words, counts)]
      if len(cache) + len(fresh) > WORD_CACHE_SIZE:
        cache.clear()
      cache.update((w, c) for w, c in fresh.items()
                   if len(w) <= WORD_CACHE_MAX_CHARS)
    return counts

  def _tokenise_counts(self, words: Sequence[str]) -> List[int]:
    """Subwords per word from one tokenizer call (no cache)."""
    if not words:
      return []
    encoding = self._tokenizer(
        list(words),
        is_split_into_words=True,
        add_special_tokens=False,
        verbose=False)  # measuring, not encoding: no 'too long' warning
    counts = [0] * len(words)
    for word_id in encoding.word_ids():
      if word_id is not None:
        counts[word_id] += 1
    return counts

  @functools.lru_cache(maxsize=1024)
  def prefix_cost(self, prefix: str) -> Tuple[int, int]:
    """(words, subwords) an instruction prefix adds to every window.

    The prefix ends with whitespace, so gliner's words (and subwords) of
    `prefix + text` are those of the prefix followed by those of the text.
    """
    words = [prefix[s:e] for s, e in self.words(prefix)]
    return len(words), sum(self.subword_counts(words))

  @functools.lru_cache(maxsize=1024)
  def prompt_cost(self, labels: Tuple[str, ...]) -> int:
    """Subwords of gliner's label prompt ``[ENT] l1 [ENT] l2 ... [SEP]``.

    Same for every window of a label set, hence cached.
    """
    prompt: List[str] = []
    for label in labels:
      prompt.append(self.info.ent_token)
      prompt.append(label)
    prompt.append(self.info.sep_token)
    return sum(self.subword_counts(prompt)) + SPECIAL_TOKENS_PER_PASS

