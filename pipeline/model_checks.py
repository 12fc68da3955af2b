"""Start-up checks of the model side: the checkpoint, its prompt tokens, the
device. Split from pipeline.config so each module keeps one job.

Every check raises OptionError naming the flag to blame, before any worker
starts: a model that cannot be read, custom code without
--trust_remote_code, prompt text holding the model's own prompt tokens,
--device cuda where this runner has no GPU.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from apache_beam.io.filesystems import FileSystems

from model_handler.checkpoint import CONFIG_FILE, CheckpointError
from model_handler.checkpoint import read_config, remote_code_keys
from model_handler.checkpoint import resolve_model_dir
from model_handler.tasks import Task
from pipeline.option_error import OptionError


def describe_model(ref: str, model_dir: Path,
                   revision: Optional[str] = None) -> str:
  """A short, machine-independent model id for lineage columns, keyed on
  content: a retrained checkpoint of the same shape gets a new id."""
  if not Path(ref).expanduser().is_dir():
    return f'{ref}@{revision}' if revision else ref
  digest = hashlib.sha256((model_dir / CONFIG_FILE).read_bytes())
  for weights in sorted(model_dir.glob('*.safetensors')) + sorted(
      model_dir.glob('*.bin')):
    digest.update(weights.name.encode())
    with open(weights, 'rb') as handle:
      for block in iter(lambda: handle.read(8 << 20), b''):
        digest.update(block)
  return f'{model_dir.resolve().name}@{digest.hexdigest()[:12]}'


def read_model_config(ref: str, model_dir: Optional[Path]) -> Dict[str, Any]:
  """The checkpoint's gliner_config.json: read in place for a remote
  checkpoint (small; the weights are not downloaded), else from its
  resolved local directory."""
  if model_dir is not None:
    return read_config(model_dir)
  with FileSystems.open(ref.rstrip('/') + '/' + CONFIG_FILE) as handle:
    return json.loads(handle.read())


def check_model(ref: str, revision: Optional[str] = None,
                trust_remote_code: bool = False) -> Tuple[str, Dict[str, Any]]:
  """Fail early on an unusable checkpoint; return its lineage id and its
  config (read once, for the other start-up checks).

  Remote checkpoints are only listed here (workers download them), so the
  launcher does not copy gigabytes just to validate. A checkpoint naming
  custom code (`auto_map`) is refused without --trust_remote_code.
  """
  from model_handler import remote
  from model_handler.checkpoint import HUB_ID
  if revision and ('://' in ref or not HUB_ID.match(ref) or
                   Path(ref).expanduser().is_dir()):
    raise OptionError('--model_revision',
                      f'applies to hub ids only, not {ref!r}')
  try:
    if '://' in ref:
      files = remote.list_checkpoint(ref)
      remote.check_complete(ref, files)
      model_dir = None
      model_id = (f'{ref.rstrip("/")}@'
                  f'{remote.cache_dir_for(ref, files).name[:12]}')
    else:
      model_dir = resolve_model_dir(ref, revision)
      model_id = describe_model(ref, model_dir, revision)
    config = read_model_config(ref, model_dir)
    keys = remote_code_keys(config)
    if keys and not trust_remote_code:
      raise OptionError('--trust_remote_code', f'{ref} names custom model '
                        f'code ({", ".join(keys)}.auto_map); pass '
                        '--trust_remote_code to allow it to run')
    return model_id, config
  except OptionError:
    raise
  except (CheckpointError, remote.IncompleteCheckpoint) as exc:
    raise OptionError('--model', str(exc)) from exc
  except Exception as exc:  # pylint: disable=broad-except
    raise OptionError('--model', f'cannot read {ref}: {exc}') from exc


# Tokens that structure gliner's prompt (and the usual encoder specials): a
# label or question holding one would shift every later label to the wrong
# type, so they are refused at start-up.
RESERVED_PROMPT_TOKENS = ('<<ENT>>', '<<SEP>>', '[ENT]', '[SEP]', '[CLS]',
                          '[PAD]', '[MASK]', '[UNK]', '<s>', '</s>', '<pad>',
                          '<mask>', '<unk>')


def model_prompt_tokens(config: Dict[str, Any]) -> Tuple[str, ...]:
  """The checkpoint's own prompt tokens (from its config) plus the usual
  specials."""
  tokens = list(RESERVED_PROMPT_TOKENS)
  for key in ('ent_token', 'sep_token'):
    if config.get(key) and config[key] not in tokens:
      tokens.append(config[key])
  return tuple(tokens)


def check_prompts(tasks: Tuple[Task, ...], reserved: Tuple[str, ...],
                  option: str) -> None:
  """Every prompt text is non-empty and free of reserved tokens."""
  for task in tasks:
    for key, text in task.prompt_texts():
      if not text.strip():
        raise OptionError(option, f'{key}: empty string')
      for token in reserved:
        if token in text:
          raise OptionError(option, f'{key}: {text!r} contains the reserved '
                            f'prompt token {token!r}')


# Runners that execute in this process or on this machine: the device the
# model will use can be checked here, before the job starts.
LOCAL_RUNNERS = ('FnApiRunner', 'DirectRunner', 'BundleBasedDirectRunner',
                 'SwitchingDirectRunner', 'PrismRunner', 'PortableRunner')


def check_device(opts) -> None:
  """On local runners, fail at start-up (not inside RunInference) when the
  requested device or dtype cannot run here."""
  from apache_beam.options.pipeline_options import StandardOptions
  runner = opts.view_as(StandardOptions).runner or 'FnApiRunner'
  name = runner if isinstance(runner, str) else type(runner).__name__
  if name.split('.')[-1] not in LOCAL_RUNNERS:
    return  # the workers, not this machine, have the device
  import torch
  cuda = torch.cuda.is_available()
  if opts.device == 'cuda' and not cuda:
    raise OptionError('--device', 'cuda requested but no CUDA device is '
                      f'visible to this {name} run; use --device cpu or auto')
  if opts.quantize != 'none' and (opts.device == 'cuda' or (
      opts.device == 'auto' and cuda)):
    raise OptionError('--quantize', f'{opts.quantize} is a CPU path; use '
                      '--device cpu, or --dtype bfloat16 on a GPU')
  if opts.dtype == 'float16' and (opts.device == 'cpu' or not cuda):
    raise OptionError('--dtype', 'float16 needs a CUDA device; use bfloat16 '
                      'or float32 on CPU')
