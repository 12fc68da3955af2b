"""Fine-tuning GLiNER span models on CPU with gliner's own data pipeline.

gliner's `train_model` needs `accelerate` (not a dependency here), so this is
a small loop around the pieces gliner trains with: its data collator (word
tokenisation, span enumeration, label prompts, targets) and its model's own
loss (focal/BCE with label smoothing). Used by `selflearning.finetune` and
`selflearning.build_default_model`.

Determinism: `seed_everything` seeds Python's `random` (gliner's collator
samples negative types and shuffles label order with it), numpy and torch,
fixes the thread count and asks torch for deterministic algorithms; data
order comes from a seeded `random.Random`, never from a multi-process loader.
"""
from __future__ import annotations

import glob
import json
import random
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import (Callable, Dict, Iterable, Iterator, List, Optional,
                    Sequence, Tuple)

ENCODER_PARAM_MARK = 'token_rep_layer'
# With a time budget, the step count is re-planned this often.
REPLAN_EVERY = 100


@dataclass
class TrainSettings:
  steps: int = 100
  batch_size: int = 8
  lr_encoder: float = 1e-5
  lr_others: float = 5e-5
  weight_decay: float = 0.01
  warmup_ratio: float = 0.1
  max_grad_norm: float = 1.0
  label_smoothing: float = 0.0
  focal_alpha: float = -1.0  # -1: no class balancing
  focal_gamma: float = 0.0  # 0 with alpha -1: plain BCE
  loss_reduction: str = 'sum'
  seed: int = 42
  threads: int = 2
  log_every: int = 25
  # 'cpu' (deterministic) or 'cuda' (bf16 autocast, faster, not bit-exact).
  device: str = 'cpu'
  # Collate in this many loader processes (0: in process, repeatable).
  loader_workers: int = 0
  # Stop within about this many seconds (re-plans the step count).
  time_budget_s: Optional[float] = None

  def as_dict(self) -> Dict:
    return asdict(self)


def seed_everything(seed: int, threads: Optional[int] = 2) -> None:
  import numpy as np
  import torch
  random.seed(seed)
  np.random.seed(seed)
  torch.manual_seed(seed)
  if threads:
    torch.set_num_threads(threads)
  try:
    # warn_only: a CUDA op without a deterministic kernel warns; CPU
    # training stays bit-exact.
    torch.use_deterministic_algorithms(True, warn_only=True)
  except Exception as exc:  # pragma: no cover
    print(f'warning: deterministic algorithms unavailable: {exc}',
          file=sys.stderr)


def load_model(model_dir: str):
  from gliner import GLiNER
  return GLiNER.from_pretrained(str(model_dir), local_files_only=True)


def validate_example(example: Dict, where: str = '') -> None:
  """The gliner training format, checked before a long run."""
  tokens = example.get('tokenized_text')
  if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
    raise ValueError(f'{where}: tokenized_text must be a list of strings')
  if not isinstance(example.get('ner'), list):
    raise ValueError(f'{where}: ner must be a list')
  for item in example['ner']:
    if (not isinstance(item, (list, tuple)) or len(item) != 3
        or not isinstance(item[0], int) or not isinstance(item[1], int)
        or not 0 <= item[0] <= item[1] < len(tokens)
        or not isinstance(item[2], str)):
      raise ValueError(f'{where}: bad ner entry {item!r} '
                       f'({len(tokens)} words)')


def load_examples(patterns: Sequence[str]) -> List[Dict]:
  """JSONL files (or globs, or a JSON list file) -> examples, in a canonical
  order (sorted by `id`, else by content) so shard order never matters."""
  examples = []
  for pattern in patterns:
    paths = sorted(glob.glob(pattern)) or [pattern]
    for path in paths:
      with open(path, encoding='utf-8') as handle:
        text = handle.read()
      if text.lstrip().startswith('['):
        items = json.loads(text)
      else:
        items = [json.loads(line) for line in text.splitlines() if line.strip()]
      for i, item in enumerate(items):
        validate_example(item, f'{path}:{i + 1}')
        examples.append(item)
  examples.sort(key=lambda e: (str(e.get('id', '')),
                               json.dumps(e, sort_keys=True)))
  return examples


