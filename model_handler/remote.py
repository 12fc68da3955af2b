"""Checkpoints on remote file systems (gs://...): a verified local copy.

Workers load models from local disk, so a `gs://` checkpoint directory is
copied once per worker into a cache directory named after its URL and its
file listing (name + size): an unchanged checkpoint is reused, a changed one
is fetched anew. The copy is made in a temporary directory and renamed into
place, so a partial download is never loaded.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Dict, List

from model_handler.checkpoint import CONFIG_FILE

WEIGHT_FILES = ('model.safetensors', 'pytorch_model.bin')
DEFAULT_CACHE = os.path.join(tempfile.gettempdir(), 'gliner-beam-models')


class IncompleteCheckpoint(ValueError):
  """A remote directory lacks files every GLiNER checkpoint needs."""


def list_checkpoint(url: str) -> Dict[str, int]:
  """Relative file name -> size of every file under the remote directory."""
  from apache_beam.io.filesystems import FileSystems
  base = url.rstrip('/') + '/'
  matched = FileSystems.match([base + '**'])[0].metadata_list
  return {
      m.path[len(base):]: m.size_in_bytes
      for m in matched
      if m.path.startswith(base) and not m.path.endswith('/')
  }


def check_complete(url: str, files: Dict[str, int]) -> None:
  missing: List[str] = []
  if CONFIG_FILE not in files:
    missing.append(CONFIG_FILE)
  if not any(name in files for name in WEIGHT_FILES):
    missing.append(' or '.join(WEIGHT_FILES))
  if missing:
    raise IncompleteCheckpoint(
        f'{url} is not a complete GLiNER checkpoint: missing '
        f'{", ".join(missing)} (found: {sorted(files) or "no files"})')


def cache_dir_for(url: str, files: Dict[str, int],
                  cache_root: str = DEFAULT_CACHE) -> Path:
  listing = '\n'.join(f'{name}\t{size}' for name, size in sorted(files.items()))
  digest = hashlib.sha256(f'{url}\n{listing}'.encode()).hexdigest()[:20]
  return Path(cache_root) / digest


def fetch_checkpoint(url: str, cache_root: str = DEFAULT_CACHE) -> Path:
  """A local, complete copy of the checkpoint at `url` (downloaded once)."""
  from apache_beam.io.filesystems import FileSystems
  files = list_checkpoint(url)
  check_complete(url, files)
  target = cache_dir_for(url, files, cache_root)
  if (target / CONFIG_FILE).is_file():
    return target
  target.parent.mkdir(parents=True, exist_ok=True)
  staging = Path(tempfile.mkdtemp(prefix='.partial-', dir=target.parent))
  try:
    base = url.rstrip('/') + '/'
    for name, size in sorted(files.items()):
      local = staging / name
      local.parent.mkdir(parents=True, exist_ok=True)
      with FileSystems.open(base + name) as src, open(local, 'wb') as dst:
        shutil.copyfileobj(src, dst, length=8 << 20)
      if local.stat().st_size != size:
        raise IncompleteCheckpoint(
            f'{base + name}: got {local.stat().st_size} bytes, expected {size}')
    try:
      os.rename(staging, target)
    except OSError:
      if not (target / CONFIG_FILE).is_file():  # not another process's copy
        raise
  finally:
    if staging.exists():
      shutil.rmtree(staging, ignore_errors=True)
  return target


