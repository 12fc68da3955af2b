"""Multi-task jobs: every task writes its typed table with exact offsets, and
the prompting equals gliner's reference computation on the same model."""
import json
import os
import subprocess
import sys

import pytest
from gliner import GLiNER

from model_handler.tasks import classification, qa, relations, summary
from tests.conftest import REPO, read_table, run_cli, write_parquet
from bench.tiny_models import tiny_model_dir
from model_handler.tasks import table_schemas

TEXTS = [
    'Marie Curie worked in Paris with Pierre Curie.',
    'Acme Corp hired Jane Doe, who was born in Oslo.',
    'The match ended two to one after extra time.',
]
IDS = ['d0', 'd1', 'd2']
QUESTIONS = ['Who worked in Paris?', 'Where was Jane Doe born?']
CLASSES = ['science', 'business', 'sports']
ALL_TASKS = {
    'ner': {'labels': ['person', 'location'], 'threshold': 0.3},
    'relations': {'relations': ['works for', 'born in'],
                  'entity_labels': ['person', 'location'],
                  'ner_threshold': 0.5, 'relation_threshold': 0.3,
                  'label_budget': 300},
    'qa': {'questions': QUESTIONS, 'threshold': 0.3, 'top_k': 50},
    'summary': {'threshold': 0.3},
    'classification': {'classes': CLASSES, 'threshold': 0.3,
                       'multi_label': True},
    'open_extraction': {'prompt': 'Find every place name', 'label': 'place',
                        'threshold': 0.3},
}


@pytest.fixture(scope='module')
def wide_model(model_cache):
  """Tiny markerV0 model whose encoder takes 512 subwords, so relation
  labels fit one stage-2 call (as in the reference computation)."""
  return tiny_model_dir('markerV0', model_cache, model_max_length=512)


@pytest.fixture(scope='module')
def all_tasks_run(wide_model, tmp_path_factory):
  root = tmp_path_factory.mktemp('all-tasks')
  write_parquet(root / 'in' / 'docs.parquet', {'id': IDS, 'text': TEXTS})
  (root / 'tasks.json').write_text(json.dumps(ALL_TASKS))
  rc = run_cli(['--input', root / 'in' / '*.parquet', '--output',
                root / 'out', '--model', wide_model, '--tasks',
                root / 'tasks.json', '--run_id', 'r1'])
  assert rc == 0
  return root / 'out'


@pytest.fixture(scope='module')
def reference(wide_model):
  return GLiNER.from_pretrained(str(wide_model), local_files_only=True)


def shifted(preds, prefix):
  """Reference spans in the text part, in text offsets (our rule)."""
  n = len(prefix)
  return [(p['start'] - n, p['end'] - n, p['label'], p['score'])
          for p in preds if p['start'] >= n]


def close(got, want):
  assert [g[:-1] for g in got] == [w[:-1] for w in want]
  for g, w in zip(got, want):
    assert abs(g[-1] - w[-1]) < 1e-4


def test_every_task_table_is_written_with_its_schema(all_tasks_run):
  for table in ('entities', 'relations', 'answers', 'summaries',
                'classifications', 'extractions', 'documents',
                'dead_letter'):
    got = read_table(all_tasks_run, table)
    assert got.schema.equals(table_schemas()[table], check_metadata=False)
  assert read_table(all_tasks_run, 'documents').num_rows == len(TEXTS)
  texts = dict(zip(IDS, TEXTS))
  for table, cols in (('entities', ('start', 'end', 'text')),
                      ('answers', ('start', 'end', 'answer')),
                      ('summaries', ('start', 'end', 'text')),
                      ('extractions', ('start', 'end', 'text')),
                      ('relations', ('head_start', 'head_end',
                                     'head_text')),
                      ('relations', ('tail_start', 'tail_end',
                                     'tail_text'))):
    rows = read_table(all_tasks_run, table).to_pylist()
    assert rows, f'{table} is empty: nothing was checked'
    for row in rows:
      start, end, text = (row[c] for c in cols)
      assert texts[row['doc_id']][start:end] == text, (table, row)


def test_qa_equals_reference_for_every_question(all_tasks_run, reference):
  rows = read_table(all_tasks_run, 'answers').to_pylist()
  for doc_id, text in zip(IDS, TEXTS):
    for question in QUESTIONS:
      prefix = qa.prefix_for(question)
      preds = reference.inference([prefix + text], ['answer'],
                                  threshold=0.3)[0]
      want = sorted(shifted(preds, prefix), key=lambda s: (-s[3], s[0], s[1]))
      got = [(r['start'], r['end'], 'answer', r['score']) for r in rows
             if r['doc_id'] == doc_id and r['question'] == question]
      assert [r['rank'] for r in rows if r['doc_id'] == doc_id and
              r['question'] == question] == list(range(1, len(got) + 1))
      close(got, want)
  # Several questions -> answers for each (the reference used only the first).
  assert {r['question'] for r in rows} == set(QUESTIONS)
  assert len(rows) >= 2 * len(QUESTIONS)


