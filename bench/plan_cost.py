"""CPU cost of planning (`PlanModelCallsFn`: word split, subword counts,
windows), before and after the per-word subword-count cache, on the GPU
run's corpora:

    python -m bench.plan_cost [--reps 3] [--model DIR]

"before" patches the uncached `TextMeasure._tokenise` and gliner's
word splitter back in. Each run uses a fresh DoFn (a cold cache, as in a
job); runs are interleaved, the lowest CPU time is kept, and the planned
windows and costs must be identical.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from bench import corpora
from common.records import Document
from model_handler.tasks import NerTask
from model_handler.tasks.base import plain_labels
from transforms.prepare import PlanModelCallsFn

REPO = Path(__file__).resolve().parent.parent
LABELS = ('person', 'organization', 'location', 'field of study', 'algorithm')


def _cpu() -> float:
  t = os.times()
  return t.user + t.system


def plan(model: str, texts, cached: bool):
  """(CPU seconds, planned calls) of one cold planning DoFn over `texts`."""
  fn = PlanModelCallsFn(model, [NerTask(labels=plain_labels(LABELS))],
                        overlap=None)
  fn.setup()
  measure = fn._measure  # pylint: disable=protected-access
  if not cached:
    measure.subword_ids = measure._tokenise  # pylint: disable=protected-access
    measure._word_pattern = None  # pylint: disable=protected-access
  planned = []
  started = _cpu()
  for i, text in enumerate(texts):
    planned.append([(c.window.char_start, c.window.text, c.window.own_start,
                     c.window.own_end, c.window.n_subwords, c.cost)
                    for c in fn.process(Document(f'k{i}', f'd{i}', text))])
  return _cpu() - started, planned


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--reps', type=int, default=3)
  parser.add_argument('--model', default=str(REPO / 'models' /
                                             'gliner-multitask-minilm-l6'))
  args = parser.parse_args(argv)
  sentences = corpora.read_sentences()
  for corpus in (corpora.uniform_corpus(sentences, 1536, 200),
                 corpora.mixed_corpus(sentences, 384)):
    times = {False: [], True: []}
    outputs = {}
    for _ in range(args.reps):
      for cached in (False, True):
        seconds, outputs[cached] = plan(args.model, corpus.texts, cached)
        times[cached].append(round(seconds, 2))
    assert outputs[False] == outputs[True], 'planned windows differ'
    before, after = min(times[False]), min(times[True])
    print(f'{corpus.name}: before {before:.2f} s CPU {times[False]}, after '
          f'{after:.2f} s CPU {times[True]}: {before / after:.1f}x, '
          f'windows identical; load average {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
  main()
