"""Reading a job's output as of its latest commit.

Readers take the file list from the commit log (pipeline.table_log), never
from a directory listing: a run killed mid-commit can leave files in the
table directories that no committed state references, and an --overwrite
leaves the replaced files until it has committed. `python -m
pipeline.readers OUTPUT TABLE` prints the file list (one per line), e.g. for
DuckDB's `read_parquet([...])`.

A streaming job has no commit log: its window files are final once renamed
into place, and `window_files` lists them without the `.tmp-` files a
writer may be in the middle of.
"""
from __future__ import annotations

import sys
from typing import List, Optional

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.table_log import committed_files, latest_state


def read_table(output: str, table: str,
               columns: Optional[List[str]] = None) -> pa.Table:
  """A table's committed rows (empty with no columns when it has none)."""
  from apache_beam.io.filesystems import FileSystems
  parts = []
  for path in committed_files(output, table):
    with FileSystems.open(path) as handle:
      parts.append(pq.read_table(pa.BufferReader(handle.read()),
                                 columns=columns))
  return pa.concat_tables(parts) if parts else pa.table({})


def window_files(table_dir: str) -> List[str]:
  """A streaming table's finished window files (any Beam file system),
  sorted; an in-progress `.tmp-*` file is never listed."""
  from apache_beam.io.filesystems import FileSystems
  try:
    found = FileSystems.match([FileSystems.join(str(table_dir),
                                                '*.parquet')])[0]
  except Exception:  # pylint: disable=broad-except
    return []  # no such directory yet
  return sorted(m.path for m in found.metadata_list
                if not m.path.rsplit('/', 1)[-1].startswith('.'))


def run_order(output: str) -> List[str]:
  """Committed run ids, oldest first (the order 'latest version' uses)."""
  return latest_state(output).run_ids()


def main(argv: Optional[List[str]] = None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  if len(argv) != 2:
    print('usage: python -m pipeline.readers OUTPUT TABLE', file=sys.stderr)
    return 2
  for path in committed_files(argv[0], argv[1]):
    print(path)
  return 0


if __name__ == '__main__':
  sys.exit(main())
