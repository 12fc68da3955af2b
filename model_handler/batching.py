"""The model stage's three steps on prepared inputs: stack, forward, decode.

Inputs arrive ready (model_handler.features); stacking is padding and
concatenation (no tokenizer), the forward pass is the network alone
(`model.model(...)`, what gliner's `run_batch` calls), and decoding is
gliner's own decoder on CPU logits plus the word -> character map of
gliner's `map_entities_to_text`. Bi-encoder label embeddings are computed
once per label set and process (`LabelEmbeddings`), where gliner re-encodes
every label for every batch.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from common.records import CallResult, Entity, ModelCall, ModelInputs
from model_handler.features import label_prompts, span_index

# Label sets whose embeddings a process keeps (a task file has a handful;
# per-document label columns may have many).
LABEL_EMBEDDINGS_KEPT = 256


def supports_prepared_inputs(model) -> bool:
  """The gliner classes whose forward takes exactly the collator's tensors
  model_handler.features builds (and no runtime/ONNX session)."""
  from gliner.model import (BiEncoderSpanGLiNER, BiEncoderTokenGLiNER,
                            UniEncoderSpanGLiNER, UniEncoderTokenGLiNER)
  return (type(model) in (UniEncoderSpanGLiNER, UniEncoderTokenGLiNER,
                          BiEncoderSpanGLiNER, BiEncoderTokenGLiNER) and
          not getattr(model, 'is_runtime_model', False) and
          getattr(model, '_inference_packing_config', None) is None and
          not getattr(model.config, 'precomputed_prompts_mode', False))


def is_bi_encoder(model) -> bool:
  return getattr(model.config, 'labels_encoder', None) is not None


def _pad(rows: Sequence[np.ndarray], width: int, value: int,
         left: bool) -> np.ndarray:
  out = np.full((len(rows), width), value, dtype=np.int64)
  for i, row in enumerate(rows):
    if left:
      out[i, width - len(row):] = row
    else:
      out[i, :len(row)] = row
  return out


def stack(inputs: Sequence[ModelInputs], pad_id: int, pad_left: bool,
          span_level: bool, max_width: int) -> Dict[str, Any]:
  """gliner's collated batch (`padding='longest'`) from prepared windows,
  as CPU tensors; `token_lengths`/`word_lengths` precomputed as the
  collator does, so the forward pass needs no device -> host sync."""
  import torch
  width = max(len(x.input_ids) for x in inputs)
  ids = _pad([x.input_ids for x in inputs], width, pad_id, pad_left)
  attention = _pad([np.ones(len(x.input_ids), dtype=np.int64)
                    for x in inputs], width, 0, pad_left)
  words_mask = _pad([x.words_mask for x in inputs], width, 0, pad_left)
  lengths = [x.text_length for x in inputs]
  batch: Dict[str, Any] = {
      'input_ids': torch.from_numpy(ids),
      'attention_mask': torch.from_numpy(attention),
      'words_mask': torch.from_numpy(words_mask),
      'text_lengths': torch.tensor(lengths, dtype=torch.long).unsqueeze(-1),
  }
  if span_level:
    n_spans = max(lengths) * max_width
    span_idx = np.zeros((len(inputs), n_spans, 2), dtype=np.int64)
    span_mask = np.zeros((len(inputs), n_spans), dtype=bool)
    for i, n in enumerate(lengths):
      spans = span_index(n, max_width)
      span_idx[i, :len(spans)] = spans
      span_mask[i, :len(spans)] = spans[:, 1] <= n - 1
    batch['span_idx'] = torch.from_numpy(span_idx)
    batch['span_mask'] = torch.from_numpy(span_mask)
  batch['token_lengths'] = [len(x.input_ids) for x in inputs]
  batch['word_lengths'] = lengths
  return batch


def to_device(batch: Dict[str, Any], device) -> Dict[str, Any]:
  """Tensors to the model's device: pinned and non-blocking on CUDA, so the
  copy of batch n+1 overlaps the forward pass of batch n."""
  if str(device) == 'cpu':
    return batch
  out = {}
  for key, value in batch.items():
    if hasattr(value, 'pin_memory'):
      value = value.pin_memory().to(device, non_blocking=True)
    out[key] = value
  return out


class LabelEmbeddings:
  """A bi-encoder's label embeddings per label set, computed once per
  process exactly as its forward pass would (one padded batch of the label
  prompts through `encode_labels`)."""

  def __init__(self):
    self._kept: 'OrderedDict[Tuple[str, ...], Any]' = OrderedDict()
    self._lock = threading.Lock()

  def get(self, model, prompts: Sequence[str]):
    key = tuple(prompts)
    with self._lock:
      found = self._kept.get(key)
      if found is not None:
        self._kept.move_to_end(key)
        return found
    import torch
    tokenizer = model.data_processor.labels_tokenizer
    encoded = tokenizer(list(prompts), return_tensors='pt', truncation=True,
                        padding='longest')
    with torch.inference_mode():
      embeds = model.model.token_rep_layer.encode_labels(
          encoded['input_ids'].to(model.device),
          encoded['attention_mask'].to(model.device))
    with self._lock:
      self._kept[key] = embeds
      while len(self._kept) > LABEL_EMBEDDINGS_KEPT:
        self._kept.popitem(last=False)
    return embeds


def forward(model, batch: Dict[str, Any], threshold: float,
            label_embeds=None, threads: int = 0):
  """The network alone on a stacked batch; outputs moved to the CPU.

  `threads`: the caller's torch thread count -- OpenMP keeps it per thread,
  so the device thread would otherwise ignore `--torch_threads` (and
  oversubscribe the cores of a multi-process worker)."""
  import torch
  if threads and torch.get_num_threads() != threads:
    torch.set_num_threads(threads)
  extra = {} if label_embeds is None else {'labels_embeds': label_embeds}
  with torch.inference_mode():
    output = model.model(**batch, threshold=threshold, **extra)
  return {
      'logits': output[0].detach().to('cpu'),
      'span_idx': _cpu(getattr(output, 'span_idx', None)),
      'span_mask': _cpu(getattr(output, 'span_mask', None)),
      'span_logits': _cpu(getattr(output, 'span_logits', None)),
  }


def _cpu(value):
  return value.detach().to('cpu') if hasattr(value, 'detach') else value


def decode(model, calls: Sequence[ModelCall], output: Dict[str, Any],
           first: ModelCall) -> List[CallResult]:
  """gliner's decoder on CPU logits, then word -> character offsets of each
  call's prompted text (gliner's `map_entities_to_text`)."""
  prompts, names = label_prompts(first.labels)
  prompt_to_name = dict(zip(prompts, names))
  id_to_classes = {i: prompt_to_name.get(p, p)
                   for i, p in enumerate(dict.fromkeys(prompts), start=1)}
  texts = [call.text for call in calls]
  tokens = [[text[s:e] for s, e in zip(c.inputs.word_starts.tolist(),
                                       c.inputs.word_ends.tolist())] or
            ['[PAD]'] for text, c in zip(texts, calls)]
  decoded = model.decoder.decode(
      tokens, id_to_classes, output['logits'],
      span_idx=output['span_idx'], span_mask=output['span_mask'],
      span_logits=output['span_logits'], flat_ner=first.flat_ner,
      threshold=first.threshold, multi_label=first.multi_label,
      return_class_probs=False, input_spans=None)
  results = []
  for call, text, spans in zip(calls, texts, decoded):
    starts, ends = call.inputs.word_starts, call.inputs.word_ends
    entities = []
    for span in spans:
      start, end = int(starts[span.start]), int(ends[span.end])
      entities.append(Entity(start, end, text[start:end],
                             str(span.entity_type), float(span.score)))
    results.append(CallResult(call, spans=tuple(entities)))
  return results
