"""A 3,000+ word document through the whole job with the embedded model:
entities planted at the start, middle, end and across a window boundary are
each found exactly once, at exact offsets, and gliner never truncates
(pytest.ini turns its truncation warning into an error)."""
import itertools

from tests.conftest import read_table, run_cli, write_parquet
from model_handler.tasks import NerTask
from model_handler.tasks.base import plain_labels
from transforms.prepare import PlanModelCallsFn
from common.records import Document

LABELS = ('person', 'organization', 'location')
FILLER = [
    'The committee reviewed the annual budget in great detail.',
    'Several members asked for more time to read the long report.',
    'It rained for most of the afternoon, and the streets were quiet.',
    'The new bridge will take three more years to finish.',
    'Prices for fresh vegetables rose again during the winter months.',
    'Most residents said they were satisfied with the bus service.',
    'The library extended its opening hours on weekends.',
    'A small group of volunteers cleaned the park on Saturday morning.',
]
# Run-on filler (no sentence end) lets a window boundary fall mid-sentence.
RUN_ON = ('and the council said that the plan would be discussed again '
          'at a later meeting').split()
PLANTED = {
    'start': ('Angela Merkel', 'person',
              'Angela Merkel opened the meeting with a short speech.'),
    'middle': ('Microsoft Corporation', 'organization',
               'Later, Microsoft Corporation announced a new office.'),
    'end': ('Lisbon', 'location',
            'The next conference will be held in Lisbon.'),
}
STRADDLER = ('Emmanuel Macron', 'person')


def filler_words(n):
  cycle = itertools.cycle(FILLER)
  out = []
  while len(out) < n:
    out.extend(next(cycle).split())
  return out[:n]


def build_document(boundary_word=None):
  """Start sentence, ~1,500 filler words, middle sentence, filler with a long
  run-on stretch where the straddling name sits, end sentence."""
  words = PLANTED['start'][2].split() + filler_words(1500)
  words += PLANTED['middle'][2].split() + filler_words(300)
  run_on_start = len(words)
  words += [w for _ in range(40) for w in RUN_ON]  # ~640 words, no full stop
  words += ['.'] + filler_words(800) + PLANTED['end'][2].split()
  if boundary_word is not None:
    assert run_on_start < boundary_word < len(words) - 900
    # "... and later president Emmanuel Macron said that the ...": the name's
    # words sit at boundary_word - 1 and boundary_word.
    words[boundary_word - 4:boundary_word + 4] = (
        ['and', 'later', 'president'] + STRADDLER[0].split() +
        ['said', 'that', 'the'])
  return ' '.join(words).replace(' .', '.')


def plan(text, model_dir):
  fn = PlanModelCallsFn(str(model_dir), [NerTask(labels=plain_labels(LABELS))],
                        overlap=None)
  fn.setup()
  return [call.window for call in fn.process(Document('k', 'long', text))]


def straddled_document(model_dir):
  """Place the two-word name so that one window ends between its words."""
  text = build_document()
  for _ in range(6):
    windows = plan(text, model_dir)
    ends = [w.char_start + len(w.text) for w in windows[:-1]]
    name_at = text.find(STRADDLER[0])
    if name_at >= 0 and any(name_at < e < name_at + len(STRADDLER[0])
                            for e in ends):
      return text, windows
    # Put the name across the first window end inside the run-on stretch.
    run_on_chars = text.find(' '.join(RUN_ON[:6]))
    end = next(e for e in ends if e > run_on_chars + 200)
    boundary_word = len(text[:end].split())
    text = build_document(boundary_word)
  raise AssertionError('could not place the name across a window boundary')


def test_long_document_entities_found_once_with_exact_offsets(
    default_model, tmp_path):
  text, windows = straddled_document(default_model)
  assert len(text.split()) >= 3000
  assert len(windows) >= 8
  write_parquet(tmp_path / 'in.parquet', {'id': ['long'], 'text': [text]})
  rc = run_cli(['--input', tmp_path / 'in.parquet', '--output',
                tmp_path / 'out', '--model', default_model, '--labels',
                ','.join(LABELS)])
  assert rc == 0

  docs = read_table(tmp_path / 'out', 'documents').to_pylist()
  assert len(docs) == 1 and docs[0]['n_windows'] == len(windows)
  entities = read_table(tmp_path / 'out', 'entities').to_pylist()
  for entity in entities:
    assert text[entity['start']:entity['end']] == entity['text']
  spans = [(e['start'], e['end']) for e in entities]
  assert len(spans) == len(set(spans)), 'overlap produced duplicates'

  expected = [(name, label) for name, label, _ in PLANTED.values()]
  expected.append(STRADDLER)
  for name, label in expected:
    start = text.find(name)
    assert text.find(name, start + 1) == -1
    hits = [e for e in entities if e['start'] < start + len(name)
            and e['end'] > start]
    assert len(hits) == 1, (name, hits)
    assert (hits[0]['start'], hits[0]['end'], hits[0]['label']) == (
        start, start + len(name), label), hits[0]
