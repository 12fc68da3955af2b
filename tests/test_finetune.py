"""Fine-tuning: a few steps on a tiny model change the weights, save a
self-contained checkpoint that loads offline, and are reproducible."""
import json

import pytest

from selflearning import training
from selflearning import finetune

EXAMPLES = [
    {'tokenized_text': ['Alice', 'lives', 'in', 'Paris', '.'],
     'ner': [[0, 0, 'person'], [3, 3, 'location']],
     'ner_labels': ['person', 'location'], 'id': 'a'},
    {'tokenized_text': ['Bob', 'Smith', 'visited', 'Rome', 'and', 'Oslo', '.'],
     'ner': [[0, 1, 'person'], [3, 3, 'location'], [5, 5, 'location']], 'id': 'b'},
    {'tokenized_text': ['Nothing', 'to', 'see', 'here', '.'], 'ner': [],
     'ner_labels': ['person', 'location'], 'id': 'c'},
]


def _state(model_dir):
  return {k: v.clone() for k, v in
          training.load_model(str(model_dir)).model.state_dict().items()}


def _tune(base, train, out, seed=7):
  return finetune.main([
      '--base', str(base), '--train', str(train), '--out', str(out),
      '--steps', '3', '--batch_size', '2', '--lr_encoder', '1e-3',
      '--lr_others', '1e-3', '--label_smoothing', '0.1', '--focal_alpha', '0.75',
      '--focal_gamma', '2', '--seed', str(seed), '--threads', '1',
      '--log_every', '1'])


def test_tiny_finetune_changes_weights_and_saves_loadable_checkpoint(
    marker_model, tmp_path):
  from gliner import GLiNER
  train = tmp_path / 'train.jsonl'
  train.write_text(''.join(json.dumps(e) + '\n' for e in reversed(EXAMPLES)))
  out = tmp_path / 'tuned'
  assert _tune(marker_model, train, out) == 0
  before, after = _state(marker_model), _state(out)
  assert before.keys() == after.keys()
  changed = [k for k in before if not before[k].equal(after[k])]
  assert any('token_rep_layer' in k for k in changed)  # the encoder learned
  assert any('token_rep_layer' not in k for k in changed)  # and the heads
  record = json.loads((out / 'finetune.json').read_text())
  assert record['examples'] == 3 and record['settings']['steps'] == 3
  assert record['settings']['label_smoothing'] == 0.1
  config = json.loads((out / 'gliner_config.json').read_text())
  assert 'encoder_config' in config  # self-contained: no backbone lookup
  model = GLiNER.from_pretrained(str(out), local_files_only=True)
  result = model.inference(['Alice lives in Paris .'], ['person', 'location'],
                           threshold=0.0)
  assert isinstance(result[0], list)

  # same seed, same data (in any file order) -> the same weights
  shuffled = tmp_path / 'shuffled.jsonl'
  shuffled.write_text(''.join(json.dumps(e) + '\n' for e in EXAMPLES))
  again = tmp_path / 'again'
  assert _tune(marker_model, shuffled, again) == 0
  assert all(after[k].equal(t) for k, t in _state(again).items())


def test_examples_are_validated(tmp_path, capsys):
  bad = tmp_path / 'bad.jsonl'
  bad.write_text(json.dumps({'tokenized_text': ['a'], 'ner': [[0, 3, 'x']]}) + '\n')
  with pytest.raises(ValueError, match='bad ner entry'):
    training.load_examples([str(bad)])
  assert finetune.main(['--base', 'x', '--train', str(bad), '--out',
                        str(tmp_path / 'o')]) == 2
  assert 'bad ner entry' in capsys.readouterr().err


def test_epoch_batches_are_seeded():
  import random
  a = training.epoch_batches(list(range(5)), 2, random.Random(1))
  b = training.epoch_batches(list(range(5)), 2, random.Random(1))
  first = [next(a) for _ in range(6)]
  assert first == [next(b) for _ in range(6)]
  assert sorted(x for batch in first[:3] for x in batch) == [0, 1, 2, 3, 4]
