"""Print a few rows of every table a run wrote: what `make demo` shows after
the run summary, so a first-time user sees each task's output, not only
counts.

    python scripts/show_tables.py out/sample --rows 3

Reads the committed Parquet files of each table folder (folders starting
with `_` -- staging, run manifests -- are skipped); lineage columns are left
out and long texts are cut for the terminal (the files hold them whole).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HIDDEN = {'source', 'run_id', 'model_id', 'config_hash', 'enriched_at',
          'content_hash'}
WIDTH = 60


def table_files(table_dir: Path):
  return sorted(p for p in table_dir.rglob('*.parquet')
                if not any(part.startswith('_') for part in p.parts))


def cell(value) -> str:
  text = repr(value) if not isinstance(value, str) else value
  text = ' '.join(text.split())
  return text if len(text) <= WIDTH else text[:WIDTH - 1] + '…'


def show(output: Path, rows: int, out=sys.stdout) -> int:
  tables = [d for d in sorted(output.iterdir())
            if d.is_dir() and not d.name.startswith('_') and table_files(d)]
  if not tables:
    print(f'no tables under {output}', file=out)
    return 1
  for table_dir in tables:
    table = pa.concat_tables(pq.read_table(f) for f in table_files(table_dir))
    columns = [c for c in table.column_names if c not in HIDDEN]
    print(f'\n== {table_dir.name}: {table.num_rows} rows', file=out)
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
