"""Pseudo-labelling job: run NER over unlabelled text and write gliner
training examples from the confident predictions.

    python -m selflearning.pseudo_label --input 'corpus/*.parquet' \\
        --output out/pl --model models/gliner-multitask-minilm-l6 \\
        --labels person,organization --min_score 0.6

A Beam job built on the same `EnrichDocuments` transform as the enrichment
job (validation, windowing, RunInference, window merging). Each document's
entities with score >= --min_score become one training example in gliner's
format::

    {"tokenized_text": [words...], "ner": [[first_word, last_word, label], ...],
     "ner_labels": [every prompted label], "id": "<doc id>#<chunk>"}

* Words are gliner's own words of the document text (the model's
  `words_splitter_type`), so `ner` indices point at exactly the characters the
  model labelled; a span that does not start and end on word boundaries is
  dropped and counted (`spans_unaligned`).
* The label written is the PROMPT the model was asked with (e.g. "programming
  language" for `programlang="programming language"`), because that is what a
  model fine-tuned on the examples will be prompted with. `ner_labels` lists
  every prompted label, so labels with no entity in a sentence are trained as
  negatives rather than sampled from other sentences.
* Documents longer than the model's `max_len` words are cut into chunks of at
  most that many words; entities crossing a chunk edge are dropped (counted).
* --keep_empty false drops examples without any kept entity; --max_per_doc N
  drops documents (chunks) with more than N kept entities (a truncated
  labelling would teach the model that the missing entities are negatives).

Input: Parquet (any Beam file system; --text_column/--id_column) or CoNLL/BIO
files (the gold tags are ignored: only the text is used). Output:
`<output>/examples-*.jsonl` and `<output>/stats.json` (counters).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.metrics import Metrics

from common.text import label_list
from selflearning import gold as goldlib

NAMESPACE = 'gliner_beam_pseudo_label'
COUNTERS = ('documents', 'examples_written', 'examples_empty_dropped',
            'examples_over_max_dropped', 'chunks', 'spans_kept',
            'spans_below_min_score', 'spans_unaligned', 'spans_cut_by_chunk',
            'spans_overlapping_dropped')


def parse_bool(value: str) -> bool:
  lowered = str(value).strip().lower()
  if lowered in ('1', 'true', 'yes', 'y', 'on'):
    return True
  if lowered in ('0', 'false', 'no', 'n', 'off'):
    return False
  raise argparse.ArgumentTypeError(f'expected true or false, got {value!r}')


def document_examples(doc_id: str, text: str,
                      entities: Sequence[Tuple[int, int, str, float]],
                      words: Sequence[Tuple[str, int, int]],
                      prompts: Dict[str, str], min_score: float,
                      max_words: int, keep_empty: bool = True,
                      max_per_doc: Optional[int] = None,
                      counts: Optional[Dict[str, int]] = None) -> List[dict]:
  """One document's entities -> gliner training examples (pure function).

  `entities` are (start, end, label name, score) in document characters;
  `words` are gliner's (word, start, end) for `text`; `prompts` maps label
  names to the prompt written as the training label.
  """
  counts = counts if counts is not None else {}

  def count(name, n=1):
    counts[name] = counts.get(name, 0) + n

  candidates = []
  for start, end, label, score in entities:
    if score < min_score:
      count('spans_below_min_score')
      continue
    candidates.append((start, end, label, score))
  # flat, non-overlapping spans only, best score first (gliner's flat
  # decoding already gives that; overlapping targets would contradict)
  kept: List[Tuple[int, int, str]] = []
  for start, end, label, score in sorted(
      candidates, key=lambda c: (-c[3], c[0], c[1], c[2])):
    if any(start < e and s < end for s, e, _ in kept):
      count('spans_overlapping_dropped')
      continue
    kept.append((start, end, label))
  ner, dropped = goldlib.char_spans_to_words(
      words, [(s, e, prompts.get(name, name)) for s, e, name in kept])
  count('spans_unaligned', len(dropped))
  flat = sorted(ner, key=lambda x: (x[0], x[1], x[2]))
  label_list = list(dict.fromkeys(prompts.get(n, n) for n in prompts))
  examples = []
  n_chunks = max(1, -(-len(words) // max_words))
  for chunk in range(n_chunks):
    lo, hi = chunk * max_words, min(len(words), (chunk + 1) * max_words)
    count('chunks')
    chunk_ner = []
    for s, e, label in flat:
      if lo <= s and e < hi:
        chunk_ner.append([s - lo, e - lo, label])
      elif lo <= s < hi:
        count('spans_cut_by_chunk')
    if not chunk_ner and not keep_empty:
      count('examples_empty_dropped')
      continue
    if max_per_doc is not None and len(chunk_ner) > max_per_doc:
      count('examples_over_max_dropped')
      continue
    count('spans_kept', len(chunk_ner))
    count('examples_written')
    example_id = doc_id if n_chunks == 1 else f'{doc_id}#{chunk}'
    examples.append({
        'tokenized_text': [w for w, _, _ in words[lo:hi]],
        'ner': chunk_ner,
        'ner_labels': label_list,
        'id': example_id,
    })
  return examples


class ToTrainingExamplesFn(beam.DoFn):
  """(record key, {'text': [text], 'doc': [EnrichedDocument]}) -> JSON lines."""

  def __init__(self, model_ref: str, prompts: Dict[str, str], min_score: float,
               keep_empty: bool, max_per_doc: Optional[int]):
    self._model_ref = model_ref
    self._prompts = dict(prompts)
    self._min_score = min_score
    self._keep_empty = keep_empty
    self._max_per_doc = max_per_doc
    self._splitter = None
    self._max_len = None
    self._counters = {n: Metrics.counter(NAMESPACE, n) for n in COUNTERS}

  def setup(self):
    from gliner.data_processing import WordsSplitter
    from model_handler.checkpoint import CheckpointInfo, resolve_model_dir
    info = CheckpointInfo.from_dir(resolve_model_dir(self._model_ref))
    self._splitter = WordsSplitter(info.words_splitter_type)
    self._max_len = info.max_len

  def process(self, element):
    _, grouped = element
    texts, docs = list(grouped['text']), list(grouped['doc'])
    if not texts or not docs:  # dead-lettered document: nothing to learn from
      return
    text, doc = texts[0], docs[0]
    counts: Dict[str, int] = {'documents': 1}
    words = list(self._splitter(text))
    entities = [(e.start, e.end, e.label, e.score) for e in doc.entities]
    examples = document_examples(doc.doc_id, text, entities, words,
                                 self._prompts, self._min_score, self._max_len,
                                 self._keep_empty, self._max_per_doc, counts)
    for name, n in counts.items():
      self._counters[name].inc(n)
    for example in examples:
      yield json.dumps(example, ensure_ascii=False)


def conll_rows(pattern: str, limit: Optional[int] = None):
  from common.records import SourceRow
  rows = []
  for doc in goldlib.load_gold(pattern, 'conll', limit):
    rows.append(SourceRow(doc.id, doc.id, doc.text))
  return rows


def build(pipeline, config, args, prompts: Dict[str, str]):
  from pipeline.build import EnrichDocuments
  from transforms.read_parquet import ReadParquetDocuments
  if args.format == 'conll':
    rows = pipeline | 'ReadConll' >> beam.Create(conll_rows(args.input, args.limit),
                                                 reshuffle=False)
    read_dead = None
  else:
    rows, read_dead = pipeline | 'ReadParquet' >> ReadParquetDocuments(
        args.input, args.text_column, args.id_column, ())
  enriched = rows | 'Enrich' >> EnrichDocuments(config)
  texts = rows | 'KeyText' >> beam.Map(lambda r: (r.record_key, r.text))
  docs = enriched['documents'] | 'KeyDoc' >> beam.Map(
      lambda d: (d.record_key, d))
  _ = ({'text': texts, 'doc': docs}
       | 'Join' >> beam.CoGroupByKey()
       | 'Examples' >> beam.ParDo(ToTrainingExamplesFn(
           config.model, prompts, args.min_score, args.keep_empty,
           args.max_per_doc))
       | 'Write' >> beam.io.WriteToText(
           os.path.join(args.output, 'examples'), file_name_suffix='.jsonl'))
  dead = [enriched['dead_letter']] + ([read_dead] if read_dead is not None else [])
  from selflearning.evaluate import _dead_json
  _ = (dead | 'AllDead' >> beam.Flatten()
       | 'DeadJson' >> beam.Map(_dead_json)
       | 'WriteDead' >> beam.io.WriteToText(
           os.path.join(args.output, 'dead_letter'), file_name_suffix='.jsonl'))


def arg_parser() -> argparse.ArgumentParser:
  from pipeline.config import default_options
  job = default_options()  # the job's defaults: one definition
  parser = argparse.ArgumentParser(
      prog='python -m selflearning.pseudo_label',
      description='Write gliner training examples from confident NER '
      'predictions on unlabelled text (a Beam job).',
      formatter_class=argparse.ArgumentDefaultsHelpFormatter,
      epilog='Other Apache Beam options (e.g. --runner) are passed to Beam.')
  parser.add_argument('--input', required=True,
                      help='Parquet file pattern, or CoNLL/BIO file(s) with --format conll')
  parser.add_argument('--format', choices=('auto', 'parquet', 'conll'),
                      default='auto', help='auto: .parquet -> parquet, else conll')
  parser.add_argument('--output', required=True, help='output directory')
  parser.add_argument('--model', default=job.model)
  parser.add_argument('--labels', required=True,
                      help='comma-separated label names')
  parser.add_argument('--label_map', default=None,
                      help='name="prompt" pairs; prompts are used to query '
                      'the model and as the training labels')
  parser.add_argument('--no_builtin_prompts', action='store_true',
                      help='do not use the built-in CrossNER prompts')
  parser.add_argument('--min_score', type=float, default=0.5,
                      help='keep predictions with at least this score')
  parser.add_argument('--max_per_doc', type=int, default=None,
                      help='drop documents with more kept entities than this')
  parser.add_argument('--keep_empty', type=parse_bool, default=True,
                      help='keep examples with no entity (negatives)')
  parser.add_argument('--limit', type=int, default=None,
                      help='CoNLL input: only the first N sentences')
  parser.add_argument('--text_column', default=job.text_column)
  parser.add_argument('--id_column', default=job.id_column)
  parser.add_argument('--torch_threads', type=int, default=job.torch_threads)
  parser.add_argument('--max_batch_tokens', type=int,
                      default=job.max_batch_tokens)
  parser.add_argument('--overwrite', action='store_true',
                      help='replace examples already in --output')
  return parser


def run(argv: Sequence[str]) -> Dict:
  """Parse, run, and return the stats dict; raises ValueError on bad options."""
  import glob
  from selflearning.evaluate import beam_options, ner_job_config
  args, beam_args = arg_parser().parse_known_args(list(argv))
  if args.format == 'auto':
    args.format = 'parquet' if args.input.lower().endswith('.parquet') else 'conll'
  if not 0.0 <= args.min_score <= 1.0:
    raise ValueError(f'--min_score must be in [0, 1], got {args.min_score}')
  if args.max_per_doc is not None and args.max_per_doc < 0:
    raise ValueError('--max_per_doc must be >= 0')
  labels = goldlib.label_prompts(label_list(args.labels),
                                 goldlib.parse_label_map(args.label_map),
                                 not args.no_builtin_prompts)
  if not labels:
    raise ValueError('--labels: no labels given')
  existing = glob.glob(os.path.join(args.output, 'examples*.jsonl'))
  if existing and not args.overwrite:
    raise ValueError(f'--output: {args.output} already holds examples; '
                     'use --overwrite')
  for path in existing + glob.glob(os.path.join(args.output, 'dead_letter*.jsonl')):
    os.remove(path)
  os.makedirs(args.output, exist_ok=True)
  config = ner_job_config(args.model, labels, args.min_score, args.output,
                          max_batch_tokens=args.max_batch_tokens,
                          torch_threads=args.torch_threads,
                          run_id='pseudo_label')
  started = time.monotonic()
  pipeline = beam.Pipeline(options=beam_options(beam_args))
  build(pipeline, config, args, dict(labels))
  result = pipeline.run()
  result.wait_until_finish()
  stats = {name: 0 for name in COUNTERS}
  for counter in result.metrics().query()['counters']:
    if counter.key.metric.namespace == NAMESPACE:
      stats[counter.key.metric.name] = counter.committed or counter.attempted
  dead = sum(1 for p in glob.glob(os.path.join(args.output, 'dead_letter*.jsonl'))
             for line in open(p, encoding='utf-8') if line.strip())
  stats.update({
      'dead_letters': dead,
      'seconds': round(time.monotonic() - started, 2),
      'settings': {'input': args.input, 'format': args.format,
                   'model': args.model, 'labels': dict(labels),
                   'min_score': args.min_score,
                   'max_per_doc': args.max_per_doc,
                   'keep_empty': args.keep_empty},
      'files': sorted(glob.glob(os.path.join(args.output, 'examples*.jsonl'))),
  })
  with open(os.path.join(args.output, 'stats.json'), 'w') as handle:
    json.dump(stats, handle, indent=2)
  return stats


def main(argv: Optional[List[str]] = None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  try:
    stats = run(argv)
  except ValueError as exc:
    print(f'error: {exc}', file=sys.stderr)
    return 2
  print(json.dumps({k: v for k, v in stats.items() if k != 'settings'},
                   indent=2))
  return 0


if __name__ == '__main__':
  sys.exit(main())
