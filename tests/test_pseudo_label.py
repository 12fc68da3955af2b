"""Pseudo-labelling: char spans -> gliner word indices, the filtering options,
and the Beam job's output accepted by gliner's own collator."""
import glob
import json

import pytest

from selflearning import gold
from selflearning import pseudo_label
from tests.conftest import write_parquet

TEXT = 'Dr. Ada Lovelace-Byron moved to New York in 1835.'


def words(text):
  return gold.gliner_words(text)


def test_char_spans_map_to_gliner_words_exactly():
  w = words(TEXT)
  ents = [(4, 22, 'person', 0.9),  # Ada Lovelace-Byron (hyphenated word)
          (32, 40, 'location', 0.8),  # New York
          (4, 7, 'person', 0.6),  # "Ada": overlaps a better span: dropped
          (23, 26, 'location', 0.7),  # "mov": not on a word boundary
          (44, 48, 'date', 0.2)]  # below min score
  counts = {}
  (ex,) = pseudo_label.document_examples(
      'd', TEXT, ents, w, {'person': 'human being'}, 0.5, 64, counts=counts)
  assert ex['tokenized_text'] == ['Dr', '.', 'Ada', 'Lovelace-Byron', 'moved', 'to',
                                  'New', 'York', 'in', '1835', '.']
  assert ex['ner'] == [[2, 3, 'human being'], [6, 7, 'location']]
  assert ex['ner_labels'] == ['human being']
  for s, e, _ in ex['ner']:  # indices point at exactly the labelled characters
    assert TEXT[w[s][1]:w[e][2]] in ('Ada Lovelace-Byron', 'New York')
  assert counts['spans_unaligned'] == 1
  assert counts['spans_below_min_score'] == 1
  assert counts['spans_overlapping_dropped'] == 1


def test_keep_empty_max_per_doc_and_chunking():
  w = words(TEXT)
  assert pseudo_label.document_examples('d', TEXT, [], w, {}, 0.5, 64)[0]['ner'] == []
  assert pseudo_label.document_examples('d', TEXT, [], w, {}, 0.5, 64,
                                        keep_empty=False) == []
  two = [(4, 22, 'p', 0.9), (32, 40, 'l', 0.9)]
  assert pseudo_label.document_examples('d', TEXT, two, w, {}, 0.5, 64,
                                        max_per_doc=1) == []
  counts = {}
  chunks = pseudo_label.document_examples('d', TEXT, two, w, {}, 0.5, 7,
                                          counts=counts)
  assert [c['id'] for c in chunks] == ['d#0', 'd#1']
  assert chunks[0]['ner'] == [[2, 3, 'p']]
  assert chunks[1]['ner'] == []  # New York spans words 6-7: cut by the edge
  assert counts['spans_cut_by_chunk'] == 1


def _check_examples(examples, texts, model_dir):
  from gliner import GLiNER
  for ex in examples:
    text = texts[ex['id'].split('#')[0]]
    w = words(text)
    assert ex['tokenized_text'] == [t for t, _, _ in w]
    for s, e, label in ex['ner']:
      assert 0 <= s <= e < len(w) and label in ex['ner_labels']
  model = GLiNER.from_pretrained(str(model_dir), local_files_only=True)
  batch = model._create_data_collator()(examples)
  # every pseudo-label became one positive target of gliner's own collator
  n_spans = sum(len(e['ner']) for e in examples)
  assert int((batch['labels'] > 0).sum()) == n_spans
  assert batch['labels'].shape[0] == len(examples)


def test_job_on_parquet_writes_examples_gliner_accepts(marker_model, tmp_path):
  texts = {'a': TEXT, 'b': 'Grace Hopper worked at Harvard and Yale.',
           'c': 'nothing'}
  inp = write_parquet(tmp_path / 'in' / 'docs.parquet',
                      {'id': list(texts), 'text': list(texts.values())})
  out = tmp_path / 'pl'
  stats = pseudo_label.run([
      '--input', str(inp), '--output', str(out), '--model', str(marker_model),
      '--labels', 'person,place', '--label_map', 'place=location',
      '--min_score', '0.3', '--keep_empty', 'true'])
  examples = [json.loads(line) for p in sorted(glob.glob(str(out / 'examples*.jsonl')))
              for line in open(p)]
  assert stats['documents'] == 3 and stats['examples_written'] == 3
  assert stats['spans_kept'] == sum(len(e['ner']) for e in examples) > 0
  assert all(e['ner_labels'] == ['person', 'location'] for e in examples)
  assert json.loads((out / 'stats.json').read_text())['examples_written'] == 3
  _check_examples(examples, texts, marker_model)
  # a second run into the same output needs --overwrite
  with pytest.raises(ValueError, match='overwrite'):
    pseudo_label.run(['--input', str(inp), '--output', str(out), '--model',
                      str(marker_model), '--labels', 'person'])


def test_job_on_conll_ignores_gold_tags(marker_model, tmp_path):
  conll = tmp_path / 'dev.txt'
  conll.write_text('Alice\tB-person\nmet\tO\nBob\tB-person\n\nU.S.\tB-country\nrules\tO\n')
  out = tmp_path / 'pl'
  rc = pseudo_label.main([
      '--input', str(conll), '--output', str(out), '--model', str(marker_model),
      '--labels', 'person,country', '--min_score', '0.99', '--keep_empty', 'false'])
  assert rc == 0
  stats = json.loads((out / 'stats.json').read_text())
  assert stats['documents'] == 2
  examples = [json.loads(line) for p in glob.glob(str(out / 'examples*.jsonl'))
              for line in open(p)]
  # a random tiny model never reaches 0.99: no entity, and empty ones dropped
  assert examples == [] and stats['examples_empty_dropped'] == 2


def test_bad_options(tmp_path, capsys):
  assert pseudo_label.main(['--input', 'x.parquet', '--output', str(tmp_path),
                            '--labels', 'a', '--min_score', '2']) == 2
  assert '--min_score' in capsys.readouterr().err
