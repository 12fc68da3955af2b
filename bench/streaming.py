"""Streaming: how many documents per second the job sustains, how long a
document takes from publish to its window file, and what happens above
that rate.

    python -m bench.streaming            # embedded model, ~70-word docs (~5 min)
    python -m bench.streaming --smoke    # tiny random model, seconds (tests)

On Google's Pub/Sub emulator with the job in this process
(BundleBasedDirectRunner, --window_seconds 1), after a warm-up:

1. burst rate: a burst of `--burst` documents / the time until the last
   one is written (how fast a backlog drains, in large batches);
2. sustained rate: paced publishing at rising shares of the burst rate
   (`--search`, `--search_seconds` each); the highest whose latency stays
   flat through the phase is the rate sustained before the backlog grows;
3. paced at 50 % and 90 % of that rate for `--phase_seconds` each: latency
   p50/p95 from publish to the file holding the document (file mtime; it
   includes the wait for the window to close), and whether latency grows
   through the phase (a growing backlog);
4. above it, at 150 %: how long the backlog takes to drain after the last
   publish, and that every document is written exactly once.

The same documents through bare `GLiNER.inference` (batch 8) in the same
run give the reference docs/s and the ratio. Writes bench/results/
streaming-<date>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Dict, List

import pyarrow.parquet as pq

from bench import corpora
from bench.models import MINILM_DIR
from bench.pubsub_emulator import pubsub_emulator, pubsub_emulator_missing
from bench.pubsub_emulator import streaming_job, topic_with_subscription
from bench.pubsub_emulator import wait_for
from pipeline.readers import window_files

LABELS = 'person,organization,location,algorithm,researcher'
PROJECT = 'gliner-beam-bench'
RESULTS = Path(__file__).parent / 'results'


class Output:
  """The job's documents table as it grows: doc id -> first write time."""

  def __init__(self, root: Path):
    self._dir = root / 'documents'
    self._seen: Dict[str, float] = {}
    self._files = set()
    self.rows = 0

  def refresh(self) -> Dict[str, float]:
    for path in window_files(self._dir):
      if path in self._files:
        continue
      self._files.add(path)
      written = os.stat(path).st_mtime
      ids = pq.read_table(path, columns=['doc_id']).column('doc_id')
      for doc_id in ids.to_pylist():
        self.rows += 1
        self._seen.setdefault(doc_id, written)
    return self._seen


def publish_paced(publisher, topic, docs: List[str], ids: List[str],
                  rate: float) -> Dict[str, float]:
  """Publish at `rate` docs/s; -> doc id -> publish time (wall clock)."""
  published = {}
  futures = []
  started = time.time()
  for i, (doc_id, text) in enumerate(zip(ids, docs)):
    due = started + i / rate
    pause = due - time.time()
    if pause > 0:
      time.sleep(pause)
    published[doc_id] = time.time()
    futures.append(publisher.publish(
        topic, json.dumps({'id': doc_id, 'text': text}).encode()))
  for future in futures:
    future.result(timeout=60)
  return published


def percentile(values: List[float], q: float) -> float:
  ordered = sorted(values)
  return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def wait_written(output: Output, ids, timeout: float) -> float:
  """Seconds until every id is written (inf when the timeout passes)."""
  started = time.time()
  ok = wait_for(lambda: set(ids) <= set(output.refresh()), timeout)
  return time.time() - started if ok else float('inf')


def paced_phase(publisher, topic, output: Output, texts, prefix: str,
                rate: float, seconds: float, timeout: float) -> dict:
  n = max(4, int(rate * seconds))
  ids = [f'{prefix}-{i}' for i in range(n)]
  docs = [texts[i % len(texts)] for i in range(n)]
  published = publish_paced(publisher, topic, docs, ids, rate)
  drain = wait_written(output, ids, timeout)
  seen = output.refresh()
  latencies = [seen[i] - published[i] for i in ids if i in seen]
  half = len(ids) // 2
  first = [seen[i] - published[i] for i in ids[:half] if i in seen]
  second = [seen[i] - published[i] for i in ids[half:] if i in seen]
  return {
      'rate_docs_per_s': round(rate, 2),
      'published': n,
      'written': sum(1 for i in ids if i in seen),
      'latency_p50_s': round(percentile(latencies, 0.5), 2),
      'latency_p95_s': round(percentile(latencies, 0.95), 2),
      'latency_p50_first_half_s': round(statistics.median(first), 2),
      'latency_p50_second_half_s': round(statistics.median(second), 2),
      'drain_after_last_publish_s': round(drain, 2),
  }


def stable(phase: dict) -> bool:
  """Latency did not grow through the phase (no backlog building up)."""
  return (phase['written'] == phase['published'] and
          phase['latency_p50_second_half_s'] <=
          phase['latency_p50_first_half_s'] * 1.25 + 0.5)


def bare_docs_per_s(model_dir: Path, texts: List[str]) -> float:
  from bench.timing import bare_inference, load_model
  model, _ = load_model(model_dir, 'cpu', 'float32')
  with warnings.catch_warnings():  # gliner warns per truncated text
    warnings.simplefilter('ignore')
    model.inference(texts[:4], LABELS.split(','), threshold=0.5)  # warm-up
  return bare_inference(model, texts, LABELS.split(','), 0.5)['docs_per_s']


