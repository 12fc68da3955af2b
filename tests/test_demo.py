"""`make demo`'s task file on sample documents: every table the six tasks
write gets rows, and the rows are the documents' own text at their offsets.

A slice of the sample (the first 8 documents, real Parquet) keeps this to
about a minute; `make demo` runs all 34 rows, the long document included.
"""
import pyarrow.parquet as pq

from tests.conftest import REPO, SAMPLE_DIR, read_table, run_cli

TABLES = ('entities', 'relations', 'answers', 'summaries', 'classifications',
          'extractions', 'documents')


def test_demo_tasks_fill_every_table(tmp_path):
  rows = pq.read_table(SAMPLE_DIR / 'documents.parquet').slice(0, 8)
  pq.write_table(rows, tmp_path / 'docs.parquet')
  texts = dict(zip(rows.column('id').to_pylist(),
                   rows.column('text').to_pylist()))
  rc = run_cli(['--input', tmp_path / 'docs.parquet', '--output',
                tmp_path / 'out', '--tasks', REPO / 'examples' / 'all_tasks.yaml'])
  assert rc == 0
  counts = {t: read_table(tmp_path / 'out', t).num_rows for t in TABLES}
  print('\nrows per table', counts)
  assert all(counts.values()), counts
  assert counts['documents'] == 8 and counts['classifications'] == 8
  for table, (start, end, text) in {
      'entities': ('start', 'end', 'text'), 'answers': ('start', 'end', 'answer'),
      'summaries': ('start', 'end', 'text'),
      'extractions': ('start', 'end', 'text'),
      'relations': ('tail_start', 'tail_end', 'tail_text')}.items():
    for row in read_table(tmp_path / 'out', table).to_pylist():
      assert texts[row['doc_id']][row[start]:row[end]] == row[text]
