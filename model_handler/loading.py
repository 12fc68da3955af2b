"""Loading a GLiNER checkpoint onto the right device, ready for inference."""
from __future__ import annotations

import logging
import os
import threading
from typing import Any, Dict, Optional, Tuple

from model_handler.checkpoint import check_remote_code, resolve_model_dir

_LOG = logging.getLogger(__name__)

# Process-wide count, so tests and the run summary can show how many times
# this process built the model (RunInference should do it once per process).
LOAD_COUNT = {'loads': 0}
# Models built in this process, so both RunInference stages (relations'
# stage 2 runs after stage 1) use one copy instead of two.
_MODELS: Dict[Tuple, Any] = {}
_MODELS_LOCK = threading.Lock()


def pick_device(requested: str) -> str:
  import torch
  if requested == 'auto':
    return 'cuda' if torch.cuda.is_available() else 'cpu'
  if requested == 'cuda' and not torch.cuda.is_available():
    raise RuntimeError('--device=cuda but no CUDA device is visible')
  return requested


def clear_model_cache() -> None:
  """Forget this process's models (tests; processes that switch models)."""
  with _MODELS_LOCK:
    _MODELS.clear()


def load_gliner(model_ref: str, device: str = 'auto', dtype: str = 'float32',
                num_threads: Optional[int] = None, compile_model: bool = False,
                revision: Optional[str] = None,
                trust_remote_code: bool = False, quantize: str = 'none'):
  """The process's model for these settings, built on first use."""
  key = (model_ref, device, dtype, num_threads, compile_model, revision,
         trust_remote_code, quantize)
  with _MODELS_LOCK:
    if key not in _MODELS:
      _MODELS[key] = _build(model_ref, device, dtype, num_threads,
                            compile_model, revision, trust_remote_code,
                            quantize)
    return _MODELS[key]


def _build(model_ref: str, device: str, dtype: str,
           num_threads: Optional[int], compile_model: bool,
           revision: Optional[str] = None, trust_remote_code: bool = False,
           quantize: str = 'none'):
  """Build the model: eval mode, frozen parameters, chosen dtype/device.

  `requires_grad_(False)` matters beyond speed: a shared (large_model) copy
  returns results across processes, and non-leaf tensors cannot be pickled.
  """
  import torch
  from gliner import GLiNER
  if num_threads:
    torch.set_num_threads(num_threads)
  model_dir = resolve_model_dir(model_ref, revision)
  check_remote_code(model_dir, trust_remote_code)
  self_contained = (model_dir / 'tokenizer_config.json').is_file()
  model = GLiNER.from_pretrained(
      str(model_dir), local_files_only=self_contained)
  target = pick_device(device)
  model = model.to(target)
  if dtype != 'float32':
    model = model.to(getattr(torch, dtype))
  model.eval()
  model.requires_grad_(False)
  if quantize == 'int8':
    quantize_int8(model, target)
  if compile_model:
    # gliner's own hook: torch.compile on the encoder; pays off on GPUs with
    # long runs, costs minutes of start-up.
    model.compile()
  LOAD_COUNT['loads'] += 1
  _LOG.info('loaded GLiNER %s on %s/%s%s (pid %d)', model_ref, target, dtype,
            '' if quantize == 'none' else f'/{quantize}', os.getpid())
  return model


def quantize_int8(model, target: str) -> None:
  """Dynamic int8 quantization of every nn.Linear (weights int8, activations
  quantized per batch): gliner's own `quantize('int8')`, which on CPU is
  torch's `quantize_dynamic`. CPU only: on CUDA gliner would need torchao and
  gives no speed-up (the option checks refuse it earlier)."""
  if target != 'cpu':
    raise RuntimeError(f'--quantize int8 runs on CPU, not {target}')
  model.quantize('int8')
