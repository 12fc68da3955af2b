"""Thresholds that fit the model (a checkpoint's task_defaults.json) and
label sets split by the checkpoint's `max_types`.

Real tiny GLiNER checkpoints (conftest), copied so each test can add a
task_defaults.json or change its config; real job runs where the output must
show the order task file > model file > built-in default, the planner's own
DoFns where only the number of model calls matters. Random tiny models score
about 0.5 everywhere, so a threshold of 0.99 finds nothing and 0.3 or 0.01
finds spans in every window: which threshold was used shows in the rows.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from model_handler.task_defaults import FILE_NAME, NONE, TaskDefaultsError
from model_handler.task_defaults import parse_task_defaults
from model_handler.task_defaults import read_task_defaults
from pipeline.commit import read_manifest
from pipeline.config import default_options, validate
from pipeline.option_error import OptionError
from pipeline.task_config import load_tasks
from tests.conftest import read_table, run_cli, write_parquet

TEXTS = ['Marie Curie worked in Paris with Pierre Curie at the Sorbonne.',
         'Ada Lovelace wrote notes on the Analytical Engine in London.']
TASKS = '''
ner: {labels: [person, location], threshold: 0.3}
qa: {questions: ['Who worked there?']}
summary: {}
'''


def model_copy(source: Path, target: Path, defaults=None, **config) -> Path:
  """A copy of a checkpoint with `config` changes to gliner_config.json and,
  when given, a task_defaults.json."""
  shutil.copytree(source, target)
  if config:
    path = target / 'gliner_config.json'
    values = json.loads(path.read_text())
    values.update(config)
    path.write_text(json.dumps(values))
  if defaults is not None:
    text = defaults if isinstance(defaults, str) else json.dumps(defaults)
    (target / FILE_NAME).write_text(text)
  return target


CALIBRATED = {'format': 1,
              'tasks': {'ner': {'threshold': 0.99}, 'qa': {'threshold': 0.01},
                        'relations': {'relation_threshold': 0.2}},
              'calibration': {'data': 'test fixture', 'date': '2026-01-01'}}


@pytest.fixture()
def calibrated(marker_model, tmp_path) -> Path:
  return model_copy(marker_model, tmp_path / 'calibrated', CALIBRATED)


@pytest.fixture()
def documents(tmp_path) -> Path:
  return write_parquet(tmp_path / 'in.parquet',
                       {'id': ['a', 'b'], 'text': TEXTS})


def run_job(model, documents, out, *args):
  rc = run_cli(['--runner', 'FnApiRunner', '--input', documents, '--output',
                out, '--model', model, '--run_id', 'r1', *args])
  assert rc == 0
  return read_manifest(str(out), 'r1')


def config_for(model, documents, out, **values):
  return validate(default_options(input=str(documents), output=str(out),
                                  model=str(model), **values))


# --- the order: task file > model file > built-in ---------------------------


def test_task_file_beats_model_file_beats_built_in(calibrated, documents,
                                                   tmp_path):
  tasks = tmp_path / 'tasks.yaml'
  tasks.write_text(TASKS)
  manifest = run_job(calibrated, documents, tmp_path / 'out', '--tasks',
                     tasks)
  resolved = manifest['inputs']['tasks']['tasks']
  assert resolved['ner']['threshold'] == 0.3      # task file (model: 0.99)
  assert resolved['qa']['threshold'] == 0.01      # model file (built-in 0.5)
  assert resolved['summary']['threshold'] == 0.25  # built-in (model: none)
  assert manifest['model_defaults'] == {'qa.threshold': 0.01}
  entities = read_table(tmp_path / 'out', 'entities').to_pylist()
  assert entities and min(e['score'] for e in entities) >= 0.3
  answers = read_table(tmp_path / 'out', 'answers').to_pylist()
  assert {a['doc_id'] for a in answers} == {'a', 'b'}  # found at 0.01
  assert min(a['score'] for a in answers) >= 0.01


def test_labels_shortcut_takes_the_model_threshold(calibrated, documents,
                                                   tmp_path):
  manifest = run_job(calibrated, documents, tmp_path / 'out', '--labels',
                     'person,location')
  assert manifest['model_defaults'] == {'ner.threshold': 0.99}
  assert manifest['inputs']['tasks']['tasks']['ner']['threshold'] == 0.99
  assert read_table(tmp_path / 'out', 'entities').num_rows == 0
  # --threshold is the shortcut's task file: it wins
  config = config_for(calibrated, documents, tmp_path / 'o2',
                      entity_labels='person', threshold=0.3)
  assert config.tasks[0].threshold == 0.3 and config.model_defaults == ()


def test_checkpoint_without_the_file_is_unchanged(marker_model, documents,
                                                  tmp_path):
  tasks = tmp_path / 'tasks.yaml'
  tasks.write_text(TASKS)
  config = config_for(marker_model, documents, tmp_path / 'o',
                      tasks=str(tasks))
  assert config.tasks == load_tasks(TASKS)  # the task file alone
  assert config.model_defaults == ()
  manifest = run_job(marker_model, documents, tmp_path / 'out', '--labels',
                     'person')
  assert manifest['model_defaults'] == {}
  assert manifest['inputs']['tasks']['tasks']['ner']['threshold'] == 0.5


def test_config_hash_follows_a_changed_model_default(marker_model, documents,
                                                     tmp_path):
  tasks = tmp_path / 'tasks.yaml'
  tasks.write_text(TASKS)
  hashes = set()
  for i, value in enumerate((0.2, 0.3)):
    model = model_copy(marker_model, tmp_path / f'm{i}',
                       {'format': 1, 'tasks': {'qa': {'threshold': value}}})
    config = config_for(model, documents, tmp_path / f'o{i}',
                        tasks=str(tasks))
    assert config.model_defaults == (('qa.threshold', value), )
    hashes.add(config.config_hash())
  assert len(hashes) == 2


@pytest.mark.unit
def test_in_process_config_applies_model_defaults_to_a_task_document(
    calibrated, tmp_path):
  from pipeline.config import in_process_config
  config = in_process_config({'qa': {'questions': ['Who?']},
                              'relations': {'relations': ['works for'],
                                            'ner_threshold': 0.4}},
                             str(tmp_path / 'o'), model=str(calibrated))
  qa, relations = config.tasks
  assert (qa.threshold, relations.ner_threshold,
          relations.relation_threshold) == (0.01, 0.4, 0.2)
  assert dict(config.model_defaults) == {'qa.threshold': 0.01,
                                         'relations.relation_threshold': 0.2}


# --- bad files are refused at start-up, naming the file and the key ---------

BAD_FILES = {
    'unknown task': ({'format': 1, 'tasks': {'nre': {'threshold': 0.3}}},
                     'tasks.nre: unknown task'),
    'unknown key': ({'format': 1, 'tasks': {'qa': {'top_k': 2}}},
                    'tasks.qa.top_k: not a threshold of qa'),
    'wrong task key': ({'format': 1, 'tasks': {'ner': {'ner_threshold': .3}}},
                       'tasks.ner.ner_threshold: not a threshold of ner'),
    'out of range': ({'format': 1, 'tasks': {'relations': {
        'relation_threshold': 1.5}}},
                     'tasks.relations.relation_threshold: must be in [0, 1]'),
    'not a number': ({'format': 1, 'tasks': {'qa': {'threshold': '0.2'}}},
                     'tasks.qa.threshold: expected a number'),
    'boolean': ({'format': 1, 'tasks': {'qa': {'threshold': True}}},
                'tasks.qa.threshold: expected a number'),
    'NaN': ('{"format": 1, "tasks": {"qa": {"threshold": NaN}}}',
            'tasks.qa.threshold: must be in [0, 1]'),
    'bad JSON': ('{"format": 1, "tasks": {', 'not valid JSON'),
    'wrong format': ({'format': 2, 'tasks': {}}, 'format: expected 1, got 2'),
    'no format': ({'tasks': {}}, 'format: expected 1, got null'),
    'unknown top-level key': ({'format': 1, 'thresholds': {}},
                              'thresholds: unknown key'),
    'key twice': ('{"format": 1, "format": 1}', 'format: given twice'),
    'not an object': ('[1]', 'expected a JSON object'),
}


@pytest.mark.unit
@pytest.mark.parametrize('case', sorted(BAD_FILES))
def test_bad_file_is_refused_naming_file_and_key(case, tmp_path):
  document, message = BAD_FILES[case]
  text = document if isinstance(document, str) else json.dumps(document)
  with pytest.raises(TaskDefaultsError) as error:
    parse_task_defaults(text, '/models/m/task_defaults.json')
  assert str(error.value).startswith('/models/m/task_defaults.json: ')
  assert message in str(error.value)


@pytest.mark.unit
def test_every_task_and_key_is_optional():
  assert parse_task_defaults('{"format": 1}', 'f').tasks == {}
  parsed = parse_task_defaults(json.dumps(
      {'format': 1, 'tasks': {'summary': {}, 'classification': {
          'threshold': 0}, 'open_extraction': {'threshold': 1}}}), 'f')
  assert parsed.tasks == {'classification': {'threshold': 0.0},
                          'open_extraction': {'threshold': 1.0}}


def test_bad_file_stops_the_job_at_start_up(marker_model, documents,
                                            tmp_path, capsys):
  model = model_copy(marker_model, tmp_path / 'm', {
      'format': 1, 'tasks': {'qa': {'threshold': 2}}})
  rc = run_cli(['--runner', 'FnApiRunner', '--input', documents, '--output',
                tmp_path / 'out', '--model', model, '--labels', 'person'])
  assert rc == 2
  line = capsys.readouterr().err.strip().splitlines()[-1]
  assert line.startswith('error: --model: ')
  assert str(model / FILE_NAME) in line and 'tasks.qa.threshold' in line
  assert not (tmp_path / 'out').exists()


# --- where the file is read from --------------------------------------------


@pytest.mark.unit
def test_hub_id_without_the_file_offline_behaves_as_without_it(monkeypatch):
  monkeypatch.setenv('HF_HUB_OFFLINE', '1')
  assert read_task_defaults('no-such-owner/no-such-model') is NONE


def test_gs_checkpoint_file_is_read_in_place(marker_model, documents,
                                             tmp_path):
  pytest.importorskip('gcp_storage_emulator',
                      reason='gcp-storage-emulator is not installed')
  from apache_beam.io.filesystems import FileSystems
  from bench.gcs_emulator import gcs_emulator
  model = model_copy(marker_model, tmp_path / 'm', CALIBRATED)
  with gcs_emulator('defaults-test'):
    url = 'gs://defaults-test/models/tiny'
    for path in sorted(model.iterdir()):
      with FileSystems.create(f'{url}/{path.name}') as out:
        out.write(path.read_bytes())
    config = config_for(url, documents, tmp_path / 'o',
                        entity_labels='person')
    assert config.tasks[0].threshold == 0.99
    assert config.model_defaults == (('ner.threshold', 0.99), )
    with FileSystems.create(f'{url}/{FILE_NAME}') as out:
      out.write(b'{"format": 1, "tasks": {"ner": {"treshold": 0.3}}}')
    with pytest.raises(OptionError) as error:
      config_for(url, documents, tmp_path / 'o', entity_labels='person')
    assert f'{url}/{FILE_NAME}: tasks.ner.treshold' in str(error.value)


# --- label sets split by max_types ------------------------------------------


def plan_stage1(model: Path, labels, text=TEXTS[0]):
  from common.records import Document, ModelCall
  from model_handler.tasks import NerTask
  from model_handler.tasks.base import plain_labels
  from transforms.prepare import PlanModelCallsFn
  fn = PlanModelCallsFn(str(model), [NerTask(labels=plain_labels(labels))],
                        overlap=None)
  fn.setup()
  return [c for c in fn.process(Document('k', 'd', text))
          if isinstance(c, ModelCall)]


def test_stage1_label_set_is_split_by_max_types(marker_model, tmp_path):
  labels = [f'kind {i}' for i in range(7)]
  assert len(plan_stage1(marker_model, labels)) == 1  # max_types 25
  small = model_copy(marker_model, tmp_path / 'm', max_types=3)
  calls = plan_stage1(small, labels)
  assert [len(c.labels) for c in calls] == [3, 3, 1]
  assert [name for c in calls for name, _ in c.labels] == labels
  assert {(c.prompt.part, c.prompt.parts) for c in calls} == {
      (0, 3), (1, 3), (2, 3)}


def test_relation_stage2_labels_are_split_by_max_types(marker_model,
                                                       tmp_path):
  from common.records import CallResult, Entity
  from model_handler.tasks import RelationsTask
  from transforms.prepare import PlanModelCallsFn
  from transforms.relations_stage import PlanStage2CallsFn
  from common.records import Document, ModelCall
  task = RelationsTask(relations=('in', 'with'))
  text = TEXTS[0]
  sources = ['Marie', 'Paris', 'Pierre', 'Sorbonne']

  def stage2_calls(model):
    planner = PlanModelCallsFn(str(model), [task], overlap=None)
    planner.setup()
    [stage1] = [c for c in planner.process(Document('k', 'd', text))
                if isinstance(c, ModelCall)]
    shift = len(stage1.prefix)
    spans = tuple(Entity(shift + text.index(s), shift + text.index(s) +
                         len(s), s, 'named entity', 0.9) for s in sources)
    fn = PlanStage2CallsFn(str(model), task)
    fn.setup()
    return [c for c in fn.process(CallResult(stage1, spans))
            if isinstance(c, ModelCall)]

  assert len(stage2_calls(marker_model)) == 1  # 8 labels, max_types 25
  calls = stage2_calls(model_copy(marker_model, tmp_path / 'm', max_types=3))
  assert [len(c.labels) for c in calls] == [3, 3, 2]
  assert [n for c in calls for n, _ in c.labels] == [
      f'{s} <> {r}' for r in task.relations for s in sources]


def test_bi_encoder_keeps_one_prompt(model_cache):
  from bench import models as bench_models
  from bench.tiny_models import build_once
  bi_model = build_once(model_cache / 'bi-encoder',
                        bench_models.build_bi_encoder)
  assert json.loads((bi_model / 'gliner_config.json').read_text())[
      'max_types'] < 60
  calls = plan_stage1(bi_model, [f'kind {i}' for i in range(60)])
  assert len(calls) == 1 and len(calls[0].labels) == 60


def test_many_labels_tool_runs_three_jobs(marker_model, documents, tmp_path):
  """bench.many_labels at smoke size: the same weights with and without
  max_types, `person` alone; its numbers are counted from real output."""
  from bench.many_labels import measure
  model = model_copy(marker_model, tmp_path / 'm', max_types=3)
  result = measure(model, 8, 0.3, documents)
  assert result['max_types'] == 3 and result['labels'] == 8
  assert result['person_alone'] > 0  # random tiny model: spans at 0.3
  for way in ('subwords', 'max_types'):
    assert (result[f'alone_also_found_split_by_{way}'] <=
            min(result['person_alone'], result[f'person_split_by_{way}']))
