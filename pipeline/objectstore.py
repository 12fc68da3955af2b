"""The few storage primitives a safe commit needs, for local disks and GCS.

Beam's FileSystems can copy, rename and delete, but it cannot say "create
this object only if it does not exist" or "delete it only if nobody changed
it", and a commit protocol is built on exactly those two. Locally they are
`link()` (fails on an existing name, publishes a fully written file in one
step) and an flock on the object's directory around compare-and-swap; on
GCS they are the
`ifGenerationMatch` preconditions (0 = must not exist). Every mutating call
passes two crash points (pipeline.faults) so the harness can kill a commit
before and after each of them.

Other schemes (s3://, hdfs://) have no such primitive here and are refused
for batch outputs at start-up.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

from pipeline import faults

class StoreError(Exception):
  """A storage precondition failed in a way the protocol does not expect."""


def join(root: str, *parts: str) -> str:
  return '/'.join([root.rstrip('/')] + [p.strip('/') for p in parts if p])


@dataclass(frozen=True)
class Blob:
  data: bytes
  token: str  # local: the bytes themselves; GCS: the object generation


class LocalStore:
  """POSIX files. Atomic publish = write a temp file, fsync, link/rename."""

  def read(self, path: str) -> Optional[bytes]:
    try:
      with open(path, 'rb') as handle:
        return handle.read()
    except FileNotFoundError:
      return None

  def read_blob(self, path: str) -> Optional[Blob]:
    data = self.read(path)
    return None if data is None else Blob(data, data.hex())

  def _temp(self, path: str, data: bytes) -> str:
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    temp = os.path.join(os.path.dirname(path) or '.',
                        f'.{os.path.basename(path)}.tmp-{uuid.uuid4().hex}')
    with open(temp, 'wb') as handle:
      handle.write(data)
      handle.flush()
      os.fsync(handle.fileno())
    return temp

  def put(self, path: str, data: bytes) -> None:
    """Replace atomically: readers see the old or the new bytes."""
    faults.point(f'put {path}')
    temp = self._temp(path, data)
    os.replace(temp, path)
    faults.point(f'put done {path}')

  def create(self, path: str, data: bytes) -> bool:
    """Create-only and complete: False when the name exists."""
    faults.point(f'create {path}')
    temp = self._temp(path, data)
    try:
      os.link(temp, path)
      created = True
    except FileExistsError:
      created = False
    finally:
      os.unlink(temp)
    faults.point(f'create done {path}')
    return created

  @contextlib.contextmanager
  def _locked(self, path: str) -> Iterator[None]:
    """An exclusive flock on the object's directory (no lock file left)."""
    parent = os.path.dirname(path) or '.'
    os.makedirs(parent, exist_ok=True)
    fd = os.open(parent, os.O_RDONLY)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX)
      yield
    finally:
      os.close(fd)  # closing releases the lock

  def replace_if(self, path: str, token: str, data: bytes) -> bool:
    """Compare-and-swap: write only if the object is still `token`."""
    with self._locked(path):
      current = self.read_blob(path)
      if current is None or current.token != token:
        return False
      self.put(path, data)
      return True

  def delete_if(self, path: str, token: str) -> bool:
    with self._locked(path):
      current = self.read_blob(path)
      if current is None or current.token != token:
        return False
      self.delete(path)
      return True

  def rename_new(self, source: str, target: str) -> None:
    """Move to a name nobody uses; never replaces. Idempotent: a move that
    already happened (source gone, target there) is done."""
    faults.point(f'rename {source}')
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
      os.link(source, target)
    except FileExistsError:
      if os.path.exists(source) and not os.path.samefile(source, target):
        raise StoreError(f'{target} exists and is another file') from None
    except FileNotFoundError:
      if not os.path.exists(target):
        raise
    if os.path.exists(source):
      os.unlink(source)
    faults.point(f'rename done {target}')

  def delete(self, path: str) -> None:
    faults.point(f'delete {path}')
    with contextlib.suppress(FileNotFoundError):
      os.unlink(path)
    faults.point(f'delete done {path}')

  def list(self, prefix: str) -> List[str]:
    """Every file under a directory, recursively, sorted."""
    found = []
    for root, dirs, files in os.walk(prefix):
      dirs.sort()
      found.extend(os.path.join(root, f) for f in files)
    return sorted(found)

  def children(self, prefix: str) -> List[str]:
    try:
      return sorted(os.listdir(prefix))
    except (FileNotFoundError, NotADirectoryError):
      return []

  def delete_tree(self, prefix: str) -> None:
    for path in self.list(prefix):
      self.delete(path)
    for root in sorted((r for r, _, _ in os.walk(prefix)), key=len,
                       reverse=True):
      with contextlib.suppress(OSError):
        os.rmdir(root)

  def is_file(self, path: str) -> bool:
    return os.path.isfile(path)


