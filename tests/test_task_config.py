"""Invalid task specs are rejected at start-up with a message naming the key."""
import json

import pytest

from model_handler.tasks import NerTask, QaTask, RelationsTask
from pipeline.task_config import TaskSpecError, load_tasks
from tests.conftest import run_cli, write_parquet


@pytest.mark.parametrize('spec,key', [
    ({'sentiment': {}}, 'sentiment: unknown task'),
    ({'ner': {'labels': ['a'], 'colour': 1}}, 'ner.colour: unknown key'),
    ({'ner': {'labels': []}}, 'ner.labels: no values given'),
    ({'ner': {}}, 'ner.labels: give labels or a labels_column'),
    ({'ner': {'labels': ['a'], 'threshold': 1.5}}, 'ner.threshold: must be'),
    ({'ner': {'labels': ['a'], 'threshold': 'high'}}, 'ner.threshold:'),
    ({'ner': {'labels': ['a'], 'flat_ner': 'yes'}}, 'ner.flat_ner:'),
    ({'ner': {'labels': {'person': 3}}}, 'ner.labels.person:'),
    ({'relations': {}}, 'relations.relations: required'),
    ({'relations': {'relations': ['r'], 'relation_threshold': -1}},
     'relations.relation_threshold: must be'),
    ({'qa': {}}, 'qa.questions: give questions or a questions_column'),
    ({'qa': {'questions': ['q'], 'top_k': 0}}, 'qa.top_k:'),
    ({'summary': {'max_sentences': 'two'}}, 'summary.max_sentences:'),
    ({'classification': {'classes': []}}, 'classification.classes:'),
    ({'open_extraction': {}}, 'open_extraction.prompt: required'),
    ([], 'tasks: expected a mapping'),
])
@pytest.mark.unit
def test_invalid_spec_names_the_key(spec, key):
  with pytest.raises(TaskSpecError) as err:
    load_tasks(json.dumps(spec))
  assert str(err.value).startswith(key), str(err.value)


@pytest.mark.unit
def test_yaml_and_label_descriptions():
  tasks = load_tasks('''
ner:
  labels: {person: a human being, city: null}
  threshold: 0.4
relations: {relations: [works for]}
qa: {questions: "Who is it?"}
''')
  assert tasks[0] == NerTask(labels=(('person', 'a human being'),
                                     ('city', 'city')), threshold=0.4)
  assert isinstance(tasks[1], RelationsTask)
  assert tasks[2] == QaTask(questions=('Who is it?', ))


@pytest.mark.unit
def test_yaml_is_parsed_safely():
  with pytest.raises(TaskSpecError, match='not valid YAML'):
    load_tasks('ner: !!python/object/apply:os.system ["true"]')


@pytest.fixture()
def docs(tmp_path):
  return write_parquet(tmp_path / 'in.parquet', {'id': ['a'],
                                                 'text': ['Paris.']})


def cli_error(capsys):
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1, err
  return err[0]


def test_question_column_missing_from_input(docs, tmp_path, marker_model,
                                            capsys):
  (tmp_path / 't.yaml').write_text('qa: {questions_column: questions}')
  rc = run_cli(['--input', docs, '--output', tmp_path / 'o', '--model',
                marker_model, '--tasks', tmp_path / 't.yaml'])
  assert rc == 2
  assert cli_error(capsys).startswith(
      "error: --tasks: qa.questions_column: column 'questions' not in")


def test_bad_task_file_fails_at_start_up(docs, tmp_path, marker_model,
                                         capsys):
  (tmp_path / 't.yaml').write_text('ner: {labels: [], threshold: 2}')
  rc = run_cli(['--input', docs, '--output', tmp_path / 'o', '--model',
                marker_model, '--tasks', tmp_path / 't.yaml'])
  assert rc == 2
  assert cli_error(capsys) == 'error: --tasks: ner.labels: no values given'


def test_missing_task_file(docs, tmp_path, marker_model, capsys):
  rc = run_cli(['--input', docs, '--output', tmp_path / 'o', '--model',
                marker_model, '--tasks', tmp_path / 'nope.yaml'])
  assert rc == 2
  assert cli_error(capsys).startswith('error: --tasks: cannot read')


def test_labels_shortcut_conflicts_with_tasks(docs, tmp_path, marker_model,
                                              capsys):
  (tmp_path / 't.yaml').write_text('summary: {}')
  rc = run_cli(['--input', docs, '--output', tmp_path / 'o', '--model',
                marker_model, '--tasks', tmp_path / 't.yaml', '--labels',
                'person'])
  assert rc == 2
  assert cli_error(capsys).startswith('error: --labels: applies to')
