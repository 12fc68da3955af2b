"""Pick the thresholds a checkpoint works best at, and write them beside it.

    python -m selflearning.calibrate --model out/models/gliner-multitask-minilm-l6-cpu \\
        --data_dir ../shared/data

The best score threshold depends on the checkpoint (one model answers
questions best at 0.2, another at 0.1), so a build measures it and writes
`<model>/task_defaults.json`, which the job takes where a task file sets no
threshold (`model_handler.task_defaults`; task file > model file >
built-in).

Calibration data neither trains nor measures the model:

* ner: the test splits of the NER training corpora (`selflearning.ner_corpora`;
  never CrossNER, which measures zero-shot NER), each sentence asked for its
  corpus's types;
* qa: the last paragraphs of every SQuAD training article
  (`multitask_data.calibration_articles`, left out of training);
* relations: the last `redocred.CALIBRATION_DOCS` Re-DocRED dev documents,
  asked for their most frequent trained relation types; the stage-1
  (`ner_threshold`) and stage-2 (`relation_threshold`) thresholds together;
* summary: the references (`multitask_data.summary_reference`) of the same
  SQuAD calibration paragraphs.

Every task runs through the job (`EnrichDocuments`, as
`selflearning.evaluate_tasks` does) once at the grid's lowest threshold
(relations: once per stage-1 threshold), and each grid value is scored from
the rows' scores -- keeping the rows at or above a threshold is what a run at
that threshold returns. The value with the best F1 (summary: ROUGE-1) wins,
ties to the lower threshold. Classification and open extraction keep their
built-in thresholds: there is no data for them that neither trains nor
measures.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import random
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from common.progress_line import progress
from selflearning import evaluate_tasks as ev
from selflearning import gold as goldlib
from selflearning import multitask_data as data
from selflearning import ner_corpora, redocred

GRID = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7)
NER_STAGE_GRID = (0.2, 0.3, 0.4, 0.5)
SEED = 11
TASKS = ('ner', 'qa', 'relations', 'summary')


def best(curve: Dict[float, float]) -> float:
  """The threshold with the highest value, ties to the lower one."""
  return min(curve, key=lambda t: (-curve[t], t))


def _f1(tp: int, fp: int, fn: int) -> float:
  return goldlib.prf(tp, fp, fn)['f1']


def calibrate_ner(args) -> Dict:
  """Micro F1 of exact (start, end, type) spans over the corpora's test
  sentences, each asked for its own corpus's types (a labels column)."""
  root = str(Path(args.data_dir) / 'ner')
  rows, gold, corpora = [], {}, []
  for corpus in ner_corpora.corpora(root):
    docs = ner_corpora.load(root, 'test', [corpus])
    if not docs:
      continue
    corpora.append(corpus)
    for n, doc in enumerate(goldlib.subsample(docs, args.ner_sentences)):
      text, offsets = goldlib.join_tokens(doc['tokens'])
      doc_id = f'{corpus}#{n}'
      rows.append((doc_id, text, {'labels': list(doc['types'])}))
      gold[doc_id] = {(offsets[s][0], offsets[e][1], lab)
                      for s, e, lab in doc['spans']}
  task = ev.default_task(args.model, 'ner', labels_column='labels',
                         threshold=min(GRID))
  out, dead = ev.run_task(rows, task, args.model, args.threads)
  curve = {}
  for t in GRID:
    score = goldlib.Score()
    for doc_id, want in gold.items():
      score.add(want, [(r['start'], r['end'], r['label'])
                       for r in out[doc_id] if r['score'] >= t])
    curve[t] = score.report()['micro']['f1']
  return {'values': {'threshold': best(curve)}, 'metric': 'micro F1',
          'curve': curve, 'sentences': len(rows), 'dead_letters': dead,
          'data': f'test splits of {", ".join(sorted(corpora))} '
                  f'(up to {args.ner_sentences} sentences each)'}


