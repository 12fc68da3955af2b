"""Calibration writes a task_defaults.json the job takes.

`selflearning.calibrate` runs the real job (`EnrichDocuments` on FnApiRunner)
with a tiny random model from tests/conftest.py over the shared calibration
data (skipped, saying why, where that data is absent); its scores are
meaningless, what is tested is the path: data that neither trains nor
measures, a file the job's own reader accepts, and a job run that then takes
the values where its task file sets none.
"""
import json
import shutil

import pytest

from selflearning import calibrate
from selflearning import multitask_data as data
from tests.conftest import REPO

SHARED = REPO.parent / 'shared' / 'data'


@pytest.mark.unit
def test_best_threshold_takes_the_highest_value_ties_to_the_lower():
  assert calibrate.best({0.1: 0.2, 0.3: 0.5, 0.5: 0.5, 0.7: 0.1}) == 0.3
  assert calibrate.best({(0.3, 0.2): 0.4, (0.2, 0.5): 0.4}) == (0.2, 0.5)


@pytest.mark.unit
def test_calibration_paragraphs_are_never_trained_on():
  articles = [{'title': 'A', 'paragraphs': [{'n': i} for i in range(10)]},
              {'title': data.QA_HELDOUT_ARTICLES[0],
               'paragraphs': [{'n': i} for i in range(10)]}]
  trained = data.training_articles(articles)
  held = data.calibration_articles(articles)
  assert [a['title'] for a in trained] == [a['title'] for a in held] == ['A']
  k = data.QA_CALIBRATION_PARAGRAPHS
  assert held[0]['paragraphs'] == [{'n': i} for i in range(10 - k, 10)]
  assert trained[0]['paragraphs'] == [{'n': i} for i in range(10 - k)]


@pytest.mark.unit
def test_a_file_the_job_would_refuse_is_never_written(tmp_path):
  document = calibrate.task_defaults_document(
      {'qa': {'values': {'threshold': 1.5}, 'metric': 'x'}}, 'cmd', 1.0)
  with pytest.raises(ValueError, match='threshold'):
    calibrate.write(tmp_path, document)
  assert not (tmp_path / 'task_defaults.json').exists()


@pytest.mark.skipif(
    not all((SHARED / d).is_dir() for d in ('ner', 'squad')),
    reason=f'shared NER corpora / SQuAD copies not found under {SHARED}')
def test_calibrate_writes_defaults_the_job_takes(token_model, tmp_path):
  from model_handler.task_defaults import read_task_defaults
  from pipeline.config import in_process_config
  model = tmp_path / 'model'
  shutil.copytree(token_model, model)
  assert calibrate.main(['--model', str(model), '--data_dir', str(SHARED),
                         '--tasks', 'ner', 'summary', '--ner_sentences', '2',
                         '--threads', '1']) == 0
  written = json.loads((model / 'task_defaults.json').read_text())
  assert written['format'] == 1 and set(written['tasks']) == {'ner',
                                                              'summary'}
  provenance = written['calibration']
  assert 'crossner' not in json.dumps(provenance).lower()
  assert provenance['tasks']['ner']['sentences'] > 0
  for task in ('ner', 'summary'):
    curve = provenance['tasks'][task]['curve']
    assert set(curve) == {str(t) for t in calibrate.GRID}
    chosen = written['tasks'][task]['threshold']
    assert curve[str(chosen)] == max(curve.values())
  # the job's reader accepts it, and a task file without a threshold takes it
  defaults = read_task_defaults(str(model))
  assert defaults.for_task('ner') == written['tasks']['ner']
  config = in_process_config({'ner': {'labels': ['person']},
                              'summary': {}}, str(tmp_path / 'out'),
                             model=str(model))
  taken = {t.name: t.threshold for t in config.tasks}
  assert taken == {'ner': written['tasks']['ner']['threshold'],
                   'summary': written['tasks']['summary']['threshold']}
