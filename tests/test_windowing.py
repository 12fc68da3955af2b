"""Window planning rules on plain values (no model)."""
import random
import re

import pytest

from transforms.windowing import WindowingError, default_overlap, plan_windows

pytestmark = pytest.mark.unit

WORD = re.compile(r'\w+(?:[-_]\w+)*|\S')  # gliner's whitespace splitter


def words_of(text):
  return [(m.start(), m.end()) for m in WORD.finditer(text)]


def make_text(n_sentences, seed=0):
  rng = random.Random(seed)
  vocab = 'alpha beta gamma delta river city council report market north'.split()
  sentences = []
  for _ in range(n_sentences):
    length = rng.randint(4, 30)
    sentences.append(' '.join(rng.choice(vocab) for _ in range(length)) + '.')
  return ' '.join(sentences)


def check_plan(text, spans, words, counts, max_words, budget):
  assert spans[0].first_word == 0 and spans[-1].end_word == len(words)
  assert spans[0].own_start == 0 and spans[-1].own_end == len(text)
  for prev, nxt in zip(spans, spans[1:]):
    assert nxt.first_word > prev.first_word  # progress
    assert nxt.first_word <= prev.end_word  # no gap: every word is covered
    assert prev.own_end == nxt.own_start  # ownership tiles the document
  for span in spans:
    assert 0 < span.end_word - span.first_word <= max_words
    assert sum(counts[span.first_word:span.end_word]) <= budget
    # a window owns only characters of words it contains
    first_char = words[span.first_word][0]
    assert span.own_start == 0 or span.own_start >= first_char


@pytest.mark.parametrize('seed', range(5))
@pytest.mark.parametrize('max_words,budget,overlap', [(50, 10_000, 10),
                                                      (64, 90, 16),
                                                      (384, 500, 24)])
def test_windows_cover_every_word_within_limits(seed, max_words, budget,
                                                overlap):
  text = make_text(200, seed)
  words = words_of(text)
  rng = random.Random(seed)
  counts = [rng.randint(1, 3) for _ in words]
  spans = plan_windows(text, words, counts, max_words, budget, overlap)
  assert len(spans) > 1
  check_plan(text, spans, words, counts, max_words, budget)


def test_short_text_is_one_window_owning_everything():
  text = 'Barack Obama visited Paris.'
  words = words_of(text)
  spans = plan_windows(text, words, [1] * len(words), 64, 100, 8)
  assert len(spans) == 1
  assert (spans[0].first_word, spans[0].end_word) == (0, len(words))
  assert (spans[0].own_start, spans[0].own_end) == (0, len(text))


def test_windows_end_at_sentence_boundaries_when_possible():
  text = make_text(100, seed=3)
  words = words_of(text)
  spans = plan_windows(text, words, [1] * len(words), 60, 1000, 10)
  for span in spans[:-1]:
    assert text[slice(*words[span.end_word - 1])] == '.', span


def test_overlap_is_kept_between_windows():
  text = ' '.join(f'w{i}' for i in range(500))  # no sentence boundaries
  words = words_of(text)
  spans = plan_windows(text, words, [1] * len(words), 100, 1000, 20)
  for prev, nxt in zip(spans, spans[1:]):
    assert prev.end_word - nxt.first_word == 20


def test_subword_budget_limits_a_window_before_the_word_limit():
  text = ' '.join(f'w{i}' for i in range(100))
  words = words_of(text)
  counts = [5] * len(words)
  spans = plan_windows(text, words, counts, 64, 52, 2)
  assert all(s.end_word - s.first_word == 10 for s in spans[:-1])


def test_word_longer_than_the_budget_is_an_error_not_a_cut():
  text = 'short enormousword short'
  words = words_of(text)
  with pytest.raises(WindowingError, match='more than the 10'):
    plan_windows(text, words, [1, 11, 1], 64, 10, 2)


def test_default_overlap_fits_the_widest_entity_twice():
  assert default_overlap(384, 12) == 24
  assert default_overlap(768, 100) == 192  # capped at a quarter window
  assert default_overlap(64, 2) == 8
