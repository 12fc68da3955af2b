"""RunInference ModelHandler that runs GLiNER over document windows.

Batches are sized by subwords (`element_size_fn` = window cost, since Beam
2.77's `max_batch_weight` is broken), regrouped by label set and length so
padding stays small, and isolated per window when a batch fails, so one bad
window never dead-letters its neighbours.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, Dict, Iterable, List, Optional, Sequence

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from model_handler.loading import load_gliner
from transforms.records import Entity, Window, WindowResult

_LOG = logging.getLogger(__name__)


def window_cost(window: Window) -> int:
  """Batch weight of a window: the subwords the encoder will process."""
  return window.cost


def padded_groups(windows: Sequence[Window],
                  max_tokens: int) -> List[List[Window]]:
  """Split windows that share a label set into length-sorted sub-batches
  whose padded size (longest x count) stays within `max_tokens`."""
  groups: List[List[Window]] = []
  current: List[Window] = []
  for window in sorted(windows, key=window_cost):
    longest = window_cost(window)  # ascending order: the newest is longest
    if current and longest * (len(current) + 1) > max_tokens:
      groups.append(current)
      current = []
    current.append(window)
  if current:
    groups.append(current)
  return groups


class GlinerModelHandler(ModelHandler[Window, PredictionResult, Any]):
  """Loads one GLiNER model per worker process and runs NER on windows."""

  def __init__(
      self,
      model_ref: str,
      *,
      threshold: float = 0.5,
      flat_ner: bool = True,
      multi_label: bool = False,
      max_batch_tokens: int = 4096,
      device: str = 'auto',
      dtype: str = 'float32',
      num_threads: Optional[int] = None,
      large_model: bool = False,
      model_copies: Optional[int] = None):
    # min == max: a fixed subword budget instead of Beam's adaptive sizing,
    # which would start at one element per batch.
    super().__init__(
        min_batch_size=max_batch_tokens,
        max_batch_size=max_batch_tokens,
        element_size_fn=window_cost,
        large_model=large_model,
        model_copies=model_copies)
    self._model_ref = model_ref
    self._threshold = threshold
    self._flat_ner = flat_ner
    self._multi_label = multi_label
    self._max_batch_tokens = max_batch_tokens
    self._device = device
    self._dtype = dtype
    self._num_threads = num_threads

  def load_model(self):
    return load_gliner(self._model_ref, self._device, self._dtype,
                       self._num_threads)

  def run_inference(
      self,
      batch: Sequence[Window],
      model: Any,
      inference_args: Optional[Dict[str, Any]] = None
  ) -> Iterable[PredictionResult]:
    if not batch:  # element_size_fn batching can emit empty batches
      return []
    by_labels: Dict[tuple, List[Window]] = defaultdict(list)
    for window in batch:
      by_labels[window.labels].append(window)
    results: Dict[int, WindowResult] = {}
    for labels, windows in by_labels.items():
      for group in padded_groups(windows, self._max_batch_tokens):
        for window, result in zip(group, self._infer_isolated(model, labels,
                                                                group)):
          results[id(window)] = result
    return [PredictionResult(w, results[id(w)], self._model_ref) for w in batch]

  def _infer_isolated(self, model, labels, group: List[Window]):
    """Run a group; if it fails, retry window by window to find the culprit."""
    if len(group) > 1:
      try:
        return self._infer(model, labels, group)
      except Exception:  # pylint: disable=broad-except
        _LOG.warning('batch of %d windows failed; retrying one by one',
                     len(group))
    out = []
    for window in group:
      try:
        out.extend(self._infer(model, labels, [window]))
      except Exception as exc:  # pylint: disable=broad-except
        _LOG.warning('inference failed for %s window %d: %s',
                     window.record_key, window.index, exc)
        out.append(
            WindowResult(window, error=f'{type(exc).__name__}: {exc}'[:500]))
    return out

  def _infer(self, model, labels, group: List[Window]) -> List[WindowResult]:
    predictions = model.inference(
        [w.text for w in group],
        list(labels),
        flat_ner=self._flat_ner,
        threshold=self._threshold,
        multi_label=self._multi_label,
        batch_size=len(group))
    return [
        WindowResult(
            window,
            entities=tuple(
                Entity(int(p['start']), int(p['end']), p['text'],
                       str(p['label']), float(p['score'])) for p in preds))
        for window, preds in zip(group, predictions)
    ]

  def get_num_bytes(self, batch: Sequence[Window]) -> int:
    return sum(len(w.text.encode('utf-8')) for w in batch)

  def get_metrics_namespace(self) -> str:
    return 'gliner_beam_inference'
