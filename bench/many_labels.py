"""How many `person` spans survive among many labels: split by `max_types`
versus by subwords only.

A uni-encoder GLiNER saw at most `max_types` labels per prompt in training;
a larger label set in one prompt shifts its scores, and the fine and near
labels compete for the spans. The job splits a label set so that no prompt
holds more than `max_types` (model_handler.text_measure.TextMeasure.
labels_fit). This tool runs the job on the sample documents three times with
the same weights and threshold:

* `alone` -- `person` asked alone;
* `subwords` -- the many-label set, the checkpoint seen without `max_types`
  (a view of the model directory whose config lacks it: the split of before);
* `max_types` -- the many-label set, the checkpoint as it is.

    python -m bench.many_labels                      # embedded model, 200 labels
    python -m bench.many_labels --model DIR --labels 100 --threshold 0.5
    python -m bench.many_labels --independent   # nested, multi-label

With the job's default flat NER a near label (`fictional person`) that
scores higher takes the span from `person`; `--independent` (the job's
`--nested_ner --multi_label`) keeps every label's spans, so only the scores'
shift from the prompt's other labels is measured.

The label set is `bench.corpora.many_labels(n)`: the sample's three labels
(person, organization, location) first, then other plausible entity type
names (deterministic). Prints one JSON object.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence, Set, Tuple

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')

from bench.corpora import many_labels  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / 'data' / 'sample' / 'documents.parquet'
MODEL = REPO / 'models' / 'gliner-multitask-minilm-l6'
CONFIG_FILE = 'gliner_config.json'

Span = Tuple[str, int, int]


def without_max_types(model: Path, target: Path) -> Path:
  """`target`: the checkpoint's files linked, its config without
  `max_types` (so only the subword budget splits label sets)."""
  target.mkdir()
  for path in model.iterdir():
    if path.name != CONFIG_FILE:
      (target / path.name).symlink_to(path.resolve())
  config = json.loads((model / CONFIG_FILE).read_text())
  config.pop('max_types', None)
  (target / CONFIG_FILE).write_text(json.dumps(config))
  return target


def person_spans(model: Path, labels: Sequence[str], threshold: float,
                 documents: Path, output: Path,
                 flags: Sequence[str] = ()) -> Tuple[Set[Span], float]:
  """The job's `person` spans (doc id, start, end) and its wall time (its
  run summary goes to stderr)."""
  from pipeline.readers import read_table
  from pipeline.run import main
  started = time.perf_counter()
  with contextlib.redirect_stdout(sys.stderr):
    rc = main(['--runner', 'FnApiRunner', '--input', str(documents),
               '--output', str(output), '--model', str(model), '--labels',
               ','.join(labels), '--threshold', str(threshold), *flags])
  if rc != 0:
    raise SystemExit(f'the job failed (exit {rc}) with {model}')
  elapsed = time.perf_counter() - started
  rows = read_table(str(output), 'entities',
                    ['doc_id', 'start', 'end', 'label']).to_pylist()
  return {(r['doc_id'], r['start'], r['end']) for r in rows
          if r['label'] == 'person'}, elapsed


def measure(model: Path, n_labels: int, threshold: float,
            documents: Path, independent: bool = False) -> Dict:
  labels: List[str] = many_labels(n_labels)
  if 'person' not in labels:
    raise SystemExit('the label set must hold person')
  max_types = json.loads((model / CONFIG_FILE).read_text()).get('max_types')
  flags = ('--nested_ner', '--multi_label') if independent else ()
  with tempfile.TemporaryDirectory(prefix='many-labels-') as tmp:
    tmp = Path(tmp)
    before = without_max_types(model, tmp / 'model-without-max-types')
    alone, t_alone = person_spans(model, ['person'], threshold, documents,
                                  tmp / 'alone', flags)
    split_subwords, t_sub = person_spans(before, labels, threshold, documents,
                                         tmp / 'subwords', flags)
    split_types, t_types = person_spans(model, labels, threshold, documents,
                                        tmp / 'max_types', flags)
  return {
      'model': str(model), 'max_types': max_types, 'labels': len(labels),
      'threshold': threshold, 'documents': str(documents),
      'flags': list(flags),
      'person_alone': len(alone),
      'person_split_by_subwords': len(split_subwords),
      'person_split_by_max_types': len(split_types),
      'alone_also_found_split_by_subwords': len(alone & split_subwords),
      'alone_also_found_split_by_max_types': len(alone & split_types),
      'seconds': {'alone': round(t_alone, 1), 'subwords': round(t_sub, 1),
                  'max_types': round(t_types, 1)},
  }


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--model', type=Path, default=MODEL)
  parser.add_argument('--labels', type=int, default=200,
                      help='size of the label set (default 200)')
  parser.add_argument('--threshold', type=float, default=0.5,
                      help='entity threshold of all three runs (default 0.5, '
                      'the built-in one)')
  parser.add_argument('--documents', type=Path, default=SAMPLE)
  parser.add_argument('--independent', action='store_true',
                      help='nested, multi-label NER: no label takes a span '
                      'from another')
  args = parser.parse_args(argv)
  result = measure(args.model, args.labels, args.threshold, args.documents,
                   args.independent)
  json.dump(result, sys.stdout, indent=2)
  print()
  return 0


if __name__ == '__main__':
  sys.exit(main())