def epoch_batches(examples: Sequence[Dict], batch_size: int,
                  rng: random.Random) -> Iterator[List[Dict]]:
  """Endless batches: each epoch a fresh seeded shuffle of all examples."""
  if not examples:
    raise ValueError('no training examples')
  while True:
    order = list(range(len(examples)))
    rng.shuffle(order)
    for i in range(0, len(order), batch_size):
      yield [examples[j] for j in order[i:i + batch_size]]


def param_groups(model, settings: TrainSettings):
  encoder, others = [], []
  for name, param in model.model.named_parameters():
    (encoder if ENCODER_PARAM_MARK in name else others).append(param)
  return [
      {'params': encoder, 'lr': settings.lr_encoder,
       'weight_decay': settings.weight_decay},
      {'params': others, 'lr': settings.lr_others,
       'weight_decay': settings.weight_decay},
  ]


def collated(model, batches: Iterable[List[Dict]], steps: int,
             workers: int) -> Iterator[Dict]:
  """gliner's collator over `steps` batches: in this process (the
  deterministic CPU path), or in `workers` loader processes so that the CPU
  side keeps a GPU fed. Batches are drawn in this process first, so their
  order and content do not depend on the workers."""
  collator = model._create_data_collator()  # pylint: disable=protected-access
  iterator = iter(batches)
  if workers <= 0:
    for _ in range(steps):
      yield collator(next(iterator))
    return
  from torch.utils.data import DataLoader
  drawn = [next(iterator) for _ in range(steps)]
  yield from DataLoader(drawn, batch_size=None, num_workers=workers,
                        collate_fn=collator, prefetch_factor=4,
                        pin_memory=True)


def train(model, batches: Iterable[List[Dict]], settings: TrainSettings,
          log: Callable[[str], None] = print,
          replay_plan: Optional[Sequence[Sequence[int]]] = None) -> Dict:
  """Run `settings.steps` optimizer steps over `batches` (an iterator of
  lists of examples); the model is left on the CPU in eval mode with frozen
  grads.

  With `settings.time_budget_s`, the step count is re-planned after 30 steps
  and every REPLAN_EVERY steps after (from the mean rate since step 10) so
  that training ends within the budget (the learning-rate schedule follows
  the new count); the count then depends on the machine's speed, so every
  re-plan is recorded as [step, planned total]. `replay_plan` applies such a
  record at the same points of the loop instead (no timing involved): the
  same model, batches, settings and plan give the same weights on CPU.

  -> {'losses': per-log-interval mean losses, 'steps': ..., 'seconds': ...,
      'step_plan': [[step, planned total], ...]}.
  """
  import contextlib

  import torch
  if replay_plan is not None and settings.time_budget_s:
    raise ValueError('a replayed step plan and a time budget exclude each '
                     'other (the budget would plan anew)')
  replayed = dict(check_step_plan(replay_plan or [], settings.steps))
  step_plan: List[List[int]] = []
  device = torch.device(settings.device)
  model.model.to(device)
  model.train()
  autocast = (lambda: torch.autocast('cuda', dtype=torch.bfloat16)
              ) if device.type == 'cuda' else contextlib.nullcontext
  optimizer = torch.optim.AdamW(param_groups(model, settings))
  plan = {'steps': settings.steps}
  warm = max(1, int(settings.warmup_ratio * settings.steps))
  scheduler = torch.optim.lr_scheduler.LambdaLR(
      optimizer, lambda s: (s + 1) / warm if s < warm else max(
          0.0, (plan['steps'] - s) / max(1, plan['steps'] - warm)))
  started = time.time()
  losses, running, logged = [], torch.zeros((), device=device), 0
  every = max(1, settings.log_every)
  step = 0
  for inputs in collated(model, batches, settings.steps,
                         settings.loader_workers):
    if step >= plan['steps']:
      break
    inputs = {k: v.to(device, non_blocking=True)
              for k, v in inputs.items() if isinstance(v, torch.Tensor)}
    with autocast():
      out = model.model(**inputs, reduction=settings.loss_reduction,
                        loss_type='focal', alpha=settings.focal_alpha,
                        gamma=settings.focal_gamma,
                        label_smoothing=settings.label_smoothing)
    loss = out.loss
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if settings.max_grad_norm:
      torch.nn.utils.clip_grad_norm_(model.model.parameters(),
                                     settings.max_grad_norm)
    optimizer.step()
    scheduler.step()
    running += loss.detach().float()
    logged += 1
    step += 1
    if step == 10:
      tenth = time.time()
    if settings.time_budget_s and (step == 30 or (
        step > 30 and step % REPLAN_EVERY == 0)):
      # the mean rate since step 10: the first ones also pay for starting
      # the loader workers and warming the GPU; re-planned every
      # REPLAN_EVERY steps, as a shared CPU's speed changes with its load
      rate = (time.time() - tenth) / (step - 10)
      left = settings.time_budget_s - (time.time() - started)
      plan['steps'] = max(step, warm + 1, min(settings.steps, step + int(
          left / rate)))
      step_plan.append([step, plan['steps']])
      log(f'{rate:.3f}s/step: planning {plan["steps"]} steps')
    elif step in replayed:
      plan['steps'] = replayed[step]
      step_plan.append([step, plan['steps']])
      log(f'replayed plan: {plan["steps"]} steps')
    if step % every == 0 or step == plan['steps']:
      mean = running.item() / logged
      losses.append(round(mean, 4))
      log(f'step {step}/{plan["steps"]} loss {mean:.3f} '
          f'({time.time() - started:.0f}s)')
      running.zero_()
      logged = 0
  model.eval()
  model.model.requires_grad_(False)
  model.model.to('cpu')
  return {'losses': losses, 'steps': step, 'step_plan': step_plan,
          'seconds': round(time.time() - started, 2)}


