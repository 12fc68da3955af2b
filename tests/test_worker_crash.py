"""A worker process killed mid-bundle (`--direct_running_mode=
multi_processing`): whatever the runner does next -- retry the bundle or
fail the run -- no row is written twice and no partial output becomes
visible, because the batch commit runs only after every write finished."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from model_handler.tasks import keys as spec
from model_handler.tasks import register_task, unregister_task
from model_handler.tasks.ner import NerTask
from tests.conftest import read_table, run_cli, write_parquet


@dataclass(frozen=True)
class CrashOnceNer(NerTask):
  """NER whose first sight of document 'boom' kills its worker process
  (os._exit: no exception, no cleanup), once per marker file."""
  marker: str = ''
  name: str = 'crash_once_ner'

  keys = {**NerTask.keys, 'marker': spec.Key(spec.text, required=True)}
  table = 'crash_entities'

  def prompts(self, doc):
    if doc.doc_id == 'boom' and not Path(self.marker).exists():
      Path(self.marker).write_text(str(os.getpid()))
      os._exit(17)
    return super().prompts(doc)

  def prompt_texts(self):
    return (kv for kv in super().prompt_texts()
            if not kv[0].endswith('.marker'))


@pytest.fixture
def crash_task():
  register_task(CrashOnceNer)
  yield
  unregister_task(CrashOnceNer.name)


def test_killed_worker_never_duplicates_rows(crash_task, marker_model,
                                             tmp_path):
  texts = {f'd{i}': f'Document {i} is about Paris.' for i in range(6)}
  texts['boom'] = 'This one kills its worker in Oslo.'
  write_parquet(tmp_path / 'in.parquet',
                {'id': list(texts), 'text': list(texts.values())})
  marker = tmp_path / 'crashed'
  (tmp_path / 't.yaml').write_text(
      f'crash_once_ner:\n  labels: [location]\n  threshold: 0.3\n'
      f'  marker: {marker}\n')
  out = tmp_path / 'out'
  rc = run_cli(['--input', tmp_path / 'in.parquet', '--output', out,
                '--model', marker_model, '--tasks', tmp_path / 't.yaml',
                '--direct_running_mode=multi_processing',
                '--direct_num_workers=2', '--run_id', 'crash'])
  assert marker.exists(), 'the worker was not killed: the test tests nothing'
  assert int(marker.read_text()) != os.getpid()  # a worker, not this process
  print(f'\nworker killed mid-bundle: exit code {rc}')
  if rc == 0:  # the runner retried the bundle: every row exactly once
    docs = read_table(out, 'documents').column('doc_id').to_pylist()
    assert sorted(docs) == sorted(texts)
    rows = read_table(out, 'crash_entities').to_pylist()
    keys = [(r['source'], r['start'], r['end'], r['label']) for r in rows]
    assert len(keys) == len(set(keys))
  else:  # the run failed: nothing visible, a failed manifest, a clean rerun
    assert rc == 1
    assert not (out / 'documents').exists()
    assert not (out / 'crash_entities').exists()
    rc = run_cli(['--input', tmp_path / 'in.parquet', '--output', out,
                  '--model', marker_model, '--tasks', tmp_path / 't.yaml',
                  '--run_id', 'rerun'])
    assert rc == 0
    docs = read_table(out, 'documents').column('doc_id').to_pylist()
    assert sorted(docs) == sorted(texts)
