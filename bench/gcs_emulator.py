"""An in-process GCS emulator (gcp-storage-emulator) for tests and the commit
benchmark, with the generation preconditions real GCS enforces."""
from __future__ import annotations

import os
import socket
from contextlib import contextmanager


def free_port() -> int:
  with socket.socket() as sock:
    sock.bind(('127.0.0.1', 0))
    return sock.getsockname()[1]


_PRECONDITIONS_ON = []


def enforce_generation_preconditions() -> None:
  """gcp-storage-emulator ignores `ifGenerationMatch`, the precondition the
  commit protocol's create-only writes and compare-and-delete rely on (real
  GCS honours it). This wraps the emulator's own upload, copy and delete
  handlers with the check real GCS makes -- 412 when the object's generation
  differs, generation 0 meaning "must not exist" -- under one lock, so the
  check and the write are atomic as on GCS. Everything else is the
  emulator's own code."""
  if _PRECONDITIONS_ON:
    return
  import threading
  from http import HTTPStatus
  from gcp_storage_emulator import server
  from gcp_storage_emulator.exceptions import NotFound
  from gcp_storage_emulator.handlers import objects
  lock = threading.Lock()

  def target(request):
    params = request.params
    if params.get('dest_object_id'):
      return params['dest_bucket_name'], params['dest_object_id']
    if params.get('object_id'):
      return params['bucket_name'], params['object_id']
    if 'name' in request.query:
      return params['bucket_name'], request.query['name'][0]
    return params['bucket_name'], request.data['meta'].get('name')

  def checked(handler):
    def wrapped(request, response, storage, *args, **kwargs):
      want = request.query.get('ifGenerationMatch')
      with lock:
        if want is not None:
          bucket, name = target(request)
          try:
            current = str(storage.get_file_obj(bucket, name)['generation'])
          except NotFound:
            current = '0'
          if current != want[0]:
            response.status = HTTPStatus.PRECONDITION_FAILED
            response.json({'error': {'code': 412,
                                     'message': 'conditionNotMet'}})
            return None
        return handler(request, response, storage, *args, **kwargs)
    return wrapped

  originals = {objects.insert, objects.copy, objects.delete}
  for _, handlers in server.HANDLERS:
    for method, handler in list(handlers.items()):
      if handler in originals:
        handlers[method] = checked(handler)
  objects.insert = checked(objects.insert)
  _PRECONDITIONS_ON.append(True)


@contextmanager
def gcs_emulator(bucket: str):
  """In-process GCS emulator with `bucket`; sets the env Beam/gcsfs need.
  Generation preconditions are enforced as on GCS (see above)."""
  from gcp_storage_emulator.server import create_server
  enforce_generation_preconditions()
  port = free_port()
  server = create_server('127.0.0.1', port, in_memory=True,
                         default_bucket=bucket)
  server.start()
  env = {
      'STORAGE_EMULATOR_HOST': f'http://127.0.0.1:{port}',
      'GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT': 'false',
      'NO_GCE_CHECK': 'true',
  }
  saved = {k: os.environ.get(k) for k in env}
  os.environ.update(env)
  from transforms.emulators import use_anonymous_gcs_for_emulator
  use_anonymous_gcs_for_emulator()
  try:
    yield env
  finally:
    server.stop()
    for key, value in saved.items():
      if value is None:
        os.environ.pop(key, None)
      else:
        os.environ[key] = value