class GcsStore:
  """Google Cloud Storage through its client: generations as tokens."""

  def __init__(self):
    self._client = None
    self._endpoint = None

  def client(self):
    endpoint = os.environ.get('STORAGE_EMULATOR_HOST')
    if self._client is None or endpoint != self._endpoint:
      from google.cloud import storage
      self._endpoint = endpoint
      if endpoint:
        from google.auth.credentials import AnonymousCredentials
        self._client = storage.Client(project='gliner-beam-emulator',
                                      credentials=AnonymousCredentials())
      else:
        self._client = storage.Client()
    return self._client

  @staticmethod
  def _split(path: str) -> Tuple[str, str]:
    bucket, _, name = path[len('gs://'):].partition('/')
    return bucket, name

  def _blob(self, path: str):
    bucket, name = self._split(path)
    return self.client().bucket(bucket).blob(name)

  def read_blob(self, path: str) -> Optional[Blob]:
    from google.api_core import exceptions
    bucket, name = self._split(path)
    blob = self.client().bucket(bucket).get_blob(name)
    if blob is None:
      return None
    generation = blob.generation  # the download may reset the attribute
    try:
      data = blob.download_as_bytes(if_generation_match=generation)
    except (exceptions.NotFound, exceptions.PreconditionFailed):
      return self.read_blob(path)  # replaced meanwhile: read again
    return Blob(data, str(generation))

  def read(self, path: str) -> Optional[bytes]:
    blob = self.read_blob(path)
    return None if blob is None else blob.data

  def put(self, path: str, data: bytes) -> None:
    faults.point(f'put {path}')
    self._blob(path).upload_from_string(data)  # one object write: atomic
    faults.point(f'put done {path}')

  def create(self, path: str, data: bytes) -> bool:
    from google.api_core import exceptions
    faults.point(f'create {path}')
    try:
      self._blob(path).upload_from_string(data, if_generation_match=0)
      created = True
    except exceptions.PreconditionFailed:
      created = False
    faults.point(f'create done {path}')
    return created

  @staticmethod
  def _if_generation(verb: str, path: str, call) -> bool:
    """Run `call` (a request with a generation precondition); False when
    the object changed or went meanwhile."""
    from google.api_core import exceptions
    faults.point(f'{verb} {path}')
    try:
      call()
      done = True
    except (exceptions.PreconditionFailed, exceptions.NotFound):
      done = False
    faults.point(f'{verb} done {path}')
    return done

  def replace_if(self, path: str, token: str, data: bytes) -> bool:
    return self._if_generation('put', path, lambda: self._blob(
        path).upload_from_string(data, if_generation_match=int(token)))

  def delete_if(self, path: str, token: str) -> bool:
    return self._if_generation('delete', path, lambda: self._blob(
        path).delete(if_generation_match=int(token)))

  def rename_new(self, source: str, target: str) -> None:
    """Copy to a new name (create-only), then delete the source: GCS has no
    rename. Idempotent like LocalStore.rename_new."""
    from google.api_core import exceptions
    faults.point(f'rename {source}')
    bucket_name, source_name = self._split(source)
    _, target_name = self._split(target)
    bucket = self.client().bucket(bucket_name)
    blob = bucket.get_blob(source_name)
    if blob is None:
      if bucket.get_blob(target_name) is None:
        raise FileNotFoundError(source)
    else:
      try:
        bucket.copy_blob(blob, bucket, target_name, if_generation_match=0)
      except exceptions.PreconditionFailed:
        existing = bucket.get_blob(target_name)
        if existing is None or existing.crc32c != blob.crc32c:
          raise StoreError(f'{target} exists and is another file') from None
      with contextlib.suppress(exceptions.NotFound):
        blob.delete()
    faults.point(f'rename done {target}')

  def delete(self, path: str) -> None:
    from google.api_core import exceptions
    faults.point(f'delete {path}')
    with contextlib.suppress(exceptions.NotFound):
      self._blob(path).delete()
    faults.point(f'delete done {path}')

  def list(self, prefix: str) -> List[str]:
    bucket, name = self._split(prefix.rstrip('/') + '/')
    return sorted(f'gs://{bucket}/{b.name}' for b in
                  self.client().list_blobs(bucket, prefix=name))

  def children(self, prefix: str) -> List[str]:
    """One level, like os.listdir: a delimiter listing, so a table folder's
    children cost one page, not a listing of every file of every run."""
    bucket, name = self._split(prefix.rstrip('/') + '/')
    listing = self.client().list_blobs(bucket, prefix=name, delimiter='/')
    names = [b.name[len(name):] for b in listing]  # consumes every page
    names += [p[len(name):].rstrip('/') for p in listing.prefixes]
    return sorted(n for n in names if n)

  def delete_tree(self, prefix: str) -> None:
    for path in self.list(prefix):
      self.delete(path)

  def is_file(self, path: str) -> bool:
    bucket, name = self._split(path)
    return bool(name) and self.client().bucket(bucket).get_blob(
        name) is not None


_GCS = GcsStore()
_LOCAL = LocalStore()


def store_for(path: str):
  if path.startswith('gs://'):
    return _GCS
  if '://' in path:
    raise StoreError(f'{path.split("://")[0]}:// outputs are not supported '
                     'for batch runs (no create-only writes): use a local '
                     'path or gs://')
  return _LOCAL
