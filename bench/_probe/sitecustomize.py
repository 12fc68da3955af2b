"""Counts GLiNER model builds in Beam's worker subprocesses (benchmark only).

``bench`` puts this directory on PYTHONPATH, with ``BENCH_LOAD_LOG`` naming a
file, only for its multi-process job runs. Python imports ``sitecustomize`` at
start-up in every process (Beam's SDK workers are started with the runner's
environment), and this hook wraps ``model_handler.loading._build`` so that each
build appends ``<pid> <seconds>`` to that file. Nothing happens without
``BENCH_LOAD_LOG``.
"""
import os
import sys

_LOG = os.environ.get('BENCH_LOAD_LOG')
_TARGET = 'model_handler.loading'


def _patch(module):
  original = module._build  # pylint: disable=protected-access

  def _build(*args, **kwargs):
    import time
    started = time.perf_counter()
    try:
      return original(*args, **kwargs)
    finally:
      with open(_LOG, 'a', encoding='utf-8') as handle:
        handle.write(f'{os.getpid()} {time.perf_counter() - started:.3f}\n')

  module._build = _build  # pylint: disable=protected-access


class _Finder:
  """Meta-path finder that patches the module right after it executes."""

  @staticmethod
  def find_spec(name, path=None, target=None):
    if name != _TARGET:
      return None
    import importlib.machinery
    spec = importlib.machinery.PathFinder.find_spec(name, path)
    if spec is None or spec.loader is None:
      return spec
    exec_module = spec.loader.exec_module

    def exec_and_patch(module):
      exec_module(module)
      _patch(module)

    spec.loader.exec_module = exec_and_patch
    return spec


if _LOG:
  sys.meta_path.insert(0, _Finder())
