"""The job's entities equal bare `GLiNER.inference` for texts within max_len.

Runs the real job (FnApiRunner) and the reference call on the same tiny model
and texts, for both span modes.
"""
import pytest
from gliner import GLiNER

from tests.conftest import read_table, run_cli, write_parquet
from model_handler.tasks import table_schemas

TEXTS = [
    'Barack Obama met Angela Merkel in Berlin on Tuesday.',
    'The river Thames flows through London, where Acme Corp has offices.',
    'Marie Curie worked at the University of Paris with Pierre Curie.',
    'Tokyo is larger than Osaka.',
    'She said nothing at all.',
    'Volkswagen, Siemens and BASF are based in Germany; Nestlé is Swiss.',
]
LABELS = ['person', 'location', 'organization']


@pytest.mark.parametrize('model_fixture', ['marker_model', 'token_model'])
def test_job_entities_equal_bare_inference(model_fixture, request, tmp_path):
  model_dir = request.getfixturevalue(model_fixture)
  # Random heads score ~0.5: a low threshold gives many spans to compare.
  threshold = 0.3 if model_fixture == 'marker_model' else 0.45
  ids = [f'doc-{i}' for i in range(len(TEXTS))]
  write_parquet(tmp_path / 'in' / 'docs.parquet', {'id': ids, 'text': TEXTS})
  rc = run_cli([
      '--input', tmp_path / 'in' / '*.parquet', '--output', tmp_path / 'out',
      '--model', model_dir, '--labels', ','.join(LABELS), '--threshold',
      threshold
  ])
  assert rc == 0

  model = GLiNER.from_pretrained(str(model_dir), local_files_only=True)
  expected = model.inference(TEXTS, LABELS, threshold=threshold)
  expected_rows = sorted((ids[i], e['start'], e['end'], e['label'], e['score'])
                         for i, ents in enumerate(expected) for e in ents)
  assert expected_rows, 'the reference found nothing: comparison is empty'

  table = read_table(tmp_path / 'out', 'entities')
  assert table.schema.equals(table_schemas()['entities'], check_metadata=False)
  got = sorted(
      zip(*(table.column(c).to_pylist()
            for c in ('doc_id', 'start', 'end', 'label', 'score'))))
  assert [r[:4] for r in got] == [r[:4] for r in expected_rows]
  for mine, ref in zip(got, expected_rows):
    assert abs(mine[4] - ref[4]) < 1e-4
  texts = dict(zip(ids, TEXTS))
  for doc_id, start, end, text in zip(*(table.column(c).to_pylist()
                                        for c in ('doc_id', 'start', 'end',
                                                  'text'))):
    assert texts[doc_id][start:end] == text
