"""Measurements: bare gliner, encoder only, the job (in-process and
multi-process), plus the instrumentation that splits job time by stage.

All functions return plain dicts (JSON-ready). Times are wall-clock
``time.perf_counter`` seconds; with ``reps > 1`` every timed call is repeated
and the best (minimum) and median are kept -- the machine this was written on
shares its 2 cores with other jobs, and the minimum is the least disturbed
run.
"""
from __future__ import annotations

import contextlib
import functools
import os
import statistics
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence

REPO = Path(__file__).resolve().parent.parent
PROBE_DIR = Path(__file__).resolve().parent / '_probe'


# --------------------------------------------------------------------------
# Instrumentation: where does the time go?
# --------------------------------------------------------------------------
class Timers:
  """Accumulated seconds and call counts per stage name."""

  def __init__(self):
    self.seconds: Dict[str, float] = defaultdict(float)
    self.calls: Dict[str, int] = defaultdict(int)

  def add(self, key: str, seconds: float) -> None:
    self.seconds[key] += seconds
    self.calls[key] += 1

  def as_dict(self) -> Dict[str, Any]:
    return {
        key: {'s': round(self.seconds[key], 4), 'calls': self.calls[key]}
        for key in sorted(self.seconds)
    }


def _sync_cuda() -> None:
  import torch
  if torch.cuda.is_available() and torch.cuda.is_initialized():
    torch.cuda.synchronize()


@contextlib.contextmanager
def instrument(timers: Timers):
  """Wrap the stages of gliner and of the job with timers (in this process).

  gliner (nested): ``inference`` > ``prepare_batch`` (word splitting),
  ``collate_batch`` (subword tokenisation + tensors), ``run_batch`` (model
  forward) > ``encoder`` (the transformer, ``token_rep_layer``),
  ``decode_batch`` (span decoding). Job: ``plan`` (PlanModelCallsFn: word
  splitting + subword counting + windowing), ``run_inference`` (the
  handler's whole call, which contains gliner's ``inference``), ``merge``
  (merge_document), ``load`` (model build). The rest of a job's wall time is
  Beam itself, Parquet I/O and process start-up.
  """
  from gliner.model import BaseEncoderGLiNER
  from gliner.modeling.encoder import Encoder
  import model_handler.handler as handler_mod
  import model_handler.loading as loading_mod
  import transforms.merge_windows as merge_mod
  import transforms.prepare as prepare_mod

  patches = []

  def wrap(owner, attr: str, key: str, sync: bool = False):
    original = getattr(owner, attr)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
      started = time.perf_counter()
      try:
        return original(*args, **kwargs)
      finally:
        if sync:
          _sync_cuda()
        timers.add(key, time.perf_counter() - started)

    patches.append((owner, attr, owner.__dict__[attr]))
    setattr(owner, attr, wrapper)

  wrap(BaseEncoderGLiNER, 'inference', 'gliner.inference', sync=True)
  wrap(BaseEncoderGLiNER, 'prepare_batch', 'gliner.prepare_batch')
  wrap(BaseEncoderGLiNER, 'collate_batch', 'gliner.collate_batch')
  wrap(BaseEncoderGLiNER, 'run_batch', 'gliner.run_batch', sync=True)
  wrap(BaseEncoderGLiNER, 'decode_batch', 'gliner.decode_batch')
  wrap(Encoder, 'forward', 'gliner.encoder', sync=True)
  wrap(prepare_mod.PlanModelCallsFn, '_calls_for', 'job.plan')
  wrap(prepare_mod.PlanModelCallsFn, 'setup', 'job.plan_setup')
  wrap(handler_mod.GlinerModelHandler, 'run_inference', 'job.run_inference')
  wrap(merge_mod, 'merge_document', 'job.merge')
  wrap(loading_mod, '_build', 'job.load')
  try:
    yield timers
  finally:
    for owner, attr, original in reversed(patches):
      setattr(owner, attr, original)


def breakdown(timers: Dict[str, Dict], wall: float) -> Dict[str, float]:
  """Exclusive shares of `wall` (seconds) from nested timers."""
  s = {k: v['s'] for k, v in timers.items()}
  get = lambda k: s.get(k, 0.0)  # noqa: E731
  inference = get('gliner.inference')
  encoder = get('gliner.encoder')
  out = {
      'encoder': encoder,
      'heads (run_batch - encoder)': get('gliner.run_batch') - encoder,
      'tokenise+collate': get('gliner.collate_batch'),
      'word split (prepare_batch)': get('gliner.prepare_batch'),
      'decode': get('gliner.decode_batch'),
      'gliner other': inference - get('gliner.run_batch') -
                      get('gliner.collate_batch') -
                      get('gliner.prepare_batch') - get('gliner.decode_batch'),
  }
  if 'job.run_inference' in s:
    out['handler (run_inference - gliner)'] = get('job.run_inference') - inference
    out['plan (windowing + measuring)'] = get('job.plan')
    out['plan setup (tokenizer load)'] = get('job.plan_setup')
    out['merge'] = get('job.merge')
    out['model load'] = get('job.load')
    accounted = (get('job.run_inference') + get('job.plan') +
                 get('job.plan_setup') + get('job.merge') + get('job.load'))
    out['beam + io + other'] = wall - accounted
  else:
    out['outside gliner'] = wall - inference
  return {k: round(v, 3) for k, v in out.items()}


