"""The model card's quality tables, printed from an `evaluate_tasks` report.

    python -m selflearning.quality_tables docs/model_quality.json \\
        [--compare out/previous.json]

The card's numbers must come from one run, not from someone copying them:
this prints every table of docs/MODEL_CARD.md's "Quality per task" as
Markdown straight from the report JSON (the chart is drawn from the same
file by `selflearning.quality_chart`). `--compare` adds a "before" column
from another report of the same code (another model), each scored at its
own job defaults. A task this module does not know is named at the end, not
dropped silently; a row the other report lacks shows a dash.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

Report = Dict[str, Any]
DASH = '–'
NER_DOMAINS = ('ai', 'literature', 'science')
RELATION_SETS = (
    ('heldout_sentences', 'FewRel held-out sentences, trained types'),
    ('redocred_trained_types', 'Re-DocRED test, trained types'),
    ('trained_types_pooled', 'trained types, pooled'),
    ('heldout_types', 'FewRel never-trained types'),
    ('redocred_heldout_types', 'Re-DocRED never-trained types'),
    ('heldout_types_pooled', 'never-trained types, pooled'),
)
CLASSIFICATION_SETS = (
    ('crossner_domains', 'CrossNER sentences → domain (zero-shot)'),
    ('squad_heldout_topics', 'held-out SQuAD articles → topic'),
    ('fewrel_heldout_types', 'FewRel held-out types → relation (zero-shot)'),
)


def num(value: Optional[float]) -> str:
  """A score as the card prints it: three decimals; a dash when absent."""
  return DASH if value is None else f'{value:.3f}'


def bold(text: str) -> str:
  return text if text == DASH else f'**{text}**'


def dig(report: Optional[Report], *keys: str) -> Any:
  """report[k1][k2]... or None where any level is missing."""
  node: Any = report
  for key in keys:
    if not isinstance(node, dict) or key not in node:
      return None
    node = node[key]
  return node


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  lines = ['| ' + ' | '.join(header) + ' |',
           '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
  return '\n'.join(lines)


def with_before(header: List[str], rows: List[List[str]],
                before: Optional[Sequence[str]], name: str) -> str:
  """The table, with a last column `name` when there is a report to compare."""
  if before is None:
    return markdown(header, rows)
  return markdown(header + [name],
                  [row + [b] for row, b in zip(rows, before)])


def threshold_keys(by_threshold: Dict[str, Any]) -> List[str]:
  return sorted(by_threshold, key=float)


def ner_table(task: Report, old: Optional[Report]) -> str:
  note = f"threshold {task['threshold']} (the job's default)"
  if old is not None and old.get('threshold') != task['threshold']:
    note += f"; before: {old.get('threshold')}"
  rows, before = [], []
  for domain in NER_DOMAINS:
    d = task[domain]
    rows.append([domain, num(d['precision']), num(d['recall']),
                 bold(num(d['f1'])), num(d['macro_f1']), str(d['support'])])
    before.append(num(dig(old, domain, 'f1')))
  rows.append(['mean', '', '', bold(num(task['mean_f1'])), '', ''])
  before.append(num(dig(old, 'mean_f1')))
  sentences = task[NER_DOMAINS[0]]['sentences']
  return (f'### NER, zero-shot (CrossNER test, first {sentences} sentences '
          f"per domain, all the domain's types, {note})\n\n"
          + with_before(['domain', 'P', 'R', 'F1', 'macro F1', 'gold spans'],
                        rows, before if old is not None else None,
                        'F1 before'))


def qa_table(task: Report, old: Optional[Report]) -> str:
  default = task['at_defaults']
  grid = dict(task['by_threshold'])
  key = next((k for k in grid if float(k) == default['threshold']), None)
  if key is None:
    key = str(default['threshold'])
    grid[key] = default
  old_default = dig(old, 'at_defaults', 'threshold')
  rows, before = [], []
  for t in threshold_keys(grid):
    s = grid[t]
    is_default = t == key
    f1 = num(s['answerable_f1'])
    rows.append([t + (" (job default)" if is_default else ''),
                 num(s['all_em']), num(s['all_f1']),
                 num(s['answerable_em']),
                 bold(f1) if is_default else f1,
                 num(s['unanswerable_em'])])
    if is_default and old_default is not None:
      before.append(f"{num(dig(old, 'at_defaults', 'answerable_f1'))} "
                    f'(at its default {old_default})')
    else:
      before.append(num(dig(old, 'by_threshold', t, 'answerable_f1')))
  rows.append(['never answer', '', num(task['never_answer_f1']), '', '0',
               '1.000'])
  before.append('0')
  title = (f"### Extractive QA (SQuAD 2.0 metric; {task['paragraphs']} "
           f"held-out paragraphs, {task['questions']} questions, "
           f"{task['questions'] - task['answerable']} unanswerable)")
  verdict = ('beats' if default['beats_never_answer']
             else 'does not beat')
  return (title + '\n\n'
          + with_before(['threshold', 'EM (all)', 'F1 (all)',
                         'EM (answerable)', 'F1 (answerable)',
                         'no-answer accuracy'],
                        rows, before if old is not None else None,
                        'F1 (answerable) before')
          + f"\n\nAt the job's default ({default['threshold']}) all-question "
          f"F1 {num(default['all_f1'])} {verdict} never answering "
          f"({num(task['never_answer_f1'])}).")


def relation_size(part: Report) -> str:
  if 'sentences' in part:
    return (f"{part['sentences']} sentences, {len(part['relations'])} types, "
            f"{part['gold_triples']} gold triples")
  return f"{part['at_defaults']['support']} gold triples"


def relations_table(task: Report, old: Optional[Report]) -> str:
  sets = [(key, name) for key, name in RELATION_SETS if key in task]
  grid = threshold_keys(task[sets[0][0]]['by_threshold'])
  stage1 = {task[k]['ner_threshold'] for k, _ in sets
            if 'ner_threshold' in task[k]}
  relation_default = {task[k]['at_defaults']['relation_threshold']
                      for k, _ in sets
                      if 'relation_threshold' in task[k]['at_defaults']}
  by_threshold = markdown(
      ['set', 'size'] + [f'F1 at {t}' for t in grid],
      [[name, relation_size(task[key])]
       + [num(task[key]['by_threshold'][t]['f1']) for t in grid]
       for key, name in sets])
  rows, before = [], []
  for key, name in sets:
    d = task[key]['at_defaults']
    rows.append([name, num(d['precision']), num(d['recall']),
                 bold(num(d['f1'])), f"{d['tp']} / {d['fp']} / {d['fn']}"])
    before.append(num(dig(old, key, 'at_defaults', 'f1')))
  old_sets = [k for k, _ in sets if dig(old, k) is not None]
  old_note = ''
  if old_sets:
    old_stage2 = dig(old, old_sets[0], 'at_defaults', 'relation_threshold')
    old_stage1 = dig(old, old_sets[0], 'ner_threshold')
    old_note = (f'; before: stage 1 {old_stage1}, relation threshold '
                f'{old_stage2}')
  return ('### Relation extraction (triple = exact head text, relation, '
          f"exact tail text; stage 1 `named entity` at {fmt_set(stage1)})"
          '\n\nF1 by relation threshold:\n\n' + by_threshold
          + "\n\nAt the job's defaults (relation threshold "
          f'{fmt_set(relation_default)}{old_note}):\n\n'
          + with_before(['set', 'P', 'R', 'F1', 'tp / fp / fn'], rows,
                        before if old is not None else None, 'F1 before'))


def fmt_set(values: set) -> str:
  return ', '.join(str(v) for v in sorted(values)) or DASH


def classification_table(task: Report, old: Optional[Report]) -> str:
  rows, before, thresholds = [], [], set()
  for key, name in CLASSIFICATION_SETS:
    if key not in task:
      continue
    d = task[key]
    thresholds.add(d['threshold'])
    rows.append([name, str(len(d['classes'])), str(d['documents']),
                 bold(num(d['accuracy'])), num(d['chance'])])
    before.append(num(dig(old, key, 'accuracy')))
  return (f'### Classification (accuracy, top-1; threshold '
          f'{fmt_set(thresholds)})\n\n'
          + with_before(['set', 'classes', 'documents', 'accuracy', 'chance'],
                        rows, before if old is not None else None,
                        'accuracy before'))


def summary_table(task: Report, old: Optional[Report]) -> str:
  rows = [[f"model (threshold {task['threshold']})",
           bold(num(task['rouge1_f']))],
          ['first sentence of the paragraph',
           num(task['lead_sentence_rouge1_f'])]]
  before = [num(dig(old, 'rouge1_f')), num(dig(old, 'lead_sentence_rouge1_f'))]
  if old is not None and old.get('threshold') != task['threshold']:
    before[0] += f" (threshold {old.get('threshold')})"
  return (f"### Extractive summary (ROUGE-1 F against the derived reference; "
          f"{task['paragraphs']} held-out paragraphs; empty summaries: "
          f"{task['empty_summaries']})\n\n"
          + with_before(['system', 'ROUGE-1 F'], rows,
                        before if old is not None else None,
                        'ROUGE-1 F before'))


def open_extraction_table(task: Report, old: Optional[Report]) -> str:
  names = [k for k, v in task.items() if isinstance(v, dict) and 'f1' in v]
  rows, before = [], []
  for name in names:
    d = task[name]
    rows.append([name, num(d['precision']), num(d['recall']),
                 bold(num(d['f1'])), str(d['support'])])
    before.append(num(dig(old, name, 'f1')))
  rows.append(['mean', '', '', bold(num(task['micro_f1_mean'])), ''])
  before.append(num(dig(old, 'micro_f1_mean')))
  domains = {name.split('/')[0] for name in names}
  per_domain = f'{len(names) / max(len(domains), 1):g}'
  return ('### Open extraction ("Find every {type} in the text.", label '
          f'`match`, CrossNER test, the {per_domain} most frequent types per '
          'domain)\n\n'
          + with_before(['domain / type', 'P', 'R', 'F1', 'gold spans'],
                        rows, before if old is not None else None,
                        'F1 before'))


TABLES: Dict[str, Callable[[Report, Optional[Report]], str]] = {
    'ner': ner_table, 'qa': qa_table, 'relations': relations_table,
    'classification': classification_table, 'summary': summary_table,
    'open_extraction': open_extraction_table}


def tables(report: Report, before: Optional[Report] = None) -> str:
  """Every table of the report's tasks, in the card's order."""
  tasks = report['tasks']
  old_tasks = (before or {}).get('tasks', {})
  parts = [TABLES[name](tasks[name],
                        old_tasks.get(name, {}) if before else None)
           for name in TABLES if name in tasks]
  unknown = sorted(set(tasks) - set(TABLES))
  if unknown:
    parts.append('Tasks without a table here: ' + ', '.join(unknown))
  return '\n\n'.join(parts) + '\n'


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m selflearning.quality_tables',
      description="Print the model card's Markdown quality tables from an "
      'evaluate_tasks report.')
  parser.add_argument('report', type=Path,
                      help='evaluate_tasks --report JSON')
  parser.add_argument('--compare', type=Path, default=None,
                      help='another report: adds a "before" column')
  args = parser.parse_args(argv)
  try:
    report = json.loads(args.report.read_text(encoding='utf-8'))
    before = (json.loads(args.compare.read_text(encoding='utf-8'))
              if args.compare else None)
    text = tables(report, before)
  except (OSError, ValueError, KeyError, TypeError) as exc:
    print(f'error: cannot build tables: {type(exc).__name__}: {exc}',
          file=sys.stderr)
    return 2
  if before is not None:
    text = (f"Before: {before.get('model', args.compare)} "
            f'({args.compare}).\n\n' + text)
  print(text, end='')
  return 0


if __name__ == '__main__':
  sys.exit(main())
