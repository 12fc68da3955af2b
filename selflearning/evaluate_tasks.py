"""Score every task of a model through the job, on data it was not trained on.

    python -m selflearning.evaluate_tasks --model models/gliner-multitask-minilm-l6 \\
        --crossner_dir ../shared/data/crossner --squad_dir ../shared/data/squad \\
        --fewrel_dir ../shared/data/fewrel --report quality.json

Gold comes from the held-out parts named in `selflearning.multitask_data`
(SQuAD articles, FewRel relation types and sentences) and from CrossNER,
which no build trains on. Documents go through the job's `EnrichDocuments`
(validation, windowing, RunInference, merging) with one task configured as a
user would, and the task's own table rows are scored:

* ner: exact span F1 per CrossNER domain (zero-shot; `selflearning.evaluate`);
* qa: SQuAD exact match and F1 (answerable, unanswerable, all) and the
  never-answer baseline, at several thresholds from one low-threshold run;
* relations: triple (head text, relation, tail text) P/R/F1 on held-out
  sentences of trained relation types (FewRel's held-out sentences and
  Re-DocRED's test split, each and pooled) and on never-trained types
  (FewRel's and Re-DocRED's held-out types, each and pooled);
* classification: accuracy on held-out FewRel types, held-out SQuAD topics
  and CrossNER domains;
* summary: ROUGE-1 F against the derived references (and a lead-sentence
  baseline);
* open_extraction: exact span F1 for "Find every <type> in the text." on
  CrossNER types.

Every task is also scored at the job's defaults (`at_defaults`): the
thresholds a task file that sets none gets -- the model's
task_defaults.json, else the built-in ones -- resolved by the job's own
task-file code (`default_task`). A threshold option given here overrides
them for that task.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import random
import re
import string
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from common.progress_line import progress
from selflearning import gold as goldlib
from selflearning import multitask_data as data
from selflearning import redocred

Row = Tuple[str, str, Dict]  # (doc id, text, extras)
SEED = 7


def run_task(rows: Sequence[Row], task, model: str,
             threads: Optional[int] = None
             ) -> Tuple[Dict[str, List[Dict]], int]:
  """The job over `rows` with one task -> ({doc id: the task's table rows}
  with every row id present, dead-lettered ones as [], the number of dead
  letters)."""
  from common.records import SourceRow
  from pipeline.config import in_process_config
  from selflearning.evaluate import enrich_in_process

  extra = {'torch_threads': threads} if threads else {}
  documents, dead = enrich_in_process(
      [SourceRow(i, i, text, dict(extras)) for i, text, extras in rows],
      lambda tmp: in_process_config((task, ), tmp, model=model,
                                    run_id='evaluate', overwrite=True,
                                    **extra))
  out = {i: [] for i, _, _ in rows}
  out.update((d['doc_id'], d['outputs'][task.name]) for d in documents)
  return out, len(dead)


def default_task(model: str, name: str, **settings):
  """Task `name` as the job builds it from a task-file section holding only
  `settings`: the thresholds it leaves out come from the model's
  task_defaults.json, else the task's built-in defaults."""
  from model_handler.task_defaults import read_task_defaults
  from pipeline.task_config import parse_tasks_with_defaults
  tasks, _ = parse_tasks_with_defaults({name: settings},
                                       read_task_defaults(model).tasks)
  return tasks[0]


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------
def squad_normalise(text: str) -> str:
  text = ''.join(c for c in text.lower() if c not in set(string.punctuation))
  text = re.sub(r'\b(a|an|the)\b', ' ', text)
  return ' '.join(text.split())


def squad_f1(prediction: str, truth: str) -> float:
  pred, gold = squad_normalise(prediction).split(), squad_normalise(truth).split()
  if not pred or not gold:
    return float(pred == gold)
  common = collections.Counter(pred) & collections.Counter(gold)
  same = sum(common.values())
  if not same:
    return 0.0
  p, r = same / len(pred), same / len(gold)
  return 2 * p * r / (p + r)


def squad_scores(prediction: str, answers: Sequence[str]) -> Tuple[float, float]:
  """(exact match, F1) against the best gold answer; no answers = the
  question is unanswerable and only '' is right."""
  truths = list(answers) or ['']
  em = max(float(squad_normalise(prediction) == squad_normalise(t))
           for t in truths)
  return em, max(squad_f1(prediction, t) for t in truths)


def rouge1(prediction: str, reference: str) -> float:
  pred = squad_normalise(prediction).split()
  ref = squad_normalise(reference).split()
  if not pred or not ref:
    return 0.0
  same = sum((collections.Counter(pred) & collections.Counter(ref)).values())
  if not same:
    return 0.0
  p, r = same / len(pred), same / len(ref)
  return 2 * p * r / (p + r)


def _mean(values) -> float:
  values = list(values)
  return round(sum(values) / len(values), 4) if values else 0.0


# ---------------------------------------------------------------------------
# Tasks
# ---------------------------------------------------------------------------
def qa_rows(articles, per_article: Optional[int], rng: random.Random
            ) -> Tuple[List[Row], Dict]:
  """One row per paragraph (its questions in the `questions` column; a
  seeded sample of `per_article` paragraphs per article, all when None) and
  {(doc id, question): gold answers, [] when unanswerable}."""
  rows, gold = [], {}
  for article in articles:
    paras = list(enumerate(article['paragraphs']))
    rng.shuffle(paras)
    for index, para in paras[:per_article]:
      doc_id = f"{article['title']}#{index}"
      questions = [q['question'].strip() for q in para['qas']]
      rows.append((doc_id, para['context'], {'questions': questions}))
      for q in para['qas']:
        gold[(doc_id, q['question'].strip())] = [
            a['text'] for a in q['answers']] if not q['is_impossible'] else []
  return rows, gold


def qa_scores_at(best: Dict, gold: Dict, threshold: float) -> Dict:
  """SQuAD EM/F1 (answerable, unanswerable, all) when only the best answers
  scoring at least `threshold` are given."""
  scores = collections.defaultdict(list)
  for key, answers in gold.items():
    text, score = best.get(key, ('', 0.0))
    prediction = text if score >= threshold else ''
    em, f1 = squad_scores(prediction, answers)
    part = 'answerable' if answers else 'unanswerable'
    for name in (part, 'all'):
      scores[f'{name}_em'].append(em)
      scores[f'{name}_f1'].append(f1)
  return {k: _mean(v) for k, v in sorted(scores.items())}


def run_qa(rows: Sequence[Row], model: str, threshold: float,
           threads: Optional[int]) -> Tuple[Dict, int]:
  """The job's QA over `rows` -> ({(doc id, question): (best answer,
  score)}, dead letters)."""
  task = default_task(model, 'qa', questions_column='questions',
                      threshold=threshold)
  out, dead = run_task(rows, task, model, threads)
  best = {}
  for doc_id, answers in out.items():
    for answer in answers:
      if answer['rank'] == 1:
        best[(doc_id, answer['question'])] = (answer['answer'],
                                              answer['score'])
  return best, dead


def eval_qa(args, thresholds=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)) -> Dict:
  articles = data.split_articles(data.squad_articles(args.squad_dir), True)
  rows, gold = qa_rows(articles, args.qa_paragraphs, random.Random(SEED))
  default = default_task(args.model, 'qa',
                         questions_column='questions').threshold
  best, dead = run_qa(rows, args.model, min(min(thresholds), default),
                      args.threads)
  report = {'questions': len(gold),
            'answerable': sum(1 for v in gold.values() if v),
            'paragraphs': len(rows), 'dead_letters': dead,
            'by_threshold': {str(t): qa_scores_at(best, gold, t)
                             for t in thresholds}}
  report['never_answer_f1'] = _mean(0.0 if v else 1.0 for v in gold.values())
  at = qa_scores_at(best, gold, default)
  report['at_defaults'] = {
      'threshold': default, **at,
      'beats_never_answer': at['all_f1'] > report['never_answer_f1']}
  return report


