"""Evaluation: CoNLL/BIO parsing edge cases, exact-match scoring by hand, and
the evaluation job run through the pipeline code."""
import json

import pytest

from selflearning import gold
from selflearning import evaluate


def sentences(text):
  return gold.read_conll_lines(text.splitlines(keepends=True), 'test.txt')


# --- CoNLL / BIO -----------------------------------------------------------


def test_conll_blank_lines_at_start_and_no_trailing_blank_line():
  text = '\n\n\nA\tB-x\nb\tO\n\n\n\nC\tO\nD\tB-y'  # last sentence unterminated
  assert sentences(text) == [(['A', 'b'], ['B-x', 'O']), (['C', 'D'], ['O', 'B-y'])]


def test_conll_o_only_sentence_docstart_and_crlf():
  text = '-DOCSTART-\tO\n\nThe\tO\r\nend\tO\r\n\r\nX\tS-loc\n'
  docs = [gold.sentence_doc(str(i), t, g) for i, (t, g) in enumerate(sentences(text))]
  assert [d.text for d in docs] == ['The end', 'X']
  assert docs[0].spans == () and docs[1].spans == ((0, 1, 'loc'),)


def test_conll_token_with_spaces_is_tab_separated():
  (tokens, tags), = sentences('New York\tB-loc\nrocks\tO\n')
  doc = gold.sentence_doc('d', tokens, tags)
  assert doc.text == 'New York rocks'
  assert doc.spans == ((0, 8, 'loc'),)


def test_conll_space_separated_fallback_and_bad_tags():
  assert sentences('EU NNP B-ORG\n') == [(['EU'], ['B-ORG'])]
  with pytest.raises(gold.GoldFormatError, match='test.txt:2: bad tag'):
    sentences('a\tO\nb\tX-foo\n')
  with pytest.raises(gold.GoldFormatError, match='test.txt:1'):
    sentences('lonely\n')


@pytest.mark.parametrize('tags, spans', [
    (['O', 'O'], []),
    (['I-x', 'I-x', 'O'], [(0, 1, 'x')]),  # I- without B-: begins a span
    (['B-x', 'B-x'], [(0, 0, 'x'), (1, 1, 'x')]),  # B- after B-: two spans
    (['B-x', 'I-y', 'I-y'], [(0, 0, 'x'), (1, 2, 'y')]),  # label change
    (['O', 'I-x'], [(1, 1, 'x')]),  # span running to the end
    (['B-x', 'I-x', 'O', 'I-x'], [(0, 1, 'x'), (3, 3, 'x')]),
    (['B-x', 'E-x', 'S-y', 'I-y'], [(0, 1, 'x'), (2, 2, 'y'), (3, 3, 'y')]),
])
def test_bio_to_spans(tags, spans):
  assert gold.bio_to_spans(tags) == spans


def test_text_reconstruction_offsets_are_exact():
  tokens = ['naive', 'Bayes', 'classifier', 's', ',', 'U.S.', 'DARPA']
  tags = ['B-algorithm', 'I-algorithm', 'I-algorithm', 'O', 'O', 'B-country',
          'B-organisation']
  doc = gold.sentence_doc('d', tokens, tags)
  assert doc.text == 'naive Bayes classifier s , U.S. DARPA'
  assert [(doc.text[s:e], label) for s, e, label in doc.spans] == [
      ('naive Bayes classifier', 'algorithm'), ('U.S.', 'country'),
      ('DARPA', 'organisation')]


def test_crossner_file_parses_with_exact_offsets(tmp_path):
  from tests.conftest import CROSSNER
  path = CROSSNER / 'ai' / 'dev.txt'
  if not path.exists():
    pytest.skip(f'{path} not present')
  docs = gold.conll_docs(str(path))
  assert len(docs) > 100
  for doc in docs:
    joined = doc.text.split(' ')
    assert joined == list(doc.tokens)
    for s, e, _ in doc.spans:
      assert doc.text[s:e] == doc.text[s:e].strip() and s < e


def test_jsonl_gold_is_validated(tmp_path):
  path = tmp_path / 'g.jsonl'
  path.write_text(json.dumps({'id': 'a', 'text': 'abc', 'entities': [
      {'start': 0, 'end': 9, 'label': 'x'}]}) + '\n')
  with pytest.raises(gold.GoldFormatError, match='outside the text'):
    gold.load_gold(str(path), 'jsonl')


# --- scoring ---------------------------------------------------------------


