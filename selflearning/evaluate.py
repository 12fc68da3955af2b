"""Evaluate a GLiNER checkpoint on gold NER data, through the job's own code.

    python -m selflearning.evaluate \\
        --gold ../shared/data/crossner/ai/test.txt --format conll \\
        --model models/gliner-multitask-minilm-l6 --report ai.json

Gold documents (CoNLL/BIO sentences, or JSONL/Parquet records with character
spans) are fed to the same `EnrichDocuments` transform the batch and streaming
jobs use (validation, windowing, RunInference with the job's model handler,
window merging), and the merged entities are scored by exact span match
(start, end, label). Label names are prompted with natural-language
descriptions (built-in ones for CrossNER, overridable with --label_map) and
reported under their names. The report is written as JSON and printed as a
table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

from common.text import label_list
from selflearning import gold as goldlib

Label = Tuple[str, str]


def ner_job_config(model: str, labels: Sequence[Label], threshold: float,
                   output: str, flat_ner: bool = True,
                   run_id: str = 'evaluate', **option_values):
  """The job's configuration (its option defaults and checks, see
  `pipeline.config.in_process_config`) with one NER task, labels as (name,
  prompt) pairs; `option_values` by job option name (e.g. max_batch_tokens),
  None meaning the job's default."""
  from model_handler.tasks import NerTask
  from pipeline.config import in_process_config
  if not labels:
    raise ValueError('no labels to evaluate')
  if not 0.0 <= threshold <= 1.0:
    raise ValueError(f'threshold must be in [0, 1], got {threshold}')
  task = NerTask(labels=tuple(labels), threshold=float(threshold),
                 flat_ner=flat_ner)
  given = {k: v for k, v in option_values.items() if v is not None}
  return in_process_config((task, ), output, model=model, run_id=run_id,
                           overwrite=True, **given)


def beam_options(extra: Sequence[str] = ()):
  from apache_beam.options.pipeline_options import PipelineOptions
  argv = list(extra)
  if not any(a.startswith('--runner') for a in argv):
    argv.append('--runner=FnApiRunner')  # never the Prism-downloading default
  return PipelineOptions(argv)


def _document_json(doc, tasks) -> str:
  """A merged document with each task's output as that task's table rows."""
  return json.dumps({
      'record_key': doc.record_key,
      'doc_id': doc.doc_id,
      'n_windows': doc.n_windows,
      'outputs': {task.name: list(task.rows(doc.outputs.get(task.name, ())))
                  for task in tasks},
  })


def _dead_json(letter) -> str:
  return json.dumps({'record_key': letter.record_key, 'doc_id': letter.doc_id,
                     'stage': letter.stage, 'reason': letter.reason})


def _read_lines(pattern: str) -> List[dict]:
  import glob
  out = []
  for path in sorted(glob.glob(pattern)):
    with open(path, encoding='utf-8') as handle:
      out.extend(json.loads(line) for line in handle if line.strip())
  return out


def enrich_in_process(rows, build_config, beam_args: Sequence[str] = ()
                      ) -> Tuple[List[dict], List[dict]]:
  """Run the job's `EnrichDocuments` over `rows` (SourceRows) in process.

  `build_config(output_dir)` makes the JobConfig (nothing is written there
  but this function's own JSON). -> (documents: {record_key, doc_id,
  n_windows, outputs: {task name: table rows}}, dead letter dicts).
  """
  import apache_beam as beam
  from pipeline.build import EnrichDocuments

  with tempfile.TemporaryDirectory(prefix='gliner-eval-') as tmp:
    config = build_config(tmp)
    with beam.Pipeline(options=beam_options(beam_args)) as pipeline:
      enriched = (pipeline
                  | 'GoldDocuments' >> beam.Create(list(rows), reshuffle=False)
                  | 'Enrich' >> EnrichDocuments(config))
      _ = (enriched['documents']
           | 'DocJson' >> beam.Map(_document_json, config.tasks)
           | 'WriteDocs' >> beam.io.WriteToText(
               os.path.join(tmp, 'documents'), file_name_suffix='.jsonl'))
      _ = (enriched['dead_letter']
           | 'DeadJson' >> beam.Map(_dead_json)
           | 'WriteDead' >> beam.io.WriteToText(
               os.path.join(tmp, 'dead'), file_name_suffix='.jsonl'))
    return (_read_lines(os.path.join(tmp, 'documents*.jsonl')),
            _read_lines(os.path.join(tmp, 'dead*.jsonl')))