def relation_rows(items, limit_per_type: int) -> Tuple[List[Row], Dict]:
  by_type = collections.defaultdict(list)
  for sent in items:
    by_type[sent.relation_id].append(sent)
  rows, gold = [], {}
  for rid in sorted(by_type):
    for n, sent in enumerate(by_type[rid][:limit_per_type]):
      doc_id = f'{rid}#{n}'
      rows.append((doc_id, sent.text, {}))
      gold[doc_id] = sent
  return rows, gold


def triple_counts(gold: Dict[str, set], out: Dict[str, List[Dict]],
                  threshold: float) -> Tuple[int, int, int]:
  """(tp, fp, fn) of (head text, relation, tail text) triples: `gold` per
  row id against the relation rows scoring at least `threshold`."""
  tp = fp = fn = 0
  for doc_id, want in gold.items():
    got = {(r['head_text'], r['relation'], r['tail_text'])
           for r in out[doc_id] if r['score'] >= threshold}
    tp += len(want & got)
    fp += len(got - want)
    fn += len(want - got)
  return tp, fp, fn


def relation_part(rows: Sequence[Row], gold: Dict[str, set],
                  names: Sequence[str], args, thresholds) -> Dict:
  """The job's relation task over `rows` asking `names`, scored at every
  threshold and at the job's defaults; counts kept for pooling."""
  task = default_task(args.model, 'relations', relations=list(names))
  ner_threshold = (task.ner_threshold if args.re_ner_threshold is None
                   else args.re_ner_threshold)
  default = task.relation_threshold
  task = dataclasses.replace(task, ner_threshold=ner_threshold,
                             relation_threshold=min(min(thresholds), default))
  out, dead = run_task(rows, task, args.model, args.threads)
  part = {'sentences': len(rows), 'relations': list(names),
          'gold_triples': sum(len(v) for v in gold.values()),
          'ner_threshold': ner_threshold, 'dead_letters': dead,
          'by_threshold': {}}
  for threshold in thresholds:
    counts = triple_counts(gold, out, threshold)
    part['by_threshold'][str(threshold)] = {**goldlib.prf(*counts),
                                            'counts': list(counts)}
  counts = triple_counts(gold, out, default)
  part['at_defaults'] = {'relation_threshold': default,
                         **goldlib.prf(*counts), 'counts': list(counts)}
  return part


