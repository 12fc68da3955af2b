"""RunInference ModelHandler that runs GLiNER over prompted windows.

Batches are sized by subwords (`element_size_fn` = call cost, since Beam
2.77's `max_batch_weight` is broken), regrouped by label set (and decoding
settings) and by length so padding stays small, and isolated per call when a
batch fails, so one bad window never dead-letters its neighbours. Every task
and stage goes through this one handler and one model per process.

Calls arrive with their encoder inputs prepared (model_handler.features), so
the model stage runs no tokenizer: it stacks a group, hands it to a device
thread for the forward pass, stacks the next group meanwhile, and decodes the
previous group on CPU logits while the next forward runs
(model_handler.batching). Architectures without prepared inputs, and a
model shared across processes (`large_model`), go through gliner's own
`inference()`.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import threading
import time
from collections import defaultdict, deque
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from model_handler import batching
from model_handler.loading import load_gliner
from common.metrics import NAMESPACE
from common.records import CallResult, Entity, ModelCall

_LOG = logging.getLogger(__name__)


# Beam batches hold this many model batches' worth of subwords, so sorting
# them by length before splitting (padded_groups) leaves little padding:
# measured on a mixed-length corpus, padding fell from 29 % (x1) to 15 % (x4).
SORT_BUFFER_BATCHES = 4


def call_cost(call: ModelCall) -> int:
  """Batch weight of a call: the subwords the encoder will process."""
  return call.cost


def padded_groups(calls: Sequence[ModelCall],
                  max_tokens: int) -> List[List[ModelCall]]:
  """Split calls that share a label set into length-sorted sub-batches
  whose padded size (longest x count) stays within `max_tokens`."""
  groups: List[List[ModelCall]] = []
  current: List[ModelCall] = []
  for call in sorted(calls, key=call_cost):
    longest = call_cost(call)  # ascending order: the newest is longest
    if current and longest * (len(current) + 1) > max_tokens:
      groups.append(current)
      current = []
    current.append(call)
  if current:
    groups.append(current)
  return groups


def labels_argument(labels):
  """gliner's label argument: names, or name -> description prompts."""
  if all(name == prompt for name, prompt in labels):
    return [name for name, _ in labels]
  return dict(labels)


_FORWARD = {'pid': None, 'executor': None}
_FORWARD_LOCK = threading.Lock()


def forward_thread() -> concurrent.futures.ThreadPoolExecutor:
  """The process's one device thread: every handler (both RunInference
  stages, every bundle) queues its forward passes on it, so the device runs
  one batch at a time and no run leaves a thread behind. A forked child
  gets its own (the parent's thread does not exist there)."""
  with _FORWARD_LOCK:
    if _FORWARD['pid'] != os.getpid():
      _FORWARD['executor'] = concurrent.futures.ThreadPoolExecutor(
          max_workers=1, thread_name_prefix='gliner-forward')
      _FORWARD['pid'] = os.getpid()
    return _FORWARD['executor']