def cpu_seconds() -> float:
  t = os.times()
  return t.user + t.system + t.children_user + t.children_system


def simulated_padding(calls, budget: int, buffers=(1, 2, 4, 8)):
  """Padding fraction of the job's batching, simulated on its own calls in
  arrival order: BatchElements fills a batch up to `k x budget` subwords,
  then `padded_groups` splits it into length-sorted groups of <= `budget`
  padded subwords. k = 1 is what the job does today."""
  from model_handler.handler import padded_groups
  out = {}
  for k in buffers:
    real = padded = 0
    chunk, used = [], 0
    chunks = []
    for call in calls:
      if chunk and used + call.cost > k * budget:
        chunks.append(chunk)
        chunk, used = [], 0
      chunk.append(call)
      used += call.cost
    if chunk:
      chunks.append(chunk)
    for chunk in chunks:
      for group in padded_groups(chunk, budget):
        real += sum(c.cost for c in group)
        padded += max(c.cost for c in group) * len(group)
    out[f'buffer_{k}x_budget'] = round(1 - real / padded, 4) if padded else 0.0
  return out


# --------------------------------------------------------------------------
# Repetition helpers
# --------------------------------------------------------------------------
def repeat(fn: Callable[[], Dict[str, Any]], reps: int,
           key: str = 'wall_s') -> Dict[str, Any]:
  """Run `fn` `reps` times; keep the result of the fastest run, plus the
  list of all times and their median."""
  results = [fn() for _ in range(max(1, reps))]
  best = min(results, key=lambda r: r[key])
  out = dict(best)
  times = [r[key] for r in results]
  out[key + '_all'] = [round(t, 3) for t in times]
  out[key + '_median'] = round(statistics.median(times), 3)
  return out


# --------------------------------------------------------------------------
# Bare gliner and the encoder alone
# --------------------------------------------------------------------------
def load_model(model_dir: Path, device: str, dtype: str):
  """The model exactly as the job loads it (then forgotten by the job's
  per-process cache, so job runs still build their own)."""
  from model_handler import loading
  started = time.perf_counter()
  model = loading.load_gliner(str(model_dir), device, dtype)
  seconds = time.perf_counter() - started
  loading.clear_model_cache()
  return model, seconds


def bare_inference(model, texts: Sequence[str], labels: Sequence[str],
                   threshold: float, batch_size: int = 8) -> Dict[str, Any]:
  """`model.inference(texts, labels, batch_size=8)`: gliner as users call it.

  Texts over max_len words are truncated by gliner (counted here)."""
  timers = Timers()
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    with instrument(timers):
      cpu0 = cpu_seconds()
      started = time.perf_counter()
      predictions = model.inference(
          list(texts), list(labels), threshold=threshold,
          batch_size=batch_size)
      _sync_cuda()
      wall = time.perf_counter() - started
      cpu = cpu_seconds() - cpu0
  truncated = sum(1 for w in caught if 'truncated' in str(w.message))
  timer_dict = timers.as_dict()
  return {
      'wall_s': wall,
      'docs': len(texts),
      'docs_per_s': len(texts) / wall,
      'entities': sum(len(p) for p in predictions),
      'cpu_per_wall': round(cpu / wall, 2),
      'truncated_docs': truncated,
      'batch_size': batch_size,
      'breakdown_s': breakdown(timer_dict, wall),
      '_predictions': predictions,
  }


def collate(model, texts: Sequence[str], labels, batch_size: int):
  """gliner's own tensors for `texts` in batches of `batch_size` (input
  order), exactly what `inference` would feed the encoder."""
  batches = []
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    for i in range(0, len(texts), batch_size):
      prepared = model.prepare_batch(list(texts[i:i + batch_size]), labels)
      batch = model.collate_batch(prepared['input_x'],
                                  prepared['entity_types'])
      batches.append((batch['input_ids'], batch['attention_mask']))
  return batches


def collate_groups(model, groups) -> List:
  """Tensors of the job's own calls, grouped as `groups` (lists of
  ModelCall); each group shares one label set."""
  from model_handler.handler import labels_argument
  batches = []
  for group in groups:
    prepared = model.prepare_batch([c.text for c in group],
                                   labels_argument(group[0].labels))
    batch = model.collate_batch(prepared['input_x'], prepared['entity_types'])
    batches.append((batch['input_ids'], batch['attention_mask']))
  return batches


