"""Is `--quantize int8` worth it on CPU? Speed and accuracy, measured the
same way, in one command:

    python -m bench.quantize [--out FILE.json] [--reps 2] [--sentences 200]

* speed: the job end to end (in process, as `python -m pipeline` runs it) on
  the uniform CrossNER corpus, float32 vs `--quantize int8`, interleaved
  repetitions, best kept; on the embedded MiniLM model and on the
  deberta-v3-base-shaped model (random weights: speed only);
* accuracy: exact-match micro F1 on the first N CrossNER test sentences of
  ai, literature and science (their own gold labels, the built-in prompts),
  and on the sample documents (data/sample/gold.jsonl: person, organization,
  location), through the job's code (`selflearning.evaluate`), float32 vs
  int8, MiniLM.

Targets (issue 14): >= 2x documents/s, F1 drop <= 1 point.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')

from bench import corpora  # noqa: E402
from bench import models as bench_models  # noqa: E402
from bench import results_report as report  # noqa: E402
from bench import timing  # noqa: E402
from bench.scenarios import LABELS, best, log  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MODES = ('none', 'int8')


def speed(spec, n_docs: int, words: int, reps: int, workdir: Path,
          cache_dir: Optional[str], threads: int) -> Dict[str, Any]:
  model_dir = bench_models.model_dir(spec, cache_dir)
  sentences = corpora.read_sentences()
  corpus = corpora.uniform_corpus(sentences, n_docs, words)
  source = corpora.write_parquet(corpus, workdir / spec.name / 'docs.parquet')
  runs: Dict[str, List] = {mode: [] for mode in MODES}

  def one(mode: str):
    import tempfile
    output = tempfile.mkdtemp(prefix=f'out-{mode}-', dir=workdir / spec.name)
    argv = timing.job_argv(str(source), str(output), model_dir, LABELS, 0.5,
                           4096, 'cpu', 'float32',
                           ['--quantize', mode, '--torch_threads',
                            str(threads)])
    return timing.run_job(argv)

  one('none')  # warm-up (imports, first Beam run)
  for rep in range(reps):
    for mode in MODES:
      runs[mode].append(one(mode))
      log(f'  {spec.name} rep {rep + 1} {mode}: '
          f'{runs[mode][-1]["wall_s"]:.2f} s')
  out = {mode: best(r) for mode, r in runs.items()}
  out['corpus'] = corpus.describe()
  out['model_dir'] = str(model_dir)
  out['speedup_docs_per_s'] = report.ratio(out['int8']['docs_per_s'],
                                           out['none']['docs_per_s'])
  out['speedup_encoder'] = report.ratio(
      out['none']['breakdown_s']['encoder'],
      out['int8']['breakdown_s']['encoder'])
  return out


def score_modes(docs, model_dir: Path, labels, threads: int,
                name: str) -> Dict[str, Any]:
  """Exact-span P/R/F1 of the job on `docs` once per quantize mode."""
  from selflearning import evaluate
  out: Dict[str, Any] = {}
  for mode in MODES:
    scored = evaluate.evaluate_docs(docs, str(model_dir), labels,
                                    torch_threads=threads, quantize=mode)
    out[mode] = {k: round(scored['micro'][k], 4) for k in
                 ('precision', 'recall', 'f1', 'tp', 'fp', 'fn')}
    out[mode]['seconds'] = scored['seconds']
    log(f'  F1 {name} {mode}: {scored["micro"]["f1"]:.4f}')
  return out


def accuracy(model_dir: Path, sentences: int, threads: int) -> Dict[str, Any]:
  from selflearning import evaluate
  from selflearning import gold as goldlib
  out: Dict[str, Any] = {}
  for domain in ('ai', 'literature', 'science'):
    path = corpora.crossner_dir() / domain / 'test.txt'
    docs = goldlib.load_gold(str(path), 'conll', sentences)
    labels = evaluate.resolve_labels(docs, None, None)
    out[domain] = {'sentences': len(docs),
                   **score_modes(docs, model_dir, labels, threads, domain)}
    out[domain]['f1_change_points'] = round(
        100 * (out[domain]['int8']['f1'] - out[domain]['none']['f1']), 2)
  totals = {mode: [sum(out[d][mode][k] for d in ('ai', 'literature', 'science'))
                   for k in ('tp', 'fp', 'fn')] for mode in MODES}
  from selflearning.gold import prf
  out['pooled'] = {mode: round(prf(*totals[mode])['f1'], 4) for mode in MODES}
  out['pooled']['f1_change_points'] = round(
      100 * (out['pooled']['int8'] - out['pooled']['none']), 2)
  return out


def accuracy_sample(model_dir: Path, threads: int) -> Dict[str, Any]:
  """Micro F1 on the repository's sample documents (data/sample/gold.jsonl:
  person, organization, location), where the demo model is strong (the
  model card's 0.80): a change there is a change in a working model."""
  from selflearning import evaluate
  from selflearning import gold as goldlib
  import pyarrow.parquet as pq
  sample = REPO / 'data' / 'sample'
  texts = dict(zip(*pq.read_table(sample / 'documents.parquet',
                                  columns=['id', 'text']).to_pydict().values()))
  docs = []
  for line in (sample / 'gold.jsonl').read_text(encoding='utf-8').splitlines():
    if line.strip():
      record = json.loads(line)
      docs.append(goldlib.GoldDoc(record['id'], texts[record['id']], tuple(
          (e['start'], e['end'], e['label']) for e in record['entities'])))
  labels = evaluate.resolve_labels(docs, None, None)
  out: Dict[str, Any] = {'documents': len(docs),
                         **score_modes(docs, model_dir, labels, threads,
                                       'sample')}
  out['f1_change_points'] = round(
      100 * (out['int8']['f1'] - out['none']['f1']), 2)
  return out


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m bench.quantize',
                                   description=__doc__)
  parser.add_argument('--out', default=None)
  parser.add_argument('--reps', type=int, default=2)
  parser.add_argument('--sentences', type=int, default=200,
                      help='CrossNER test sentences per domain for F1')
  parser.add_argument('--threads', type=int, default=2)
  parser.add_argument('--cache_dir', default=None)
  parser.add_argument('--skip', default='',
                      help='comma list: speed,base,f1,sample')
  parser.add_argument('--smoke', action='store_true',
                      help='tiny model, tiny corpus, 5 sentences (tests)')
  args = parser.parse_args(argv)
  skip = set(filter(None, args.skip.split(',')))
  import tempfile
  started = time.perf_counter()
  stamp = datetime.datetime.now(datetime.timezone.utc)
  out_path = Path(args.out) if args.out else (
      REPO / 'bench' / 'results' /
      f'{stamp.strftime("%Y-%m-%dT%H%M%SZ")}-quantize.json')
  results: Dict[str, Any] = {'meta': {
      'date_utc': stamp.isoformat(timespec='seconds'),
      'command': 'python -m bench.quantize ' + ' '.join(
          sys.argv[1:] if argv is None else list(argv)),
      'machine': report.machine_info(), 'threads': args.threads,
      'targets': {'speedup_docs_per_s': ['>=', 2.0],
                  'f1_change_points': ['>=', -1.0]}}}
  plan = ([(bench_models.TINY, 6, 40)] if args.smoke else
          [(bench_models.MINILM, 64, 200), (bench_models.BASE_TOKEN, 16, 200)])
  with tempfile.TemporaryDirectory(prefix='bench-quantize-') as tmp:
    for spec, n_docs, words in plan:
      if 'speed' in skip or (spec.kind == 'base' and 'base' in skip):
        continue
      log(f'speed: {spec.name}, {n_docs} docs x ~{words} words')
      results[spec.name] = speed(spec, n_docs, words,
                                 1 if args.smoke else args.reps, Path(tmp),
                                 args.cache_dir, args.threads)
      report.write_json(results, out_path)
  if 'f1' not in skip:
    model_dir = (bench_models.model_dir(bench_models.TINY, args.cache_dir)
                 if args.smoke else bench_models.MINILM_DIR)
    log(f'accuracy: {model_dir}')
    results['f1'] = accuracy(model_dir, 5 if args.smoke else args.sentences,
                             args.threads)
  if 'sample' not in skip and not args.smoke:
    log('accuracy on data/sample')
    results['f1_sample'] = accuracy_sample(bench_models.MINILM_DIR,
                                           args.threads)
  results['meta']['run_seconds'] = round(time.perf_counter() - started, 1)
  report.write_json(results, out_path)
  print(json.dumps({k: v for k, v in results.items() if k != 'meta'},
                   indent=1, default=str)[:4000])
  print(f'JSON: {out_path}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
