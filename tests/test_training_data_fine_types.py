"""Training data II: fine types win where they are asked, Re-DocRED relation
examples keep their held-out parts out and use the job's prompt, and a batch
holds one task.

The example builders are plain seeded Python, so these run on generated
inputs over many seeds; the Re-DocRED checks read the shared copy and skip
(saying why) where it is absent.
"""
import random
from collections import Counter

import pytest

from common.text import words_with_offsets
from model_handler.tasks import relations as relation_prompts
from selflearning import multitask_data as data
from selflearning import ner_corpora, redocred
from tests.conftest import REPO

REDOCRED = REPO.parent / 'shared' / 'data' / 'redocred'
needs_redocred = pytest.mark.skipif(
    not (REDOCRED / redocred.NAMES_FILE).is_file(),
    reason=f'shared Re-DocRED copy not found under {REDOCRED}')
MULTICONER_TYPES = ner_corpora.corpus_types('multiconer2')


@pytest.mark.unit
def test_fine_type_is_gold_when_asked_else_its_parent():
  cases = Counter()
  for seed in range(300):
    labels, gold = data.typed_prompt(['politician', 'band'], MULTICONER_TYPES,
                                     random.Random(seed))
    assert len(labels) == len(set(labels)) <= 30
    for fine, parent in (('politician', 'person'), ('band', 'organization')):
      if fine in labels:
        assert gold[fine] == fine
        cases['both' if parent in labels else 'fine only'] += 1
      elif parent in labels:
        assert gold[fine] == parent
        cases['coarse only'] += 1
      else:
        assert gold[fine] is None
    negatives = set(labels) - {'politician', 'band', 'person', 'organization'}
    assert negatives and negatives <= set(MULTICONER_TYPES)
  # every case is trained, each often
  assert min(cases[c] for c in ('both', 'fine only', 'coarse only')) >= 40


@pytest.mark.unit
def test_a_chain_gives_the_most_specific_asked_type():
  assert ner_corpora.ancestors('application') == ['software', 'product']
  seen = set()
  for seed in range(200):
    labels, gold = data.typed_prompt(['application'], ['application'],
                                     random.Random(seed))
    asked = [t for t in ('application', 'software', 'product') if t in labels]
    assert gold['application'] == (asked[0] if asked else None)
    seen.add(gold['application'])
  assert {'application', 'software', 'product'} <= seen


@pytest.mark.unit
def test_ner_examples_label_spans_with_the_asked_type():
  """Through the whole builder (join, prompt, word mapping): the span of a
  politician is 'politician' where asked, else 'person' where asked, else
  not gold; a parent is never a negative for its own fine span."""
  doc = {'corpus': 'multiconer2', 'tokens': ['Ann', 'Lee', 'met', 'Blur', '.'],
         'spans': [[0, 1, 'politician'], [3, 3, 'band']],
         'types': MULTICONER_TYPES}
  typed = 0
  for seed in range(150):
    for example in data.ner_examples([doc], random.Random(seed)):
      if example['task'] != 'ner' or example['ner_labels'] == [
          data.NAMED_ENTITY]:
        continue
      typed += 1
      labels = example['ner_labels']
      gold = {(s, e): lab for s, e, lab in example['ner']}
      offset = len(example['tokenized_text']) - len(doc['tokens'])
      for (start, end), fine, parent in (((0, 1), 'politician', 'person'),
                                         ((3, 3), 'band', 'organization')):
        want = fine if fine in labels else parent if parent in labels else None
        assert gold.get((start + offset, end + offset)) == want, labels
  assert typed > 80


@pytest.mark.unit
def test_one_task_per_batch():
  pools = {t: [{'task': t, 'i': i} for i in range(20)]
           for t in data.TASK_WEIGHTS}
  batches = data.mixture(pools, 8, random.Random(0))
  drawn = [next(batches) for _ in range(200)]
  assert all(len({e['task'] for e in b}) == 1 for b in drawn)
  per_task = Counter(b[0]['task'] for b in drawn)
  assert set(per_task) == set(data.TASK_WEIGHTS)  # every task is drawn
  mixed = data.mixture(pools, 8, random.Random(0), one_task_per_batch=False)
  assert any(len({e['task'] for e in next(mixed)}) > 1 for _ in range(20))


@pytest.fixture(scope='module')
def redocred_parts():
  if not (REDOCRED / redocred.NAMES_FILE).is_file():
    pytest.skip(f'shared Re-DocRED copy not found under {REDOCRED}')
  return {part: redocred.split(REDOCRED, part) for part in redocred.PARTS}


@needs_redocred
def test_redocred_splits_keep_held_out_documents_and_types_out(
    redocred_parts):
  train, calibration = redocred_parts['train'], redocred_parts['calibration']
  dev = redocred.load_documents(REDOCRED, 'dev')
  assert {s.doc for s in calibration} == {
      d['title'] for d in dev[-redocred.CALIBRATION_DOCS:]}
  assert not {s.doc for s in train} & {s.doc for s in calibration}
  test_titles = {d['title'] for d in redocred.load_documents(REDOCRED, 'test')}
  assert not {s.doc for s in train} & test_titles
  held = set(redocred.HELDOUT_TYPES)
  assert not any(t.relation_id in held for s in train for t in s.triples)
  # ... but they are there to measure
  assert any(t.relation_id in held for s in redocred_parts['test']
             for t in s.triples)
  names = redocred.relation_names(REDOCRED)
  assert not {names[i] for i in held} & set(redocred.trained_names(REDOCRED))


@needs_redocred
def test_relation_examples_use_the_jobs_prompt(redocred_parts):
  sentences = redocred_parts['train'][:300]
  names = redocred.trained_names(REDOCRED)
  held = {redocred.relation_names(REDOCRED)[i] for i in redocred.HELDOUT_TYPES}
  examples = redocred.relation_examples(sentences, names, random.Random(3))
  assert len(examples) > 100
  prefix = [w for w, _, _ in words_with_offsets(relation_prompts.PREFIX)]
  both_directions = 0
  for example in examples:
    assert example['task'] == 'relations'
    assert example['tokenized_text'][:len(prefix)] == prefix
    labels = example['ner_labels']
    assert 2 <= len(labels) <= redocred.MAX_LABELS
    per_source = Counter()
    for label in labels:
      source, _, relation = label.rpartition(relation_prompts.SEPARATOR)
      assert label == relation_prompts.relation_label(source, relation)
      assert relation in names and relation not in held
      per_source[source] += 1
    both_directions += len(per_source) > 1
    assert all(lab in labels for _, _, lab in example['ner'])
    # the first source: its true relations and 2-6 distractors
    first = next(iter(per_source))
    true = {lab for _, _, lab in example['ner']
            if lab.rpartition(relation_prompts.SEPARATOR)[0] == first}
    assert per_source[first] - len(true) >= 2 or len(labels) == 30
  assert both_directions > len(examples) // 5
  mentions = redocred.mention_examples(sentences, random.Random(3))
  named = [e for e in mentions if e['ner_labels'] == [data.NAMED_ENTITY]]
  assert len(named) > len(mentions) // 4
  assert all(e['ner'] for e in named)
