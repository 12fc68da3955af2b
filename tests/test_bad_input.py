"""Nothing lost, nothing silent: every input row is either a documents row or
a dead-letter row with a reason; output files match the declared schemas."""
import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import read_table, run_cli, write_parquet
from model_handler.tasks import table_schemas


def _invalid_utf8_string_column(values):
  """A *string* column holding invalid UTF-8, as a buggy producer writes it."""
  binary = pa.array(values, type=pa.binary())
  return binary.view(pa.string())


def test_every_row_is_accounted_for(marker_model, tmp_path):
  src = tmp_path / 'in'
  good = ['Barack Obama visited Paris.', 'Acme Corp hired Jane Doe in Oslo.',
          'A second document with the same id as the first.']
  write_parquet(src / 'a.parquet', {
      'id': ['g1', 'g2', 'g1', 'null-text', 'empty', 'blank', None, 'huge'],
      'text': good + [None, '', ' \n\t ', 'orphan text', 'x ' * 3000],
  })
  # No id column: ids are "<file>#<row>".
  write_parquet(src / 'b.parquet', {'text': ['No id here.', None]})
  # Text column of the wrong type.
  write_parquet(src / 'c.parquet', {'id': ['n1', 'n2'], 'text': [1, 2]})
  # Invalid UTF-8 next to a valid value in the same string column.
  pq.write_table(
      pa.table({
          'id': pa.array(['u1', 'u2']),
          'text': _invalid_utf8_string_column([b'ok \xc3\xa9t\xc3\xa9',
                                               b'bad \xff\xfe'])
      }), src / 'd.parquet')
  n_input = 8 + 2 + 2 + 2

  rc = run_cli(['--input', src / '*.parquet', '--output', tmp_path / 'out',
                '--model', marker_model, '--labels', 'person,location',
                '--max_doc_chars', 5000])
  assert rc == 0
  docs = read_table(tmp_path / 'out', 'documents')
  dead = read_table(tmp_path / 'out', 'dead_letter')
  assert docs.num_rows + dead.num_rows == n_input

  reasons = dict(zip(dead.column('source').to_pylist(),
                     dead.column('reason').to_pylist()))
  by_id = dict(zip(dead.column('doc_id').to_pylist(),
                   dead.column('reason').to_pylist()))
  assert by_id['null-text'] == 'text is null'
  assert by_id['empty'] == 'text is empty or whitespace only'
  assert by_id['blank'] == 'text is empty or whitespace only'
  assert 'more than --max_doc_chars=5000' in by_id['huge']
  assert by_id['n1'] == 'text is not a string but int'
  assert by_id['u2'].startswith('text is not valid UTF-8')
  assert any(r == 'id is null' for r in reasons.values())
  assert set(dead.column('stage').to_pylist()) == {'validate'}
  assert set(dead.column('task').to_pylist()) == {None}
  assert all(dead.column('payload_snippet').to_pylist()[i] is None or
             len(dead.column('payload_snippet').to_pylist()[i]) < 260
             for i in range(dead.num_rows))

  doc_ids = sorted(docs.column('doc_id').to_pylist())
  b_file = str(src / 'b.parquet')
  assert doc_ids == sorted(['g1', 'g1', 'g2', f'{b_file}#0', 'u1'])
  assert f'{b_file}#1' in reasons  # the null row of the id-less file
  assert sorted(docs.column('source').to_pylist()) == sorted(
      set(docs.column('source').to_pylist()))  # duplicate ids stay apart

  for table in ('entities', 'documents', 'dead_letter'):
    got = read_table(tmp_path / 'out', table)
    assert got.schema.equals(table_schemas()[table], check_metadata=False)
    assert len(set(got.column('run_id').to_pylist())) <= 1
  entities = read_table(tmp_path / 'out', 'entities')
  n_by_doc = dict(zip(docs.column('source').to_pylist(),
                      docs.column('n_entities').to_pylist()))
  assert sum(n_by_doc.values()) == entities.num_rows


def test_lineage_is_stamped_on_every_row(marker_model, tmp_path):
  write_parquet(tmp_path / 'in.parquet', {'id': ['a', 'b'],
                                          'text': ['Paris is big.', None]})
  rc = run_cli(['--input', tmp_path / 'in.parquet', '--output',
                tmp_path / 'out', '--model', marker_model, '--run_id',
                'run-42', '--threshold', '0.3'])
  assert rc == 0
  for table in ('entities', 'documents', 'dead_letter'):
    got = read_table(tmp_path / 'out', table)
    assert set(got.column('run_id').to_pylist()) <= {'run-42'}
    assert all(m.startswith(marker_model.name + '@')
               for m in got.column('model_id').to_pylist())
    assert len(set(got.column('config_hash').to_pylist())) <= 1
  assert read_table(tmp_path / 'out', 'documents').num_rows == 1


def test_end_of_run_summary_matches_the_tables(marker_model, tmp_path, capsys):
  write_parquet(tmp_path / 'in.parquet', {
      'id': ['a', 'b', 'c'],
      'text': ['Paris and Rome are cities.', None, 'Berlin is too.']
  })
  rc = run_cli(['--input', tmp_path / 'in.parquet', '--output',
                tmp_path / 'out', '--model', marker_model, '--threshold',
                '0.3', '--labels', 'location'])
  assert rc == 0
  out = capsys.readouterr().out
  n_entities = read_table(tmp_path / 'out', 'entities').num_rows
  assert 'documents read:          3' in out
  assert 'documents enriched:      2' in out
  assert 'documents dead-lettered: 1' in out
  assert f'location: {n_entities}' in out
  assert 'documents/s' in out