def predict(docs: Sequence[Tuple[str, str]], model: str,
            labels: Sequence[Label], threshold: float = 0.5,
            flat_ner: bool = True, beam_args: Sequence[str] = (),
            max_batch_tokens: Optional[int] = None,
            torch_threads: Optional[int] = None,
            device: Optional[str] = None,
            quantize: Optional[str] = None):
  """Run the job's `EnrichDocuments` over (id, text) pairs in process.

  -> ({doc id: [(start, end, label, text, score)]}, [dead letter dicts],
  {doc id: n_windows}). Ids must be unique. Unset (None) settings are the
  job's defaults.
  """
  from common.records import SourceRow

  documents, dead = enrich_in_process(
      [SourceRow(doc_id, doc_id, text) for doc_id, text in docs],
      lambda tmp: ner_job_config(model, labels, threshold, tmp, flat_ner,
                                 max_batch_tokens=max_batch_tokens,
                                 torch_threads=torch_threads, device=device,
                                 quantize=quantize),
      beam_args)
  predictions = {
      d['doc_id']: [(e['start'], e['end'], e['label'], e['text'], e['score'])
                    for e in d['outputs']['ner']] for d in documents}
  windows = {d['doc_id']: d['n_windows'] for d in documents}
  return predictions, dead, windows


def evaluate_docs(docs: Sequence[goldlib.GoldDoc], model: str,
                  labels: Sequence[Label], threshold: float = 0.5,
                  flat_ner: bool = True, beam_args: Sequence[str] = (),
                  torch_threads: Optional[int] = None,
                  max_batch_tokens: Optional[int] = None,
                  predictions_out: Optional[Dict] = None,
                  quantize: Optional[str] = None) -> Dict:
  """Score `model` on gold docs; gold spans of labels not asked for are
  ignored (and counted). `predictions_out`, if given, receives
  {doc id: sorted predicted spans}."""
  names = [name for name, _ in labels]
  wanted = set(names)
  ignored = sum(1 for d in docs for s in d.spans if s[2] not in wanted)
  scored = [goldlib.GoldDoc(d.id, d.text,
                            tuple(s for s in d.spans if s[2] in wanted))
            for d in docs]
  # whitespace-only texts are valid gold (no entities) but the job dead-letters
  # them: nothing to predict, so leave them out of the job, not the score
  to_run = [(d.id, d.text) for d in scored if d.text.strip()]
  started = time.monotonic()
  predictions, dead, windows = predict(
      to_run, model, labels, threshold, flat_ner, beam_args,
      max_batch_tokens, torch_threads, quantize=quantize)
  seconds = time.monotonic() - started
  spans: Dict[str, Set[goldlib.Span]] = {
      doc_id: {(e[0], e[1], e[2]) for e in ents}
      for doc_id, ents in predictions.items()
  }
  report = goldlib.score_documents(scored, spans, names)
  if predictions_out is not None:
    predictions_out.update({k: sorted(v) for k, v in spans.items()})
  report.update({
      'documents': len(docs),
      'gold_spans': sum(len(d.spans) for d in scored),
      'gold_spans_ignored': ignored,
      'predicted_spans': sum(len(v) for v in spans.values()),
      'dead_letters': dead,
      'multi_window_documents': sum(1 for n in windows.values() if n > 1),
      'seconds': round(seconds, 2),
  })
  return report


def resolve_labels(docs: Sequence[goldlib.GoldDoc], raw_labels: Optional[str],
                   raw_map: Optional[str], builtin: bool = True) -> Tuple[Label, ...]:
  names = label_list(raw_labels) if raw_labels else goldlib.gold_labels(docs)
  return goldlib.label_prompts(names, goldlib.parse_label_map(raw_map), builtin)