def padding_stats(batches) -> Dict[str, Any]:
  real = sum(int(mask.sum()) for _, mask in batches)
  padded = sum(int(mask.numel()) for _, mask in batches)
  return {
      'batches': len(batches),
      'subwords': real,
      'padded_subwords': padded,
      'padding_fraction': round(1 - real / padded, 4) if padded else 0.0,
  }


def encoder_only(model, batches) -> Dict[str, Any]:
  """Time only the transformer (`model.model.token_rep_layer`) over
  pre-collated batches: no word splitting, tokenisation, heads or decoding."""
  import torch
  device = model.device
  moved = [(ids.to(device), mask.to(device)) for ids, mask in batches]
  encoder = model.model.token_rep_layer
  _sync_cuda()
  with torch.inference_mode():
    started = time.perf_counter()
    for ids, mask in moved:
      encoder(ids, mask)
    _sync_cuda()
    wall = time.perf_counter() - started
  stats = padding_stats(batches)
  return {
      'wall_s': wall,
      'tokens_per_s': stats['subwords'] / wall,
      **stats,
  }


def job_calls(model_dir: Path, texts: Sequence[str], argv: List[str]):
  """The job's own ModelCalls for `texts` (PlanModelCallsFn outside Beam)."""
  import apache_beam as beam
  from pipeline.run import parse
  from transforms.prepare import PlanModelCallsFn
  from common.records import Document
  config, _ = parse(argv)
  fn = PlanModelCallsFn(str(model_dir), config.tasks, config.window_overlap)
  fn.setup()
  calls = []
  for i, text in enumerate(texts):
    for out in fn.process(Document(f'doc#{i}', f'd{i}', text, {})):
      if not isinstance(out, beam.pvalue.TaggedOutput):
        calls.append(out)
  return calls, config


# --------------------------------------------------------------------------
# The job
# --------------------------------------------------------------------------
def job_argv(input_glob: str, output: str, model_dir: Path,
             labels: Sequence[str], threshold: float, max_batch_tokens: int,
             device: str, dtype: str, extra: Sequence[str] = ()) -> List[str]:
  return [
      '--input', input_glob, '--output', output, '--labels', ','.join(labels),
      '--model', str(model_dir), '--threshold', str(threshold),
      '--max_batch_tokens', str(max_batch_tokens), '--device', device,
      '--dtype', dtype, *extra
  ]


def run_job(argv: List[str], multi_process: bool = False) -> Dict[str, Any]:
  """One job run in this process, as `python -m pipeline` runs it
  (`pipeline.run.parse` + `pipeline.run.run_job`, i.e. `main` without the
  printing), timed from parsing to the end of the run."""
  from model_handler import loading
  from pipeline.run import parse, run_job as pipeline_run_job

  loading.clear_model_cache()  # a fresh job builds its model
  loads_before = loading.LOAD_COUNT['loads']
  timers = Timers()
  env_before = {k: os.environ.get(k) for k in ('PYTHONPATH', 'BENCH_LOAD_LOG')}
  load_log = None
  if multi_process:
    handle, load_log = tempfile.mkstemp(prefix='bench-loads-', suffix='.txt')
    os.close(handle)
    os.environ['BENCH_LOAD_LOG'] = load_log
    os.environ['PYTHONPATH'] = os.pathsep.join(
        p for p in (str(PROBE_DIR), str(REPO), env_before['PYTHONPATH']) if p)
  try:
    with instrument(timers):
      cpu0 = cpu_seconds()
      started = time.perf_counter()
      config, options = parse(argv)
      summary = pipeline_run_job(config, options)
      wall = time.perf_counter() - started
      cpu = cpu_seconds() - cpu0
  finally:
    for key, value in env_before.items():
      if value is None:
        os.environ.pop(key, None)
      else:
        os.environ[key] = value
  loading.clear_model_cache()
  counters = summary.counters
  docs = counters.get('documents_read', 0)
  subwords = counters.get('subwords', 0)
  padded = counters.get('padded_subwords', 0)
  result = {
      'wall_s': wall,
      'job_summary_s': summary.seconds,
      'docs': docs,
      'docs_enriched': counters.get('documents_enriched', 0),
      'docs_dead_lettered': counters.get('documents_dead_lettered', 0),
      'docs_per_s': docs / wall if wall else 0.0,
      'windows': counters.get('windows', 0),
      'model_calls': counters.get('model_calls', 0),
      'subwords': subwords,
      'padded_subwords': padded,
      'padding_fraction': round(1 - subwords / padded, 4) if padded else None,
      'tokens_per_s': subwords / wall if wall else 0.0,
      'entities': sum(summary.by_label.get('entities', {}).values()),
      'loads_in_this_process': loading.LOAD_COUNT['loads'] - loads_before,
      # CPU seconds (this process + finished worker subprocesses) per wall
      # second: ~torch threads when the machine is not shared, lower when
      # other tenants take the cores.
      'cpu_per_wall': round(cpu / wall, 2) if wall else None,
  }
  if multi_process:
    pids: Dict[str, int] = defaultdict(int)
    with open(load_log, encoding='utf-8') as handle:
      for line in handle:
        if line.strip():
          pids[line.split()[0]] += 1
    os.unlink(load_log)
    result['worker_loads'] = dict(pids)
    result['worker_processes_that_loaded'] = len(pids)
    result['max_loads_per_worker'] = max(pids.values()) if pids else 0
  else:
    timer_dict = timers.as_dict()
    result['breakdown_s'] = breakdown(timer_dict, wall)
  return result