def test_summary_equals_reference(all_tasks_run, reference):
  rows = read_table(all_tasks_run, 'summaries').to_pylist()
  for doc_id, text in zip(IDS, TEXTS):
    preds = reference.inference([summary.PREFIX + text], ['summary'],
                                threshold=0.3)[0]
    want = sorted(shifted(preds, summary.PREFIX))
    got = [(r['start'], r['end'], 'summary', r['score']) for r in rows
           if r['doc_id'] == doc_id]
    close(got, want)
  assert rows, 'no summary span: comparison is empty'



def test_classification_equals_reference(all_tasks_run, reference):
  rows = read_table(all_tasks_run, 'classifications').to_pylist()
  prefix = classification.prefix_for(CLASSES)
  compared = 0
  for doc_id, text in zip(IDS, TEXTS):
    preds = reference.inference([prefix + text], ['match'], threshold=0.3)[0]
    best = {}
    for p in preds:
      if p['end'] <= len(prefix) and p['text'] in CLASSES:
        best[p['text']] = max(best.get(p['text'], 0), p['score'])
    got = {r['label']: r['score'] for r in rows if r['doc_id'] == doc_id}
    assert got.keys() == best.keys()
    for label in got:
      assert abs(got[label] - best[label]) < 1e-4
    compared += len(got)
  assert compared, 'no class was predicted: comparison is empty'


def test_relations_equal_reference_two_stage(all_tasks_run, reference):
  rows = read_table(all_tasks_run, 'relations').to_pylist()
  spec = ALL_TASKS['relations']
  compared = 0
  for doc_id, text in zip(IDS, TEXTS):
    stage1 = reference.inference([text], spec['entity_labels'],
                                 threshold=spec['ner_threshold'])[0]
    heads = list(dict.fromkeys(e['text'] for e in stage1))
    labels = [relations.relation_label(h, r) for r in spec['relations']
              for h in heads]
    want = []
    if labels:
      preds = reference.inference([relations.PREFIX + text], labels,
                                  threshold=spec['relation_threshold'])[0]
      for start, end, label, score in shifted(preds, relations.PREFIX):
        head, _, relation = label.rpartition(' <> ')
        want.append((head, relation, start, end, score))
    got = [(r['head_text'], r['relation'], r['tail_start'],
            r['tail_end'], r['score']) for r in rows if r['doc_id'] == doc_id]
    assert sorted(g[:-1] for g in got) == sorted(w[:-1] for w in want)
    compared += len(got)
    for g in got:
      match = [w for w in want if w[:-1] == g[:-1]]
      assert abs(match[0][-1] - g[-1]) < 1e-4
    # Head offsets point at the stage-1 entity; tail labels come from it.
    for row in (r for r in rows if r['doc_id'] == doc_id):
      first = next(e for e in stage1 if e['text'] == row['head_text'])
      assert (row['head_start'], row['head_end'],
              row['head_label']) == (first['start'], first['end'],
                                       first['label'])
  assert compared, 'no relation found: comparison is empty'


def test_relation_threshold_is_honoured(wide_model, tmp_path):
  write_parquet(tmp_path / 'in.parquet', {'id': IDS, 'text': TEXTS})
  counts = {}
  for threshold in (0.3, 0.9):
    spec = dict(ALL_TASKS['relations'], relation_threshold=threshold)
    (tmp_path / 'tasks.json').write_text(json.dumps({'relations': spec}))
    out = tmp_path / f'out-{threshold}'
    assert run_cli(['--input', tmp_path / 'in.parquet', '--output', out,
                    '--model', wide_model, '--tasks',
                    tmp_path / 'tasks.json']) == 0
    rows = read_table(out, 'relations').to_pylist()
    assert all(r['score'] >= threshold for r in rows)
    counts[threshold] = len(rows)
    assert sorted(p.name for p in out.iterdir()) == [
        '_log', '_runs', 'dead_letter', 'documents', 'relation_triples', 'relations'
    ]  # only configured tables (+ their corpus table), commit log, manifests
  assert counts[0.3] > 0 and counts[0.9] == 0