def calibration_paragraphs(args) -> List[Dict]:
  return data.calibration_articles(
      data.squad_articles(Path(args.data_dir) / 'squad'))


def calibrate_qa(args) -> Dict:
  """SQuAD 2.0 F1 over all questions (answerable and not) of the held-back
  paragraphs of the training articles."""
  rows, gold = ev.qa_rows(calibration_paragraphs(args), None,
                          random.Random(SEED))
  answers, dead = ev.run_qa(rows, args.model, min(GRID), args.threads)
  scores = {t: ev.qa_scores_at(answers, gold, t) for t in GRID}
  curve = {t: s['all_f1'] for t, s in scores.items()}
  return {'values': {'threshold': best(curve)},
          'metric': 'SQuAD 2.0 F1, all questions', 'curve': curve,
          'answerable_f1': {t: s['answerable_f1'] for t, s in scores.items()},
          'questions': len(gold), 'paragraphs': len(rows),
          'dead_letters': dead,
          'data': f'last {data.QA_CALIBRATION_PARAGRAPHS} paragraphs of each '
                  'SQuAD training article (not trained on)'}


def calibrate_relations(args) -> Dict:
  """Triple F1 on Re-DocRED's calibration documents; one job run per
  stage-1 threshold, the stage-2 threshold scored from the rows."""
  root = Path(args.data_dir) / 'redocred'
  sentences = redocred.split(root, 'calibration')
  ids = redocred.frequent_types(sentences, args.re_types)
  names = redocred.relation_names(root)
  rows, gold = ev.redocred_rows(
      redocred.evaluation_set(sentences, ids, args.re_sentences), ids)
  base = ev.default_task(args.model, 'relations',
                         relations=sorted({names[i] for i in ids}))
  curve = {}
  for ner_threshold in NER_STAGE_GRID:
    task = dataclasses.replace(base, ner_threshold=ner_threshold,
                               relation_threshold=min(GRID))
    out, _ = ev.run_task(rows, task, args.model, args.threads)
    for t in GRID:
      curve[(ner_threshold, t)] = _f1(*ev.triple_counts(gold, out, t))
  ner_threshold, relation_threshold = best(curve)
  return {'values': {'ner_threshold': ner_threshold,
                     'relation_threshold': relation_threshold},
          'metric': 'triple F1',
          'curve': {f'{a}/{b}': v for (a, b), v in curve.items()},
          'sentences': len(rows), 'relations': [names[i] for i in ids],
          'data': f'Re-DocRED dev, last {redocred.CALIBRATION_DOCS} documents '
                  '(not trained on)'}


def calibrate_summary(args) -> Dict:
  """ROUGE-1 F of the spans kept against the derived references of the
  calibration paragraphs."""
  rows, refs = [], {}
  for article in calibration_paragraphs(args):
    for index, para in enumerate(article['paragraphs']):
      ref = data.summary_reference(para)
      if ref:
        doc_id = f"{article['title']}#{index}"
        rows.append((doc_id, para['context'], {}))
        refs[doc_id] = ' '.join(para['context'][s:e] for s, e in ref)
  task = ev.default_task(args.model, 'summary', threshold=min(GRID))
  out, _ = ev.run_task(rows, task, args.model, args.threads)
  curve = {}
  for t in GRID:
    scores = [ev.rouge1(' '.join(r['text'] for r in out[i] if r['score'] >= t),
                        refs[i]) for i in refs]
    curve[t] = round(sum(scores) / max(1, len(scores)), 4)
  return {'values': {'threshold': best(curve)}, 'metric': 'ROUGE-1 F',
          'curve': curve, 'paragraphs': len(rows),
          'data': 'the same SQuAD calibration paragraphs, derived references'}


CALIBRATORS = {'ner': calibrate_ner, 'qa': calibrate_qa,
               'relations': calibrate_relations, 'summary': calibrate_summary}