def run(args) -> dict:
  if args.smoke:
    from bench.models import TINY, model_dir as tiny_model
    model = tiny_model(TINY, args.cache_dir)
  else:
    model = MINILM_DIR
  sentences = corpora.read_sentences()
  corpus = corpora.uniform_corpus(sentences, args.distinct_docs, args.words)
  texts = list(corpus.texts)
  print(f'bench.streaming: model {model}, {len(texts)} distinct documents '
        f'of ~{args.words} words', flush=True)
  bare = bare_docs_per_s(model, texts)
  print(f'  bare gliner: {bare:.1f} docs/s', flush=True)
  from google.cloud import pubsub_v1
  with tempfile.TemporaryDirectory() as tmp, pubsub_emulator(Path(tmp)) as host:
    os.environ['PUBSUB_EMULATOR_HOST'] = host
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic, subscription = topic_with_subscription(publisher, subscriber,
                                                  PROJECT, 'docs')
    root = Path(tmp) / 'out'
    output = Output(root)
    argv = ['--streaming', '--input_subscription', subscription, '--output',
            root, '--model', model, '--labels', LABELS, '--window_seconds',
            '1', '--runner', 'BundleBasedDirectRunner']
    with streaming_job(argv, publisher, topic):
      warm = [f'warm-{i}' for i in range(4)]
      publish_paced(publisher, topic, texts[:4], warm, 100)
      if wait_written(output, warm, 300) == float('inf'):
        raise RuntimeError('warm-up documents were not written in 300 s')
      print('  warmed up', flush=True)
      burst_ids = [f'burst-{i}' for i in range(args.burst)]
      started = time.time()
      publish_paced(publisher, topic,
                    [texts[i % len(texts)] for i in range(args.burst)],
                    burst_ids, 10_000)
      drain = wait_written(output, burst_ids, args.timeout)
      if drain == float('inf'):
        raise RuntimeError(f'burst not written in {args.timeout} s')
      capacity = args.burst / (time.time() - started)
      print(f'  capacity: {args.burst} burst documents written in '
            f'{drain:.1f} s -> {capacity:.2f} docs/s', flush=True)
      # A burst drains in large batches, faster than a steady stream is
      # served: step a paced rate up to the highest that keeps latency flat.
      search, sustained = {}, None
      for share in args.search:
        rate = capacity * share
        trial = paced_phase(publisher, topic, output, texts,
                            f's{int(share * 100)}', rate,
                            args.search_seconds, args.timeout)
        search[f'{share:.0%} of burst rate'] = trial
        print(f'  search {share:.0%}: {trial}', flush=True)
        if not stable(trial):
          break
        sustained = rate
      if sustained is None:
        sustained = capacity * args.search[0] / 2
      print(f'  sustained: {sustained:.2f} docs/s', flush=True)
      phases = {}
      for name, share in (('50%', 0.5), ('90%', 0.9), ('150%', 1.5)):
        phases[name] = paced_phase(publisher, topic, output, texts,
                                   f'p{name[:-1]}', sustained * share,
                                   args.phase_seconds, args.timeout)
        print(f'  {name}: {phases[name]}', flush=True)
      total = len(warm) + args.burst + sum(
          p['published'] for p in list(phases.values()) + list(search.values()))
      time.sleep(3)
      seen = output.refresh()
      rows = output.rows
  return {
      'machine': f'{platform.node()} ({platform.processor() or "cpu"}), '
                 f'python {platform.python_version()}',
      'command': 'python -m bench.streaming' + (' --smoke' if args.smoke else ''),
      'model': str(model),
      'docs_words': args.words,
      'bare_gliner_docs_per_s': round(bare, 2),
      'burst_docs_per_s': round(capacity, 2),
      'sustained_docs_per_s': round(sustained, 2),
      'sustained_over_bare': round(sustained / bare, 3),
      'burst': args.burst,
      'burst_drain_s': round(drain, 2),
      'search': search,
      'phases': phases,
      'published': total,
      'documents_written': len(seen),
      'document_rows': rows,
      'lost': total - len(seen),
      'written_twice': rows - len(seen),
  }


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--smoke', action='store_true')
  parser.add_argument('--burst', type=int, default=None)
  parser.add_argument('--phase_seconds', type=float, default=None)
  parser.add_argument('--words', type=int, default=70)
  parser.add_argument('--search', type=float, nargs='+',
                      default=[0.4, 0.55, 0.7, 0.85, 1.0],
                      help='paced rates tried, as shares of the burst rate')
  parser.add_argument('--search_seconds', type=float, default=None)
  parser.add_argument('--distinct_docs', type=int, default=64)
  parser.add_argument('--timeout', type=float, default=600)
  parser.add_argument('--out', default=None)
  parser.add_argument('--cache_dir', default=None,
                      help='where --smoke builds its tiny model')
  args = parser.parse_args(argv)
  if args.burst is None:
    args.burst = 20 if args.smoke else 150
  if args.phase_seconds is None:
    args.phase_seconds = 4 if args.smoke else 30
  if args.search_seconds is None:
    args.search_seconds = 3 if args.smoke else 20
  missing = pubsub_emulator_missing()
  if missing:
    print(f'bench.streaming: cannot run: {missing}', file=sys.stderr)
    return 2
  result = run(args)
  print(json.dumps(result, indent=1))
  out = Path(args.out) if args.out else RESULTS / (
      f'streaming-{time.strftime("%Y%m%d")}' +
      ('-smoke' if args.smoke else '') + '.json')
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps(result, indent=1))
  print(f'wrote {out}')
  return 0 if result['lost'] == 0 and result['written_twice'] == 0 else 1


if __name__ == '__main__':
  sys.exit(main())