def check_step_plan(plan, max_steps: int) -> List[Tuple[int, int]]:
  """A recorded step plan, checked before a long run: [step, planned total]
  pairs, re-plan steps rising, each reached under the plan before it, no
  total below its step or above `max_steps` (--steps)."""
  if not isinstance(plan, (list, tuple)):
    raise ValueError(f'step plan: a list of [step, planned total] pairs, '
                     f'not {type(plan).__name__}')
  checked: List[Tuple[int, int]] = []
  in_force = max_steps
  for i, entry in enumerate(plan):
    if (not isinstance(entry, (list, tuple)) or len(entry) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool)
                   for v in entry)):
      raise ValueError(f'step plan entry {i}: {entry!r} is not a '
                       '[step, planned total] pair of integers')
    step, total = entry
    if checked and step <= checked[-1][0]:
      raise ValueError(f'step plan entry {i}: step {step} does not follow '
                       f'step {checked[-1][0]}')
    if not 1 <= step <= in_force:
      raise ValueError(f'step plan entry {i}: step {step} is never reached '
                       f'(the plan before it ends at {in_force})')
    if not step <= total <= max_steps:
      raise ValueError(f'step plan entry {i}: total {total} outside '
                       f'[{step}, {max_steps}] (--steps {max_steps})')
    checked.append((step, total))
    in_force = total
  return checked


PLAN_LINE = re.compile(r'^[0-9.]+s/step: planning (\d+) steps')
STEP_LINE = re.compile(r'^step (\d+)/(\d+) loss ')