def pooled(parts: Sequence[Dict]) -> Dict:
  """Triple P/R/F1 over several parts (sums of their counts)."""
  out = {'parts': len(parts), 'by_threshold': {}}
  for threshold in parts[0]['by_threshold']:
    counts = [sum(p['by_threshold'][threshold]['counts'][i] for p in parts)
              for i in range(3)]
    out['by_threshold'][threshold] = goldlib.prf(*counts)
  counts = [sum(p['at_defaults']['counts'][i] for p in parts)
            for i in range(3)]
  out['at_defaults'] = goldlib.prf(*counts)
  return out


def redocred_rows(sentences: Sequence[redocred.Sentence],
                  relation_ids: Sequence[str]) -> Tuple[List[Row], Dict]:
  rows = [(s.doc_id, s.text, {}) for s in sentences]
  gold = {s.doc_id: redocred.gold_triples(s, relation_ids) for s in sentences}
  return rows, gold


def eval_relations(args, thresholds=(0.1, 0.2, 0.3, 0.4, 0.5)) -> Dict:
  """P/R/F1 of (head, relation, tail) triples; one run per part at the
  lowest relation threshold, scored at each threshold (and the job's
  default) from the rows' scores. Parts: FewRel's held-out sentences of
  trained types and its held-out types (every type of the part asked of
  every sentence); Re-DocRED test sentences with the `--redocred_types`
  most frequent trained types asked, and with its held-out types asked;
  pooled over both sources."""
  by_type = data.fewrel_sentences(args.fewrel_dir)
  parts = [('heldout_sentences', 'fewrel'), ('heldout_types', 'fewrel')]
  if args.redocred_dir and Path(args.redocred_dir).is_dir():
    parts += [('redocred_trained_types', 'redocred'),
              ('redocred_heldout_types', 'redocred')]
    test = redocred.split(args.redocred_dir, 'test')
    names = redocred.relation_names(args.redocred_dir)
  report = {}
  for part, source in progress(parts, 'relations', label=lambda p: p[0]):
    if source == 'fewrel':
      items = data.split_relations(by_type, part)
      rows, sents = relation_rows(items, args.re_per_type)
      gold = {k: {(s.head_text, s.relation, s.tail_text)}
              for k, s in sents.items()}
      relation_names = sorted({s.relation for s in sents.values()})
    else:
      ids = (redocred.frequent_types(test, args.redocred_types)
             if part == 'redocred_trained_types'
             else list(redocred.HELDOUT_TYPES))
      rows, gold = redocred_rows(
          redocred.evaluation_set(test, ids, args.redocred_sentences), ids)
      relation_names = sorted({names[i] for i in ids})
    report[part] = relation_part(rows, gold, relation_names, args,
                                 thresholds)
  for pool, members in (('trained_types_pooled', ('heldout_sentences',
                                                  'redocred_trained_types')),
                        ('heldout_types_pooled', ('heldout_types',
                                                  'redocred_heldout_types'))):
    report[pool] = pooled([report[m] for m in members if m in report])
  return report


