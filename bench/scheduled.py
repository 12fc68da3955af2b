"""What scheduled runs cost: an incremental rerun where nothing changed, and
the corpus tables, each against a full run of the same job.

    python -m bench.scheduled            # 240 x 200-word CrossNER docs (~6 min)
    python -m bench.scheduled --smoke    # 12 docs, tiny model (tests)

Runs, in this process and on the same corpus and model (the embedded
MiniLM demo model; `--smoke`: a tiny random one), each `--reps` times:

* full: `python -m pipeline` with `--no_corpus_tables` (the baseline);
* corpus: the same with the corpus tables (ner -> entity_index);
* rerun: an `--incremental` run into an output a first incremental run
  already filled, input unchanged (every row is skipped).

Prints the two targets of the scheduled-runs issue, rerun / full < 0.10 and
(corpus - full) / full < 0.05, with the medians, and writes a JSON file.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import corpora
from bench.models import MINILM_DIR

LABELS = 'person,organization,location,algorithm,researcher'


def timed_run(argv) -> float:
  from pipeline.run import main
  started = time.perf_counter()
  rc = main([str(a) for a in argv])
  if rc != 0:
    raise RuntimeError(f'job failed ({rc}): {argv}')
  return time.perf_counter() - started


def measure(corpus_file: Path, model: Path, work: Path, reps: int) -> dict:
  common = ['--input', corpus_file, '--model', model, '--labels', LABELS,
            '--torch_threads', '2']
  times = {'full': [], 'corpus': [], 'rerun': [], 'first_incremental': []}
  for rep in range(reps):
    times['full'].append(timed_run(common + [
        '--output', work / f'full{rep}', '--no_corpus_tables']))
    times['corpus'].append(timed_run(common + [
        '--output', work / f'corpus{rep}']))
    incremental = work / f'incremental{rep}'
    times['first_incremental'].append(timed_run(common + [
        '--output', incremental, '--incremental', '--run_id', 'first']))
    times['rerun'].append(timed_run(common + [
        '--output', incremental, '--incremental', '--run_id', 'rerun']))
  medians = {k: statistics.median(v) for k, v in times.items()}
  return {
      'seconds': times,
      'medians': medians,
      'rerun_over_full': medians['rerun'] / medians['full'],
      'corpus_tables_extra': (medians['corpus'] - medians['full']) /
                             medians['full'],
  }


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog='python -m bench.scheduled',
                                   description=__doc__.split('\n')[0])
  parser.add_argument('--smoke', action='store_true',
                      help='12 documents on a tiny random model (seconds)')
  parser.add_argument('--docs', type=int, default=240)
  parser.add_argument('--words', type=int, default=200)
  parser.add_argument('--reps', type=int, default=2)
  parser.add_argument('--out', default=None, help='JSON result file')
  args = parser.parse_args(argv)
  work = Path(tempfile.mkdtemp(prefix='gliner-bench-scheduled-'))
  try:
    if args.smoke:
      from bench.tiny_models import tiny_model_dir
      model = tiny_model_dir('markerV0', work / 'models')
      texts = [f'Document {i} says Marie Curie lived in Paris.'
               for i in range(12)]
      corpus = corpora.Corpus('smoke', [f's{i}' for i in range(12)], texts)
      reps = 1
    else:
      model = MINILM_DIR
      corpus = corpora.uniform_corpus(corpora.read_sentences(), args.docs,
                                      args.words)
      reps = args.reps
    corpus_file = corpora.write_parquet(corpus, work / 'corpus.parquet')
    result = measure(corpus_file, model, work, reps)
  finally:
    shutil.rmtree(work, ignore_errors=True)
  result['meta'] = {
      'command': 'python -m bench.scheduled' + (' --smoke' if args.smoke
                                                else ''),
      'documents': len(corpus.ids), 'words_per_doc': args.words,
      'model': str(model), 'reps': reps, 'machine': platform.platform(),
      'python': sys.version.split()[0],
  }
  rerun, extra = result['rerun_over_full'], result['corpus_tables_extra']
  print(f"full run (no corpus tables): {result['medians']['full']:.2f} s; "
        f"with corpus tables: {result['medians']['corpus']:.2f} s; "
        f"incremental rerun, nothing changed: {result['medians']['rerun']:.2f}"
        ' s')
  print(f'rerun / full = {rerun:.3f}  '
        f"{'PASS' if rerun < 0.10 else 'MISS'} (< 0.10)")
  print(f'corpus tables extra = {extra:+.3f}  '
        f"{'PASS' if extra < 0.05 else 'MISS'} (< 0.05)")
  if args.out:
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + '\n')
  return 0


if __name__ == '__main__':
  sys.exit(main())
