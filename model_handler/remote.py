"""Checkpoints on remote file systems (gs://...): a verified local copy.

Workers load models from local disk, so a `gs://` checkpoint directory is
copied once per worker into a cache directory named after its URL and the
content of its files (name, size, the store's checksum -- CRC32C on GCS --
and modification time): an unchanged checkpoint is reused, a retrained one of
the same shape is fetched anew, and the lineage model id changes with it.
The copy is made in a temporary directory and renamed into place, so a
partial download is never loaded; object names that would land outside the
cache (`../`, absolute paths) are refused.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

from model_handler.checkpoint import CONFIG_FILE

WEIGHT_FILES = ('model.safetensors', 'pytorch_model.bin')
DEFAULT_CACHE = os.path.join(tempfile.gettempdir(), 'gliner-beam-models')


class IncompleteCheckpoint(ValueError):
  """A remote directory lacks files every GLiNER checkpoint needs."""


class UnsafeObjectName(IncompleteCheckpoint):
  """An object name that would be written outside the cache directory."""


def check_name(url: str, name: str) -> None:
  parts = name.replace('\\', '/').split('/')
  if (not name or name.startswith('/') or '..' in parts or
      any(p in ('', '.') for p in parts) or ':' in parts[0]):
    raise UnsafeObjectName(
        f'{url}: refusing object name {name!r}: it would be written outside '
        'the model cache')


def _fingerprint(path: str, metadata) -> str:
  """Content identity of one remote file: the store's checksum (CRC32C on
  GCS; other stores may only give the size) plus modification time."""
  from apache_beam.io.filesystems import FileSystems
  try:
    checksum = FileSystems.checksum(path)
  except Exception:  # pylint: disable=broad-except
    checksum = ''
  updated = getattr(metadata, 'last_updated_in_seconds', 0) or 0
  return f'{metadata.size_in_bytes}:{checksum}:{updated:.3f}'


def list_checkpoint(url: str) -> Dict[str, Tuple[int, str]]:
  """Relative file name -> (size, content fingerprint) of every file under
  the remote directory; unsafe names are refused."""
  from apache_beam.io.filesystems import FileSystems
  base = url.rstrip('/') + '/'
  matched = FileSystems.match([base + '**'])[0].metadata_list
  files = {}
  for m in matched:
    if m.path.startswith(base) and not m.path.endswith('/'):
      name = m.path[len(base):]
      check_name(url, name)
      files[name] = (m.size_in_bytes, _fingerprint(m.path, m))
  return files


def check_complete(url: str, files: Dict[str, Tuple[int, str]]) -> None:
  missing: List[str] = []
  if CONFIG_FILE not in files:
    missing.append(CONFIG_FILE)
  if not any(name in files for name in WEIGHT_FILES):
    missing.append(' or '.join(WEIGHT_FILES))
  if missing:
    raise IncompleteCheckpoint(
        f'{url} is not a complete GLiNER checkpoint: missing '
        f'{", ".join(missing)} (found: {sorted(files) or "no files"})')


def cache_dir_for(url: str, files: Dict[str, Tuple[int, str]],
                  cache_root: str = DEFAULT_CACHE) -> Path:
  listing = '\n'.join(f'{name}\t{size}\t{fingerprint}'
                      for name, (size, fingerprint) in sorted(files.items()))
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
    for name, (size, _) in sorted(files.items()):
      check_name(url, name)
      local = staging / name
      if not local.resolve().is_relative_to(staging.resolve()):
        raise UnsafeObjectName(f'{url}: {name!r} escapes the model cache')
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


