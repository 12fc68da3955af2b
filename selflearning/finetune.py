"""Fine-tune a GLiNER checkpoint on gliner-format training examples.

    python -m selflearning.finetune --base models/gliner-multitask-minilm-l6 \\
        --train 'out/pl/examples*.jsonl' --out models/tuned --steps 100 \\
        --lr_encoder 1e-5 --lr_others 5e-5 --label_smoothing 0.1

Examples are JSONL lines `{"tokenized_text": [...], "ner": [[s, e, label]],
"ner_labels": [...] (optional)}` as written by `selflearning.pseudo_label`.
Training uses gliner's own data collator and model loss (see
`selflearning.training`); the result is a self-contained checkpoint
directory (safetensors via `save_pretrained`, tokenizer files, config with
`encoder_config`) that loads offline. Same seed, same data, same thread
count -> the same weights. The settings and losses are written to
`<out>/finetune.json`.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from typing import List, Optional

from selflearning import training


def arg_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m selflearning.finetune',
      description='Fine-tune a GLiNER checkpoint (CPU-friendly, deterministic).',
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument('--base', required=True, help='checkpoint directory to start from')
  parser.add_argument('--train', required=True, nargs='+',
                      help='training JSONL file(s) or glob pattern(s)')
  parser.add_argument('--out', required=True, help='new checkpoint directory (replaced)')
  defaults = training.TrainSettings()
  parser.add_argument('--steps', type=int, default=defaults.steps)
  parser.add_argument('--batch_size', type=int, default=defaults.batch_size)
  parser.add_argument('--lr_encoder', type=float, default=defaults.lr_encoder)
  parser.add_argument('--lr_others', type=float, default=defaults.lr_others)
  parser.add_argument('--weight_decay', type=float, default=defaults.weight_decay)
  parser.add_argument('--warmup_ratio', type=float, default=defaults.warmup_ratio)
  parser.add_argument('--max_grad_norm', type=float, default=defaults.max_grad_norm)
  parser.add_argument('--label_smoothing', type=float, default=defaults.label_smoothing)
  parser.add_argument('--focal_alpha', type=float, default=defaults.focal_alpha,
                      help='focal loss alpha; -1 disables class balancing')
  parser.add_argument('--focal_gamma', type=float, default=defaults.focal_gamma,
                      help='focal loss gamma; 0 (with alpha -1) is plain BCE')
  parser.add_argument('--loss_reduction', choices=('sum', 'mean'),
                      default=defaults.loss_reduction)
  parser.add_argument('--seed', type=int, default=defaults.seed)
  parser.add_argument('--threads', type=int, default=defaults.threads,
                      help='torch CPU threads (part of what makes a run reproducible)')
  parser.add_argument('--log_every', type=int, default=defaults.log_every)
  parser.add_argument('--fp16', choices=('auto', 'true', 'false'), default='auto',
                      help='store weights as fp16; auto: like the base checkpoint')
  return parser


def check(args) -> None:
  if args.steps < 1:
    raise ValueError('--steps must be >= 1')
  if args.batch_size < 1:
    raise ValueError('--batch_size must be >= 1')
  if not 0.0 <= args.label_smoothing < 1.0:
    raise ValueError('--label_smoothing must be in [0, 1)')
  if args.lr_encoder < 0 or args.lr_others < 0:
    raise ValueError('learning rates must be >= 0')


def finetune(args, log=print) -> dict:
  settings = training.TrainSettings(
      steps=args.steps, batch_size=args.batch_size, lr_encoder=args.lr_encoder,
      lr_others=args.lr_others, weight_decay=args.weight_decay,
      warmup_ratio=args.warmup_ratio, max_grad_norm=args.max_grad_norm,
      label_smoothing=args.label_smoothing, focal_alpha=args.focal_alpha,
      focal_gamma=args.focal_gamma, loss_reduction=args.loss_reduction,
      seed=args.seed, threads=args.threads, log_every=args.log_every)
  examples = training.load_examples(args.train)
  if not examples:
    raise ValueError(f'--train: no examples in {args.train}')
  started = time.time()
  training.seed_everything(settings.seed, settings.threads)
  model = training.load_model(args.base)
  fp16 = (training.stored_dtype(args.base) == 'float16'
          if args.fp16 == 'auto' else args.fp16 == 'true')
  rng = random.Random(settings.seed)
  stats = training.train(
      model, training.epoch_batches(examples, settings.batch_size, rng),
      settings, log)
  record = {
      'base': str(args.base), 'train': list(args.train),
      'examples': len(examples),
      'entities': sum(len(e['ner']) for e in examples),
      'settings': settings.as_dict(), 'fp16': fp16, **stats,
  }
  training.save_checkpoint(
      model, args.out, fp16=fp16,
      extra_files={'finetune.json': json.dumps(record, indent=2) + '\n'})
  record['total_seconds'] = round(time.time() - started, 2)
  return record


def main(argv: Optional[List[str]] = None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  args = arg_parser().parse_args(argv)
  try:
    check(args)
    record = finetune(args)
  except (ValueError, OSError) as exc:
    print(f'error: {exc}', file=sys.stderr)
    return 2
  print(f"fine-tuned {record['examples']} examples ({record['entities']} "
        f"entities), {args.steps} steps in {record['seconds']:.1f}s -> {args.out}")
  return 0


if __name__ == '__main__':
  sys.exit(main())