def read_entities(output: str):
  """The job's entities table as a list of dicts."""
  from pipeline.readers import read_table
  return read_table(output, 'entities').to_pylist()


def profile_job(argv: List[str], top: int = 30) -> Dict[str, Any]:
  """cProfile of one in-process job run: the top functions by cumulative and
  by own time (profiling slows Python-heavy parts; shares are indicative)."""
  import cProfile
  import io
  import pstats
  from model_handler import loading
  from pipeline.run import parse, run_job as pipeline_run_job
  loading.clear_model_cache()
  profiler = cProfile.Profile()
  started = time.perf_counter()
  profiler.enable()
  try:
    config, options = parse(argv)
    pipeline_run_job(config, options)
  finally:
    profiler.disable()
  wall = time.perf_counter() - started
  loading.clear_model_cache()
  out = {'wall_s': round(wall, 3)}
  for sort in ('cumulative', 'tottime'):
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats(sort).print_stats(top)
    lines = [line for line in stream.getvalue().splitlines()
             if line.strip()]
    out[sort] = lines[-(top + 1):]
  return out


# --------------------------------------------------------------------------
# Bare gliner reading every word, as a careful user would call it
# --------------------------------------------------------------------------
def word_pieces(texts: Sequence[str], max_len: int) -> List[str]:
  """Every text cut into pieces of at most `max_len` words (gliner's word
  splitter, cut at word boundaries, no overlap): what a user does to make
  bare gliner read whole documents instead of their first `max_len` words."""
  from common.text import words_with_offsets
  pieces = []
  for text in texts:
    words = words_with_offsets(text)
    for i in range(0, len(words), max_len):
      chunk = words[i:i + max_len]
      pieces.append(text[chunk[0][1]:chunk[-1][2]])
  return pieces


def bare_same_words(model, texts: Sequence[str], labels: Sequence[str],
                    threshold: float, batch_size: int = 8) -> Dict[str, Any]:
  """Bare `inference` over the documents cut into max_len-word pieces: the
  same words the job reads. docs/s counts the documents, not the pieces."""
  pieces = word_pieces(texts, int(model.config.max_len))
  out = bare_inference(model, pieces, labels, threshold, batch_size)
  out['pieces'] = len(pieces)
  out['docs'] = len(texts)
  out['docs_per_s'] = len(texts) / out['wall_s']
  return out


# --------------------------------------------------------------------------
# GPU memory
# --------------------------------------------------------------------------
class GpuMemory:
  """Peak GPU memory over a block: torch's allocator peak in this process and,
  from `nvidia-smi` polled every 0.2 s, the device-wide peak (which also sees
  the processes that hold `--model_copies` models). Empty off CUDA."""

  def __init__(self):
    import threading
    self._stop = threading.Event()
    self._thread = None
    self.peak_used_mib = None
    self.torch_peak_mib = None

  def _poll(self):
    import subprocess
    while not self._stop.is_set():
      try:
        out = subprocess.run(
            ['nvidia-smi', '--query-gpu=memory.used',
             '--format=csv,noheader,nounits'], capture_output=True, text=True,
            timeout=5, check=True).stdout.split()
        used = int(out[0])
        self.peak_used_mib = max(self.peak_used_mib or 0, used)
      except (OSError, ValueError, IndexError, Exception):  # pylint: disable=broad-except
        return
      self._stop.wait(0.2)

  def __enter__(self):
    import threading
    import torch
    if torch.cuda.is_available():
      torch.cuda.reset_peak_memory_stats()
      self._thread = threading.Thread(target=self._poll, daemon=True)
      self._thread.start()
    return self

  def __exit__(self, *exc):
    import torch
    if self._thread is not None:
      self._stop.set()
      self._thread.join(timeout=6)
      self.torch_peak_mib = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return False

  def as_dict(self) -> Dict[str, Any]:
    return {'torch_peak_mib': self.torch_peak_mib,
            'device_peak_used_mib': self.peak_used_mib}