def arg_parser() -> argparse.ArgumentParser:
  from pipeline.config import default_options
  job = default_options()  # the job's defaults: one definition
  parser = argparse.ArgumentParser(
      prog='python -m selflearning.evaluate',
      description='Exact-match precision/recall/F1 of a GLiNER checkpoint on '
      'gold NER data, run through the job\'s own pipeline code.',
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument('--gold', required=True,
                      help='gold file or glob pattern (CoNLL/BIO, JSONL or Parquet)')
  parser.add_argument('--format', choices=('auto', 'conll', 'jsonl', 'parquet'),
                      default='auto', help='auto: by file extension '
                      '(.parquet, .jsonl/.json, else CoNLL)')
  parser.add_argument('--model', default=job.model,
                      help='local checkpoint directory or hub id')
  parser.add_argument('--labels', default=None,
                      help='comma-separated label names to evaluate (default: '
                      'every label in the gold data); gold spans of other '
                      'labels are ignored')
  parser.add_argument('--label_map', default=None,
                      help='name="prompt" pairs, comma-separated, e.g. '
                      'programlang="programming language"; overrides the '
                      'built-in CrossNER prompts')
  parser.add_argument('--no_builtin_prompts', action='store_true',
                      help='prompt with the label names unless --label_map '
                      'gives a prompt')
  parser.add_argument('--threshold', type=float, default=0.5)
  parser.add_argument('--nested_ner', action='store_true')
  parser.add_argument('--limit', type=int, default=0,
                      help='evaluate only the first N documents (0: all)')
  parser.add_argument('--torch_threads', type=int, default=job.torch_threads)
  parser.add_argument('--max_batch_tokens', type=int,
                      default=job.max_batch_tokens)
  parser.add_argument('--report', default=None, help='write the JSON report here')
  parser.add_argument('--predictions', default=None,
                      help='also write per-document gold and predicted spans (JSONL)')
  return parser


def main(argv: Optional[List[str]] = None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  parser = arg_parser()
  args, beam_args = parser.parse_known_args(argv)
  try:
    docs = goldlib.load_gold(args.gold, None if args.format == 'auto' else args.format,
                             args.limit or None)
    labels = resolve_labels(docs, args.labels, args.label_map,
                            not args.no_builtin_prompts)
    if not labels:
      raise ValueError('no labels: the gold data has no entities; pass --labels')
    if not 0.0 <= args.threshold <= 1.0:
      raise ValueError(f'--threshold must be in [0, 1], got {args.threshold}')
  except (ValueError, OSError) as exc:
    print(f'error: {exc}', file=sys.stderr)
    return 2
  print(f'evaluating {args.model} on {len(docs)} documents from {args.gold}; '
        'prompts: ' + ', '.join(f'{n}={p!r}' for n, p in labels), flush=True)
  predicted: Dict = {}
  try:
    report = evaluate_docs(docs, args.model, labels, args.threshold,
                           not args.nested_ner, beam_args, args.torch_threads,
                           args.max_batch_tokens, predicted)
  except Exception as exc:  # pylint: disable=broad-except
    from pipeline.config import OptionError
    if isinstance(exc, OptionError):
      print(f'error: {exc}', file=sys.stderr)
      return 2
    raise
  report['settings'] = {
      'gold': args.gold, 'format': args.format, 'model': args.model,
      'labels': {n: p for n, p in labels}, 'threshold': args.threshold,
      'flat_ner': not args.nested_ner, 'limit': args.limit or None,
  }
  print(goldlib.format_table(report))
  print(f"{report['documents']} documents, {report['gold_spans']} gold spans, "
        f"{report['predicted_spans']} predicted, {len(report['dead_letters'])} "
        f"dead letters, {report['seconds']:.1f}s")
  if args.report:
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(json.dumps(report, indent=2) + '\n')
  if args.predictions:
    wanted = {n for n, _ in labels}
    with open(args.predictions, 'w', encoding='utf-8') as handle:
      for doc in docs:
        handle.write(json.dumps({
            'id': doc.id, 'text': doc.text,
            'gold': sorted(s for s in doc.spans if s[2] in wanted),
            'predicted': predicted.get(doc.id, []),
        }) + '\n')
  return 0


if __name__ == '__main__':
  sys.exit(main())
