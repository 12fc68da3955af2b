"""The NER training corpora load with readable prompts and in-range spans.

The real corpora are third-party data read in place (NER_CORPORA_DIR or
../shared/data/ner); their checks skip where that folder is absent, and a
small corpus written here keeps the loader itself tested everywhere.
"""
import gzip
import json
import os
import re

import pytest

from selflearning import ner_corpora

# Sentences per corpus and split, and entity spans after dropped tags.
EXPECTED = {
    'bionlp13cg': {'train': (4036, 14442), 'test': (1906, 6881)},
    'btc': {'train': (9339, 14885), 'test': (0, 0)},
    'gum': {'train': (2419, 8606), 'test': (0, 0)},
    'multiconer2': {'train': (16752, 25402), 'test': (871, 1296)},
    're3d': {'train': (703, 2600), 'test': (0, 0)},
    'sec_filings': {'train': (1164, 1161), 'test': (303, 311)},
    # Output_Block (pasted program output) is dropped: 88 / 15 spans fewer
    # than the README's 15,191 / 3,951
    'stackoverflow_ner': {'train': (12201, 15103), 'test': (3109, 3936)},
    'wikigold': {'train': (1696, 2846), 'test': (0, 0)},
    'wnut17': {'train': (4403, 2811), 'test': (1287, 1079)},
}

ROOT = ner_corpora.DEFAULT_ROOT
HAVE_DATA = bool(ner_corpora.corpora(ROOT))


def readable(label):
  return (label == label.strip() and label.islower()
          and not re.match(r'^[BIES]-', label) and '_' not in label
          and '-' not in label)


def write_corpus(root, name, rows):
  os.makedirs(os.path.join(root, name))
  with gzip.open(os.path.join(root, name, 'data.jsonl.gz'), 'wt') as f:
    for row in rows:
      f.write(json.dumps(row) + '\n')


@pytest.mark.unit
def test_every_prompt_is_readable():
  for corpus in ner_corpora.PROMPTS:
    for label in ner_corpora.corpus_types(corpus):
      assert readable(label), (corpus, label)


@pytest.mark.unit
def test_every_coarse_link_joins_two_trained_types():
  """COARSE links fine to coarse prompts that corpora really use, so that
  both sides of a link get trained, and its chains end (no cycle)."""
  trained = {t for c in ner_corpora.PROMPTS for t in ner_corpora.corpus_types(c)}
  for fine, parent in ner_corpora.COARSE.items():
    assert fine in trained and parent in trained, (fine, parent)
    assert fine != parent and readable(parent)
    chain = ner_corpora.ancestors(fine)
    assert chain[0] == parent and len(chain) == len(set(chain)) < 5


@pytest.mark.unit
def test_load_maps_tags_drops_misc_and_keeps_splits(tmp_path):
  write_corpus(str(tmp_path), 'wikigold', [
      {'tokens': ['Ann', 'met', 'IBM', 'in', 'Rome'], 'split': 'train',
       'spans': [[0, 0, 'PER'], [2, 2, 'ORG'], [4, 4, 'MISC']]},
      {'tokens': ['Bob'], 'spans': [[0, 0, 'PER']], 'split': 'test'}])
  rows = ner_corpora.load(str(tmp_path), 'train')
  assert rows == [{'corpus': 'wikigold',
                   'tokens': ['Ann', 'met', 'IBM', 'in', 'Rome'],
                   'spans': [[0, 0, 'person'], [2, 2, 'organization']],
                   'types': ['location', 'organization', 'person']}]
  assert len(ner_corpora.load(str(tmp_path), 'test')) == 1
  with pytest.raises(ValueError):
    ner_corpora.load(str(tmp_path), 'dev')


@pytest.mark.unit
def test_an_unmapped_tag_is_an_error(tmp_path):
  write_corpus(str(tmp_path), 'btc', [
      {'tokens': ['x'], 'spans': [[0, 0, 'B-PER']], 'split': 'train'}])
  with pytest.raises(KeyError, match='B-PER'):
    ner_corpora.load(str(tmp_path))


@pytest.mark.unit
@pytest.mark.skipif(not HAVE_DATA, reason=f'no NER corpora under {ROOT}')
@pytest.mark.parametrize('split', ner_corpora.SPLITS)
def test_real_corpora_load_in_range_with_expected_counts(split):
  assert ner_corpora.corpora(ROOT) == sorted(EXPECTED)
  rows = ner_corpora.load(ROOT, split)
  for row in rows:
    n = len(row['tokens'])
    assert n > 0
    for start, end, label in row['spans']:
      assert 0 <= start <= end < n, row
      assert label in row['types'] and readable(label), row
  counts = {}
  for row in rows:
    sents, spans = counts.get(row['corpus'], (0, 0))
    counts[row['corpus']] = (sents + 1, spans + len(row['spans']))
  want = {c: s[split] for c, s in EXPECTED.items() if s[split][0]}
  assert counts == want