def test_outputs_do_not_depend_on_hash_seed(wide_model, tmp_path):
  write_parquet(tmp_path / 'in.parquet', {'id': IDS, 'text': TEXTS})
  (tmp_path / 'tasks.json').write_text(json.dumps(ALL_TASKS))
  tables = {}
  for seed in ('1', '2'):
    out = tmp_path / f'out-{seed}'
    env = dict(os.environ, PYTHONHASHSEED=seed, HF_HUB_OFFLINE='1')
    subprocess.run([sys.executable, '-m', 'pipeline', '--input',
                    tmp_path / 'in.parquet', '--output', out, '--model',
                    wide_model, '--tasks', tmp_path / 'tasks.json',
                    '--run_id', 'same'], cwd=REPO, env=env, check=True,
                   capture_output=True)
    tables[seed] = {
        t: sorted(map(str, read_table(out, t).to_pylist()))
        for t in ('entities', 'relations', 'answers', 'summaries',
                  'classifications', 'extractions')
    }
  assert tables['1'] == tables['2']
  assert tables['1']['relations']


def test_bad_per_document_inputs_dead_letter_only_that_task(
    marker_model, tmp_path):
  write_parquet(tmp_path / 'in.parquet', {
      'id': ['ok', 'no-question', 'bad-labels'],
      'text': ['Paris is big.', 'Rome is old.', 'Oslo is cold.'],
      'questions': [['Which city?'], None, ['What is it?']],
      'labels': [['city'], ['city', 'country'], ['city', '']],
  })
  (tmp_path / 'tasks.json').write_text(json.dumps({
      'qa': {'questions_column': 'questions', 'threshold': 0.3},
      'ner': {'labels': ['location'], 'labels_column': 'labels',
              'threshold': 0.3},
  }))
  assert run_cli(['--input', tmp_path / 'in.parquet', '--output',
                  tmp_path / 'out', '--model', marker_model, '--tasks',
                  tmp_path / 'tasks.json']) == 0
  docs = read_table(tmp_path / 'out', 'documents').to_pylist()
  dead = read_table(tmp_path / 'out', 'dead_letter').to_pylist()
  assert sorted(d['doc_id'] for d in docs) == ['bad-labels', 'no-question',
                                               'ok']
  assert [(d['doc_id'], d['task'], d['reason']) for d in dead] == [
      ('no-question', 'qa', 'questions: question column is null')]
  answers = read_table(tmp_path / 'out', 'answers').to_pylist()
  assert {a['doc_id'] for a in answers} <= {'ok', 'bad-labels'}
  entities = read_table(tmp_path / 'out', 'entities').to_pylist()
  assert {e['label'] for e in entities if e['doc_id'] == 'ok'} <= {'city'}
  assert {e['doc_id'] for e in entities} >= {'no-question'}


def test_label_column_that_is_not_a_list_is_a_task_dead_letter(
    marker_model, tmp_path):
  write_parquet(tmp_path / 'in.parquet', {
      'id': ['a', 'b'], 'text': ['Paris is big.', 'Rome is old.'],
      'labels': ['city,country', None]})
  (tmp_path / 'tasks.json').write_text(json.dumps({
      'ner': {'labels': ['location'], 'labels_column': 'labels',
              'threshold': 0.3},
      'summary': {'threshold': 0.3}}))
  assert run_cli(['--input', tmp_path / 'in.parquet', '--output',
                  tmp_path / 'out', '--model', marker_model, '--tasks',
                  tmp_path / 'tasks.json']) == 0
  dead = read_table(tmp_path / 'out', 'dead_letter').to_pylist()
  assert sorted((d['doc_id'], d['task'], d['reason']) for d in dead) == [
      ('a', 'ner', 'labels: label column is not a list of strings but str'),
      ('b', 'ner', 'labels: label column is null')]
  # Both documents still enriched, with the static labels as fallback.
  assert read_table(tmp_path / 'out', 'documents').num_rows == 2
  entities = read_table(tmp_path / 'out', 'entities').to_pylist()
  assert {e['label'] for e in entities} <= {'location'}


def test_show_tables_shows_the_head_of_every_triple(all_tasks_run):
  """`make demo` prints a few rows per table and hides `source` (the input
  row); a triple's head is `head`, so it is shown, not hidden with it."""
  triples = read_table(all_tasks_run, 'relation_triples').to_pylist()
  assert triples, 'no triple: nothing to show'
  shown = subprocess.run(
      [sys.executable, str(REPO / 'scripts' / 'show_tables.py'),
       str(all_tasks_run), '--rows', '1'], capture_output=True, text=True,
      timeout=120, check=True).stdout
  section = shown.split('== relation_triples:', 1)[1].split('\n==', 1)[0]
  assert f"head={triples[0]['head']} | relation=" in section, section
  assert 'source=' not in shown
