"""Property-based fuzzing of the batch job's input (hypothesis).

Each example is a small corpus of hostile rows -- lone surrogates, NUL,
right-to-left and combining marks, emoji with zero-width joiners, CRLF,
100,000-character tokens, whitespace only, non-string values, null and
duplicated ids -- written to real Parquet files (string, binary and integer
text columns, as such data arrives) and run through the whole job on a tiny
offline model. Invariants: the job exits 0; every input row is exactly one
`documents` row or one row-level dead letter; every span row's text is
exactly `document[start:end]`.
"""
from __future__ import annotations

import sys

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import read_table, run_cli

FRAGMENTS = [
    'Marie Curie', ' lived in ', 'Paris', '.', ' ', '\r\n', '\n\n', '\t',
    '\x00', '\u202eevil\u202c', 'e\u0301te\u0301', '\U0001F469\u200d'
    '\U0001F469\u200d\U0001F467', '\u05e9\u05dc\u05d5\u05dd', '\ufeff',
    '\ud800', '\udfff', 'x' * 100_000, 'Berlin-Mitte', '"quoted"', '\u2028',
    'A' * 300, ' word' * 80,
]
STATS = {'examples': 0, 'rows': 0, 'largest_chars': 0}


def text_values():
  pieces = st.lists(st.sampled_from(FRAGMENTS), min_size=0, max_size=6)
  return st.one_of(
      pieces.map(''.join),
      st.text(max_size=40),
      st.just('   '),
      st.none(),
  )


rows_strategy = st.lists(
    st.tuples(
        st.one_of(st.none(), st.sampled_from(['dup', 'x1', 'x2']),
                  st.text(min_size=1, max_size=5)),
        text_values()),
    min_size=1, max_size=8)


def write_corpus(root, rows, ints):
  """Valid Unicode -> a string column; anything else -> a binary column
  (surrogates as the invalid UTF-8 that such files hold); plus a file whose
  text column is an integer column."""
  root.mkdir(parents=True)
  strings, binary = {'id': [], 'text': []}, {'id': [], 'text': []}
  texts = {}
  for doc_id, text in rows:
    try:
      (doc_id or '').encode('utf-8')
      id_ok = True
    except UnicodeEncodeError:
      id_ok = False
    doc_id = doc_id if id_ok else 'bad-id'
    try:
      if text is not None:
        text.encode('utf-8')
      target = strings
    except UnicodeEncodeError:
      target = binary
    target['id'].append(doc_id)
    target['text'].append(text if target is strings else text.encode(
        'utf-8', 'surrogatepass'))
  files = []
  if strings['id']:
    pq.write_table(pa.table(strings), root / 'a.parquet')
    files.append(('a.parquet', strings['text']))
  if binary['id']:
    pq.write_table(pa.table({'id': pa.array(binary['id'], pa.string()),
                             'text': pa.array(binary['text'], pa.binary())}),
                   root / 'b.parquet')
    files.append(('b.parquet', binary['text']))
  if ints:
    pq.write_table(pa.table({'id': [f'n{i}' for i in range(len(ints))],
                             'text': pa.array(ints, pa.int64())}),
                   root / 'c.parquet')
    files.append(('c.parquet', ints))
  for name, values in files:
    for row, value in enumerate(values):
      texts[f'{root / name}#{row}'] = value
  return texts


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow,
                                 HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(rows=rows_strategy,
       ints=st.lists(st.integers(-5, 5), max_size=2))
@example(  # the known poison rows, always tried
    rows=[('dup', 'Paris \ud800 Berlin'), ('dup', 'Marie Curie lived in Paris.'),
          (None, 'Rome.'), ('x1', 'x' * 100_000 + ' Paris'), ('x2', None),
          ('\ud800', 'Lone surrogate id in Oslo.'), ('e', '\r\n \t '),
          ('z', '\U0001F469\u200d\U0001F467 e\u0301 \u202eOslo\x00')],
    ints=[3])
def test_hostile_rows_are_all_accounted_for(marker_model, tmp_path_factory,
                                            rows, ints):
  root = tmp_path_factory.mktemp('fuzz')
  texts = write_corpus(root / 'in', rows, ints)
  rc = run_cli(['--input', root / 'in' / '*.parquet', '--output',
                root / 'out', '--model', marker_model, '--labels',
                'person,location', '--threshold', '0.3'])
  assert rc == 0
  documents = read_table(root / 'out', 'documents').to_pylist()
  dead = [d for d in read_table(root / 'out', 'dead_letter').to_pylist()
          if d['task'] is None]
  sources = sorted([d['source'] for d in documents] +
                   [d['source'] for d in dead])
  assert sources == sorted(texts), 'a row was lost or counted twice'
  for entity in read_table(root / 'out', 'entities').to_pylist():
    text = texts[entity['source']]
    if isinstance(text, bytes):
      text = text.decode('utf-8')
    assert text[entity['start']:entity['end']] == entity['text']
  STATS['examples'] += 1
  STATS['rows'] += len(texts)
  STATS['largest_chars'] = max(
      [STATS['largest_chars']] +
      [len(t) for t in texts.values() if isinstance(t, (str, bytes))])
  print(f'fuzz: {STATS}', file=sys.stderr)