def test_exact_match_scoring_by_hand():
  docs = [
      gold.GoldDoc('1', 'Ada Lovelace met Babbage in London', (
          (0, 12, 'person'), (17, 24, 'person'), (28, 34, 'location'))),
      gold.GoldDoc('2', 'Paris', ((0, 5, 'location'),)),
  ]
  predictions = {
      '1': [(0, 12, 'person'),  # exact: TP
            (17, 27, 'person'),  # partial overlap: FP (and the gold is a FN)
            (28, 34, 'person')],  # right span, wrong label: FP + FN
      '2': [(0, 5, 'location')],  # TP
  }
  report = gold.score_documents(docs, predictions)
  person, location = report['per_label']['person'], report['per_label']['location']
  assert (person['tp'], person['fp'], person['fn']) == (1, 2, 1)
  assert person['precision'] == pytest.approx(1 / 3)
  assert person['recall'] == pytest.approx(1 / 2)
  assert person['f1'] == pytest.approx(0.4)
  assert (location['tp'], location['fp'], location['fn']) == (1, 0, 1)
  assert location['f1'] == pytest.approx(2 / 3)
  micro = report['micro']
  assert (micro['tp'], micro['fp'], micro['fn']) == (2, 2, 2)
  assert micro['f1'] == pytest.approx(0.5)
  assert report['macro_f1'] == pytest.approx((0.4 + 2 / 3) / 2)
  assert 'MICRO' in gold.format_table(report)


def test_labels_without_predictions_or_gold_score_zero():
  report = gold.score_documents([gold.GoldDoc('1', 'x', ())], {}, ['a'])
  assert report['per_label']['a']['f1'] == 0.0
  assert report['micro']['support'] == 0


def test_label_map_and_builtin_prompts():
  overrides = gold.parse_label_map('programlang="programming languages", misc=other thing')
  assert overrides == {'programlang': 'programming languages', 'misc': 'other thing'}
  pairs = gold.label_prompts(['programlang', 'misc', 'organisation', 'foo'], overrides)
  assert pairs == (('programlang', 'programming languages'), ('misc', 'other thing'),
                   ('organisation', 'organization'), ('foo', 'foo'))
  assert gold.label_prompts(['organisation'], builtin=False) == (
      ('organisation', 'organisation'),)
  with pytest.raises(ValueError):
    gold.parse_label_map('nonsense')


# --- through the job ---------------------------------------------------------


def test_evaluate_cli_report_matches_its_predictions(marker_model, tmp_path):
  conll = tmp_path / 'test.txt'
  conll.write_text('\n'.join([
      'Alice\tB-person', 'visited\tO', 'Berlin\tB-location', '.\tO', '',
      'Nothing\tO', 'here\tO', '', 'Bob\tI-person', 'Smith\tI-person']))
  report_path, pred_path = tmp_path / 'r.json', tmp_path / 'p.jsonl'
  rc = evaluate.main(['--gold', str(conll), '--format', 'conll', '--model',
                      str(marker_model), '--threshold', '0.5', '--label_map',
                      'location=place', '--report', str(report_path),
                      '--predictions', str(pred_path)])
  assert rc == 0
  report = json.loads(report_path.read_text())
  assert report['documents'] == 3 and report['gold_spans'] == 3
  assert report['settings']['labels'] == {'location': 'place', 'person': 'person'}
  rows = [json.loads(line) for line in pred_path.read_text().splitlines()]
  tp = sum(len({tuple(g) for g in r['gold']} & {tuple(p) for p in r['predicted']})
           for r in rows)
  predicted = sum(len(r['predicted']) for r in rows)
  assert report['micro']['tp'] == tp
  assert report['micro']['tp'] + report['micro']['fp'] == predicted
  assert report['micro']['tp'] + report['micro']['fn'] == 3
  for r in rows:  # predictions carry the label NAMES, in document offsets
    for s, e, label in r['predicted']:
      assert label in ('person', 'location') and 0 <= s < e <= len(r['text'])


def test_evaluate_default_model_prompts_with_descriptions(default_model, tmp_path):
  path = tmp_path / 'g.jsonl'
  text = 'Angela Merkel met Emmanuel Macron in Paris on Monday.'
  path.write_text(json.dumps({'id': 'a', 'text': text, 'entities': [
      {'start': 0, 'end': 13, 'label': 'per'},
      {'start': 18, 'end': 33, 'label': 'per'},
      {'start': 37, 'end': 42, 'label': 'loc'}]}) + '\n')
  docs = gold.load_gold(str(path))
  labels = gold.label_prompts(['loc', 'per'], {'loc': 'location', 'per': 'person'})
  report = evaluate.evaluate_docs(docs, str(default_model), labels, 0.5)
  assert report['micro']['f1'] == pytest.approx(1.0)
  # prompted with the bare names instead, the demo model finds less or nothing
  bare = evaluate.evaluate_docs(docs, str(default_model), gold.label_prompts(
      ['loc', 'per'], builtin=False), 0.5)
  assert bare['micro']['f1'] < 1.0


def test_evaluate_cli_bad_input(tmp_path, capsys):
  assert evaluate.main(['--gold', str(tmp_path / 'missing.txt')]) == 2
  assert 'no files match' in capsys.readouterr().err
