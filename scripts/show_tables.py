"""Print a few rows of every table a run wrote: what `make demo` shows after
the run summary, so a first-time user sees each task's output, not only
counts.

    python scripts/show_tables.py out/sample --rows 3

Reads each table's files as of the latest commit (the output's commit log,
pipeline.table_log), never a directory listing, so a killed run's leftovers
are not shown; lineage columns are left out and long texts are cut for the
terminal (the files hold them whole).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

# `source` is the input row (`<file>#<row>`) in every table: bookkeeping,
# like lineage (a triple's ends are `head` and `tail`, and are shown).
HIDDEN = {'source', 'run_id', 'model_id', 'config_hash', 'enriched_at',
          'content_hash'}
WIDTH = 60


def committed_tables(output: Path):
  """table name -> its committed files, in table order."""
  from pipeline.table_log import latest_state
  state = latest_state(str(output))
  return {t: state.paths(str(output), t) for t in sorted(state.files)
          if state.files[t]}


def cell(value) -> str:
  text = repr(value) if not isinstance(value, str) else value
  text = ' '.join(text.split())
  return text if len(text) <= WIDTH else text[:WIDTH - 1] + '…'


def show(output: Path, rows: int, out=sys.stdout) -> int:
  tables = committed_tables(output)
  if not tables:
    print(f'no committed tables under {output}', file=out)
    return 1
  for name, files in tables.items():
    table = pa.concat_tables(pq.read_table(f) for f in files)
    columns = [c for c in table.column_names if c not in HIDDEN]
    print(f'\n== {name}: {table.num_rows} rows', file=out)
    for row in table.select(columns).slice(0, rows).to_pylist():
      print('  ' + ' | '.join(f'{k}={cell(v)}' for k, v in row.items()),
            file=out)
  return 0


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog='python scripts/show_tables.py',
                                   description=__doc__.split('\n')[0])
  parser.add_argument('output', type=Path, help="the run's --output folder")
  parser.add_argument('--rows', type=int, default=3)
  args = parser.parse_args(argv)
  if not args.output.is_dir():
    print(f'error: {args.output}: not a folder', file=sys.stderr)
    return 2
  return show(args.output, args.rows)


if __name__ == '__main__':
  sys.exit(main())