def build_provenance(model_dir: Path) -> Optional[Dict]:
  """What the model's build.json says about the weights calibrated, with a
  caveat for a build that continued from another checkpoint: that one's
  own training data is not known to have left the calibration data out."""
  path = model_dir / 'build.json'
  if not path.is_file():
    return None
  record = json.loads(path.read_text())
  out = {k: record.get(k) for k in ('weights_sha256', 'init', 'command')}
  if record.get('init'):
    out['caveat'] = ('continued from another checkpoint (init), whose own '
                     'training may have included the calibration data')
  elif 'squad_calibration' not in record.get('held_out', {}):
    out['caveat'] = ('built before the calibration data was held out: its '
                     'training included the SQuAD calibration paragraphs')
  return out


def task_defaults_document(results: Dict[str, Dict], command: str,
                           seconds: float,
                           model_build: Optional[Dict] = None) -> Dict:
  """The task_defaults.json content: the chosen values, and how they were
  chosen (free-form provenance under `calibration`)."""
  return {
      'format': 1,
      'tasks': {name: r['values'] for name, r in results.items()},
      'calibration': {
          'command': command,
          'date': datetime.date.today().isoformat(),
          'seconds': round(seconds, 1),
          'grid': list(GRID), 'stage1_grid': list(NER_STAGE_GRID),
          'rule': 'best metric on data that neither trains nor measures; '
                  'ties to the lower threshold',
          'tasks': {name: {k: v for k, v in r.items() if k != 'values'}
                    for name, r in results.items()},
          'model_build': model_build,
      },
  }


def write(model_dir: Path, document: Dict) -> Path:
  """Write `<model_dir>/task_defaults.json` after the job's own reader
  accepted the content (a file the job would refuse is never written)."""
  from model_handler.task_defaults import FILE_NAME, parse_task_defaults
  text = json.dumps(document, indent=2, sort_keys=True,
                    default=str) + '\n'
  path = model_dir / FILE_NAME
  parse_task_defaults(text, str(path))
  path.write_text(text)
  return path


def arg_parser() -> argparse.ArgumentParser:
  ap = argparse.ArgumentParser(
      prog='python -m selflearning.calibrate',
      description='Calibrate a checkpoint\'s task thresholds and write '
      'task_defaults.json into its directory.',
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  ap.add_argument('--model', required=True, help='a local model directory')
  ap.add_argument('--data_dir', default='../shared/data',
                  help='the shared data folder (ner/, squad/, redocred/)')
  ap.add_argument('--tasks', nargs='+', default=list(TASKS), choices=TASKS)
  ap.add_argument('--ner_sentences', type=int, default=60,
                  help='test sentences per NER corpus')
  ap.add_argument('--re_sentences', type=int, default=60,
                  help='Re-DocRED calibration sentences')
  ap.add_argument('--re_types', type=int, default=12,
                  help='Re-DocRED relation types asked')
  ap.add_argument('--threads', type=int, default=None)
  ap.add_argument('--dry_run', action='store_true',
                  help='print the file instead of writing it')
  return ap


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = arg_parser().parse_args(argv)
  model_dir = Path(args.model)
  if not (model_dir / 'gliner_config.json').is_file():
    print(f'error: --model {args.model}: not a local GLiNER model directory',
          file=sys.stderr)
    return 2
  started = time.monotonic()
  results = {}
  for name in progress(args.tasks, 'calibrate', unit='task'):
    results[name] = CALIBRATORS[name](args)
    print(f"{name}: {results[name]['values']} "
          f"({results[name]['metric']})", flush=True)
  command = 'python -m selflearning.calibrate ' + ' '.join(
      sys.argv[1:] if argv is None else argv)
  document = task_defaults_document(results, command,
                                    time.monotonic() - started,
                                    build_provenance(model_dir))
  if args.dry_run:
    print(json.dumps(document, indent=2, default=str))
    return 0
  print(f'wrote {write(model_dir, document)}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