def plan_from_log(lines: Iterable[str], max_steps: int) -> List[List[int]]:
  """The step plan of a time-budgeted run, rebuilt from its log (for runs
  made before plans were recorded): a re-plan happens at step 30 or a
  multiple of REPLAN_EVERY and is logged before that step's own line, so it
  belongs to the only such step after the step line before it and at or
  before the step line after it. Every step line is then checked against
  the plan (its total is the plan in force at its step)."""
  events = []
  for line in lines:
    if PLAN_LINE.match(line):
      events.append(('plan', int(PLAN_LINE.match(line).group(1))))
    elif STEP_LINE.match(line):
      match = STEP_LINE.match(line)
      events.append(('step', int(match.group(1)), int(match.group(2))))
  plan: List[List[int]] = []
  last_step = 0
  for i, event in enumerate(events):
    if event[0] == 'step':
      last_step = event[1]
      continue
    following = next((e[1] for e in events[i + 1:] if e[0] == 'step'), None)
    if following is None:
      raise ValueError(f'log: a plan of {event[1]} steps with no step line '
                       'after it')
    candidates = [s for s in range(last_step + 1, following + 1)
                  if s == 30 or (s > 30 and s % REPLAN_EVERY == 0)]
    if len(candidates) != 1:
      raise ValueError(f'log: the plan of {event[1]} steps between steps '
                       f'{last_step} and {following} fits steps {candidates}')
    plan.append([candidates[0], event[1]])
  check_step_plan(plan, max_steps)
  for event in events:
    if event[0] == 'step':
      in_force = max_steps
      for step, total in plan:
        if step <= event[1]:
          in_force = total
      if event[2] != in_force:
        raise ValueError(f'log: step {event[1]}/{event[2]} but the plan '
                         f'gives {in_force} there')
  return plan


def save_checkpoint(model, out_dir, fp16: bool = False,
                    model_name: Optional[str] = None,
                    extra_files: Optional[Dict[str, str]] = None) -> Path:
  """`save_pretrained` (safetensors) into a fresh `out_dir`, self-contained
  (gliner_config.json embeds encoder_config; tokenizer files included);
  optionally cast to fp16 on disk. `model_name` replaces the (possibly
  temporary) backbone path recorded in the config."""
  from safetensors.torch import load_file, save_file
  out_dir = Path(out_dir)
  if out_dir.exists():
    shutil.rmtree(out_dir)
  model.save_pretrained(out_dir, safe_serialization=True)
  weights = out_dir / 'model.safetensors'
  if fp16:
    state = load_file(weights)
    state = {k: (v.half() if v.is_floating_point() else v).contiguous()
             for k, v in state.items()}
    save_file(state, weights, metadata={'format': 'pt'})
  max_length = 512
  tc = out_dir / 'tokenizer_config.json'
  if tc.exists():
    conf = json.loads(tc.read_text())
    limit = conf.get('model_max_length')
    if isinstance(limit, int) and limit <= 10 ** 6:
      max_length = limit
    conf['model_max_length'] = max_length
    conf.pop('max_length', None)
    tc.write_text(json.dumps(conf, indent=2, sort_keys=True) + '\n')
  tj = out_dir / 'tokenizer.json'
  if tj.exists():
    # The fast tokenizer's saved state is whatever its last call left (the
    # backbone's own file says truncate and pad to 128): store the state
    # gliner calls it with, so that the file does not depend on where the
    # collator ran.
    conf = json.loads(tj.read_text())
    if conf.get('truncation'):
      conf['truncation']['max_length'] = max_length
    if conf.get('padding'):
      conf['padding']['strategy'] = 'BatchLongest'
    tj.write_text(json.dumps(conf, ensure_ascii=False, indent=2) + '\n')
  if model_name:
    gc = out_dir / 'gliner_config.json'
    conf = json.loads(gc.read_text())
    conf['model_name'] = model_name
    conf.get('encoder_config', {})['_name_or_path'] = model_name
    gc.write_text(json.dumps(conf, indent=2, sort_keys=True) + '\n')
  for junk in ('training_args.bin', ):
    (out_dir / junk).unlink(missing_ok=True)
  for name, content in (extra_files or {}).items():
    (out_dir / name).write_text(content)
  return out_dir


def stored_dtype(model_dir) -> str:
  """'float16' when the checkpoint's weights are stored in half precision."""
  from safetensors import safe_open
  path = Path(model_dir) / 'model.safetensors'
  if not path.exists():
    return 'float32'
  with safe_open(str(path), framework='pt') as handle:
    for key in handle.keys():
      tensor = handle.get_slice(key)
      dtype = str(tensor.get_dtype()).lower()
      if 'f16' in dtype or 'float16' in dtype:
        return 'float16'
      if dtype.startswith('f') or 'float' in dtype:
        return 'float32'
  return 'float32'
