"""Make the wheels carried to the GPU machine small enough to travel.

The device call carries at most 64 MiB (working tree, model and wheels), and
apache-beam's cp312 wheel alone is 19 MB, 15 MB of it unstripped Cython
extensions. Stripping their symbol tables (`strip --strip-unneeded`, as
distribution packages do) and dropping Beam's tests and examples leaves
~4.7 MB that behaves the same. RECORD is rewritten so the wheel stays valid.

    python3 bench/gpu/slim_wheels.py .whl/*.whl

Standard library only: it runs before anything is installed.
"""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

# Paths inside a wheel that the job never imports.
DROP_SUFFIXES = ('_test.py', '_it_test.py', '.pyx', '.pxd', '.c', '.cpp')
DROP_DIRS = ('apache_beam/examples/', )


def _record_line(root: str, rel: str) -> str:
  with open(os.path.join(root, rel), 'rb') as handle:
    data = handle.read()
  digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=')
  return f'{rel},sha256={digest.decode()},{len(data)}'


def slim(path: str) -> int:
  """Rewrite one wheel in place; returns bytes saved."""
  before = os.path.getsize(path)
  with tempfile.TemporaryDirectory(prefix='slim-') as tmp:
    with zipfile.ZipFile(path) as archive:
      archive.extractall(tmp)
    files = []
    for folder, _, names in os.walk(tmp):
      for name in names:
        rel = os.path.relpath(os.path.join(folder, name), tmp).replace(os.sep, '/')
        if rel.endswith(DROP_SUFFIXES) or rel.startswith(DROP_DIRS):
          os.unlink(os.path.join(tmp, rel))
          continue
        if '.so' in name and shutil.which('strip'):
          subprocess.run(['strip', '--strip-unneeded', os.path.join(tmp, rel)],
                         check=True)
        files.append(rel)
    record = next(f for f in files if f.endswith('.dist-info/RECORD'))
    lines = [_record_line(tmp, f) for f in sorted(files) if f != record]
    with open(os.path.join(tmp, record), 'w', encoding='utf-8') as handle:
      handle.write('\n'.join(lines + [f'{record},,']) + '\n')
    slimmed = path + '.tmp'
    with zipfile.ZipFile(slimmed, 'w', zipfile.ZIP_DEFLATED,
                         compresslevel=9) as archive:
      # dist-info last, as wheel builders write it
      for rel in sorted(files, key=lambda f: ('.dist-info/' in f, f)):
        archive.write(os.path.join(tmp, rel), rel)
    os.replace(slimmed, path)
  return before - os.path.getsize(path)


def main(paths) -> int:
  for path in paths:
    saved = slim(path)
    print(f'{os.path.basename(path)}: {os.path.getsize(path) / 2**20:.2f} MiB'
          f' (-{saved / 2**20:.2f})')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