class GlinerModelHandler(ModelHandler[ModelCall, PredictionResult, Any]):
  """Loads one GLiNER model per worker process and runs prompted windows."""

  def __init__(
      self,
      model_ref: str,
      *,
      max_batch_tokens: int = 4096,
      device: str = 'auto',
      dtype: str = 'float32',
      num_threads: Optional[int] = None,
      large_model: bool = False,
      model_copies: Optional[int] = None,
      compile_model: bool = False,
      sort_buffer_batches: int = SORT_BUFFER_BATCHES,
      revision: Optional[str] = None,
      trust_remote_code: bool = False,
      quantize: str = 'none'):
    # min == max: a fixed subword budget instead of Beam's adaptive sizing,
    # which would start at one element per batch. Each Beam batch is then
    # split into model batches of `max_batch_tokens` padded subwords.
    super().__init__(
        min_batch_size=max_batch_tokens * sort_buffer_batches,
        max_batch_size=max_batch_tokens * sort_buffer_batches,
        element_size_fn=call_cost,
        large_model=large_model,
        model_copies=model_copies)
    self._model_ref = model_ref
    self._max_batch_tokens = max_batch_tokens
    self._device = device
    self._dtype = dtype
    self._num_threads = num_threads
    self._compile = compile_model
    self._revision = revision
    self._trust_remote_code = trust_remote_code
    self._quantize = quantize
    self._metrics = None
    self._labels = None
    self._prepared_ok: Dict[int, bool] = {}

  def __getstate__(self):
    # per-process state (a thread, cached embeddings) is never shipped
    state = dict(self.__dict__)
    state.update(_metrics=None, _labels=None, _prepared_ok={})
    return state

  def load_model(self):
    return load_gliner(self._model_ref, self._device, self._dtype,
                       self._num_threads, self._compile, self._revision,
                       self._trust_remote_code, self._quantize)

  def _batch_metrics(self):
    """Created lazily: Metrics objects are per process, not pickled state."""
    if self._metrics is None:
      self._metrics = {
          'calls': Metrics.distribution(NAMESPACE, 'batch_calls'),
          'subwords': Metrics.counter(NAMESPACE, 'subwords'),
          'padded': Metrics.counter(NAMESPACE, 'padded_subwords'),
          'latency': Metrics.distribution(NAMESPACE, 'group_latency_ms'),
      }
    return self._metrics

  def run_inference(
      self,
      batch: Sequence[ModelCall],
      model: Any,
      inference_args: Optional[Dict[str, Any]] = None
  ) -> Iterable[PredictionResult]:
    if not batch:  # element_size_fn batching can emit empty batches
      return []
    metrics = self._batch_metrics()
    metrics['calls'].update(len(batch))
    by_settings: Dict[tuple, List[ModelCall]] = defaultdict(list)
    for call in batch:
      by_settings[(call.labels, call.threshold, call.flat_ner,
                   call.multi_label)].append(call)
    groups = [group for calls in by_settings.values()
              for group in padded_groups(calls, self._max_batch_tokens)]
    results: Dict[int, CallResult] = {}
    for group, group_results, seconds in self._run_groups(model, groups):
      for call, result in zip(group, group_results):
        results[id(call)] = result
      metrics['latency'].update(int(seconds * 1000))
      metrics['subwords'].inc(sum(map(call_cost, group)))
      metrics['padded'].inc(max(map(call_cost, group)) * len(group))
    out = []
    for call in batch:
      # results never need the encoder input: do not carry it downstream
      bare = dataclasses.replace(call, inputs=None)
      out.append(PredictionResult(
          bare, dataclasses.replace(results[id(call)], call=bare),
          self._model_ref))
    return out

  # ---- prepared inputs: stack | forward (device thread) | decode -------
  def _prepared(self, model, group: Sequence[ModelCall]) -> bool:
    key = id(model)
    if key not in self._prepared_ok:
      self._prepared_ok[key] = batching.supports_prepared_inputs(model)
    return self._prepared_ok[key] and all(c.inputs is not None for c in group)

  def _run_groups(self, model, groups
                  ) -> Iterator[Tuple[List[ModelCall], List[CallResult], float]]:
    """Results per group, in order, with at most two forward passes queued:
    while the device thread runs group n, this thread stacks group n+1 and
    decodes group n-1."""
    pending = deque()
    for group in groups:
      started = time.perf_counter()
      if not self._prepared(model, group):
        yield from self._drain(model, pending)
        yield group, self._infer_isolated(model, group), (
            time.perf_counter() - started)
        continue
      pending.append((group, self._launch(model, group), started))
      if len(pending) > 1:
        yield self._finish(model, *pending.popleft())
    yield from self._drain(model, pending)

  def _drain(self, model, pending):
    while pending:
      yield self._finish(model, *pending.popleft())

  def _forward_thread(self) -> concurrent.futures.ThreadPoolExecutor:
    return forward_thread()

  def _launch(self, model, group: Sequence[ModelCall]):
    """Stack `group` here and queue its forward pass on the device thread;
    a failure to stack becomes the future's exception."""
    try:
      stacked = self._stack(model, group)
      label_embeds = self._label_embeds(model, group[0])
    except Exception as exc:  # pylint: disable=broad-except
      failed = concurrent.futures.Future()
      failed.set_exception(exc)
      return failed
    import torch
    return self._forward_thread().submit(batching.forward, model, stacked,
                                         group[0].threshold, label_embeds,
                                         torch.get_num_threads())

  def _stack(self, model, group: Sequence[ModelCall]):
    processor = model.data_processor
    tokenizer = processor.transformer_tokenizer
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    stacked = batching.stack(
        [c.inputs for c in group], pad_id,
        getattr(tokenizer, 'padding_side', 'right') == 'left',
        model.config.span_mode != 'token_level', int(model.config.max_width))
    return batching.to_device(stacked, model.device)

  def _label_embeds(self, model, call: ModelCall):
    if not batching.is_bi_encoder(model):
      return None
    if self._labels is None:
      self._labels = batching.LabelEmbeddings()
    prompts, _ = batching.label_prompts(call.labels)
    return self._labels.get(model, prompts)

  def _finish(self, model, group, future, started):
    try:
      output = future.result()
      results = batching.decode(model, group, output, group[0])
    except Exception:  # pylint: disable=broad-except
      if len(group) > 1:
        _LOG.warning('batch of %d calls failed; retrying one by one',
                     len(group))
      results = [self._one_prepared(model, call) for call in group]
    return group, results, time.perf_counter() - started

  def _one_prepared(self, model, call: ModelCall) -> CallResult:
    try:
      output = batching.forward(model, self._stack(model, [call]),
                                call.threshold,
                                self._label_embeds(model, call))
      return batching.decode(model, [call], output, call)[0]
    except Exception as exc:  # pylint: disable=broad-except
      return self._failed(call, exc)

  # ---- gliner's own inference() ------------------------------------------
  def _infer_isolated(self, model, group: List[ModelCall]):
    """Run a group; if it fails, retry call by call to find the culprit."""
    if len(group) > 1:
      try:
        return self._infer(model, group)
      except Exception:  # pylint: disable=broad-except
        _LOG.warning('batch of %d calls failed; retrying one by one',
                     len(group))
    out = []
    for call in group:
      try:
        out.extend(self._infer(model, [call]))
      except Exception as exc:  # pylint: disable=broad-except
        out.append(self._failed(call, exc))
    return out

  @staticmethod
  def _failed(call: ModelCall, exc: Exception) -> CallResult:
    _LOG.warning('inference failed for %s window %d (%s): %s',
                 call.window.record_key, call.window.index, call.task, exc)
    return CallResult(call, error=f'{type(exc).__name__}: {exc}'[:500])

  def _infer(self, model, group: List[ModelCall]) -> List[CallResult]:
    first = group[0]
    predictions = model.inference(
        [c.text for c in group],
        labels_argument(first.labels),
        flat_ner=first.flat_ner,
        threshold=first.threshold,
        multi_label=first.multi_label,
        batch_size=len(group))
    return [
        CallResult(
            call,
            spans=tuple(
                Entity(int(p['start']), int(p['end']), p['text'],
                       str(p['label']), float(p['score'])) for p in preds))
        for call, preds in zip(group, predictions)
    ]

  def get_num_bytes(self, batch: Sequence[ModelCall]) -> int:
    return sum(len(c.text.encode('utf-8')) for c in batch)

  def get_metrics_namespace(self) -> str:
    return 'gliner_beam_inference'