def _accuracy(rows: Sequence[Row], truth: Dict[str, str], classes,
              args) -> Dict:
  task = default_task(args.model, 'classification', classes=list(classes))
  out, _ = run_task(rows, task, args.model, args.threads)
  right = sum(1 for doc_id, label in truth.items()
              if out[doc_id] and out[doc_id][0]['label'] == label)
  answered = sum(1 for doc_id in truth if out[doc_id])
  return {'accuracy': round(right / len(truth), 4), 'documents': len(truth),
          'answered': answered, 'classes': list(classes),
          'chance': round(1 / len(classes), 4),
          'threshold': task.threshold}


def eval_classification(args) -> Dict:
  report = {}
  items = data.split_relations(data.fewrel_sentences(args.fewrel_dir),
                               'heldout_types')
  rows, gold = relation_rows(items, args.re_per_type)
  report['fewrel_heldout_types'] = _accuracy(
      rows, {k: s.relation for k, s in gold.items()},
      sorted({s.relation for s in gold.values()}), args)
  rng = random.Random(SEED)
  rows, truth = [], {}
  for article in data.split_articles(data.squad_articles(args.squad_dir), True):
    paras = list(enumerate(article['paragraphs']))
    rng.shuffle(paras)
    for index, para in paras[:args.qa_paragraphs]:
      doc_id = f"{article['title']}#{index}"
      rows.append((doc_id, para['context'], {}))
      truth[doc_id] = data.SQUAD_TOPICS[article['title']]
  report['squad_heldout_topics'] = _accuracy(
      rows, truth, sorted(set(data.SQUAD_TOPICS.values())), args)
  if args.crossner_dir:
    names = {'ai': 'artificial intelligence', 'literature': 'literature',
             'science': 'science'}
    rows, truth = [], {}
    for domain, name in names.items():
      docs = goldlib.conll_docs(str(Path(args.crossner_dir) / domain /
                                    'test.txt'))[:args.ner_sentences // 2]
      for doc in docs:
        rows.append((f'{domain}/{doc.id}', doc.text, {}))
        truth[f'{domain}/{doc.id}'] = name
    report['crossner_domains'] = _accuracy(rows, truth, list(names.values()),
                                           args)
  return report


def eval_summary(args) -> Dict:
  rows, refs, leads = [], {}, {}
  for article in data.split_articles(data.squad_articles(args.squad_dir), True):
    for index, para in enumerate(article['paragraphs']):
      ref = data.summary_reference(para)
      if not ref:
        continue
      doc_id = f"{article['title']}#{index}"
      text = para['context']
      rows.append((doc_id, text, {}))
      refs[doc_id] = ' '.join(text[s:e] for s, e in ref)
      first = data.sentences(text)[0]
      leads[doc_id] = text[first[0]:first[1]]
  rows = rows[:args.summary_paragraphs]
  task = default_task(args.model, 'summary')
  out, _ = run_task(rows, task, args.model, args.threads)
  scores = [rouge1(' '.join(r['text'] for r in out[i]), refs[i])
            for i, _, _ in rows]
  return {'rouge1_f': _mean(scores),
          'lead_sentence_rouge1_f': _mean(rouge1(leads[i], refs[i])
                                          for i, _, _ in rows),
          'paragraphs': len(rows),
          'empty_summaries': sum(1 for i, _, _ in rows if not out[i]),
          'threshold': task.threshold,
          'reference': 'sentence(s) holding the most answers to the '
                       "paragraph's SQuAD questions (derived)"}


def crossner_docs(args, domain):
  docs = goldlib.conll_docs(str(Path(args.crossner_dir) / domain / 'test.txt'))
  return goldlib.subsample(docs, args.ner_sentences)


def eval_ner(args) -> Dict:
  from selflearning.evaluate import evaluate_docs
  threshold = (default_task(args.model, 'ner', labels=['x']).threshold
               if args.ner_threshold is None else args.ner_threshold)
  report = {'threshold': threshold}
  for domain in progress(('ai', 'literature', 'science'), 'ner'):
    docs = crossner_docs(args, domain)
    labels = tuple((name, goldlib.CROSSNER_PROMPTS.get(name, name))
                   for name in goldlib.gold_labels(docs))
    result = evaluate_docs(docs, args.model, labels, threshold=threshold,
                           torch_threads=args.threads)
    report[domain] = {**result['micro'], 'sentences': len(docs),
                      'macro_f1': result['macro_f1'],
                      'dead_letters': len(result['dead_letters'])}
  report['mean_f1'] = _mean(report[d]['f1']
                            for d in ('ai', 'literature', 'science'))
  return report


def eval_open_extraction(args, types_per_domain: int = 2) -> Dict:
  report = {}
  for domain in ('ai', 'literature', 'science'):
    docs = crossner_docs(args, domain)
    counts = collections.Counter(s[2] for d in docs for s in d.spans)
    for name, _ in counts.most_common(types_per_domain):
      prompt = goldlib.CROSSNER_PROMPTS.get(name, name)
      task = default_task(args.model, 'open_extraction',
                          prompt=data.OPEN_TEMPLATES[0].format(prompt))
      out, _ = run_task([(d.id, d.text, {}) for d in docs], task, args.model,
                        args.threads)
      tp = fp = fn = 0
      for doc in docs:
        want = {(s, e) for s, e, lab in doc.spans if lab == name}
        got = {(r['start'], r['end']) for r in out[doc.id]}
        tp += len(want & got)
        fp += len(got - want)
        fn += len(want - got)
      report[f'{domain}/{prompt}'] = goldlib.prf(tp, fp, fn)
  report['micro_f1_mean'] = _mean(v['f1'] for v in report.values())
  return report


EVALUATORS = {'ner': eval_ner, 'qa': eval_qa, 'relations': eval_relations,
              'classification': eval_classification, 'summary': eval_summary,
              'open_extraction': eval_open_extraction}


def arg_parser() -> argparse.ArgumentParser:
  ap = argparse.ArgumentParser(
      prog='python -m selflearning.evaluate_tasks',
      description='Score every task through the job on held-out data.',
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  ap.add_argument('--model', required=True)
  ap.add_argument('--crossner_dir', default='../shared/data/crossner')
  ap.add_argument('--squad_dir', default='../shared/data/squad')
  ap.add_argument('--fewrel_dir', default='../shared/data/fewrel')
  ap.add_argument('--tasks', nargs='+', default=list(EVALUATORS),
                  choices=list(EVALUATORS))
  ap.add_argument('--ner_sentences', type=int, default=200,
                  help='CrossNER test sentences per domain')
  ap.add_argument('--ner_threshold', type=float, default=None,
                  help='CrossNER threshold (default: the job\'s: the '
                  'model\'s task_defaults.json, else built-in)')
  ap.add_argument('--qa_paragraphs', type=int, default=40,
                  help='held-out SQuAD paragraphs per article')
  ap.add_argument('--re_per_type', type=int, default=25,
                  help='held-out FewRel sentences per relation type')
  ap.add_argument('--re_ner_threshold', type=float, default=None,
                  help="relations' stage-1 (head entity) threshold (default: "
                  "the job's)")
  ap.add_argument('--redocred_dir', default='../shared/data/redocred',
                  help='Re-DocRED (its test split); skipped when absent')
  ap.add_argument('--redocred_sentences', type=int, default=100,
                  help='Re-DocRED test sentences per part')
  ap.add_argument('--redocred_types', type=int, default=12,
                  help='trained Re-DocRED relation types asked (the most '
                  'frequent in the test split)')
  ap.add_argument('--summary_paragraphs', type=int, default=60)
  ap.add_argument('--threads', type=int, default=None)
  ap.add_argument('--report', default=None, help='write the JSON here')
  return ap


def main(argv=None) -> int:
  args = arg_parser().parse_args(argv)
  report = {'model': args.model, 'tasks': {}}
  for name in progress(args.tasks, 'evaluate_tasks', unit='task'):
    started = time.monotonic()
    report['tasks'][name] = EVALUATORS[name](args)
    report['tasks'][name]['seconds'] = round(time.monotonic() - started, 1)
    print(name, json.dumps(report['tasks'][name], indent=1), flush=True)
  if args.report:
    Path(args.report).write_text(json.dumps(report, indent=2) + '\n')
    from selflearning import quality_chart  # matplotlib: the report extra
    print(f'chart: {quality_chart.draw_file(Path(args.report))}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
