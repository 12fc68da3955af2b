"""`python -m pipeline.recover OUTPUT`: finish or discard what a killed run
left, without starting a new one.

Every batch run does this itself when it starts; this command is for an
operator who wants the output clean now (or a stale lease broken). It takes
the output's lease like a run, so it never races a live run, finishes a run
killed after its commit intent was written, discards one killed before,
completes the last steps (manifest, Iceberg mirror, deleting superseded
files) of a run killed after its commit point, and prints what it did.
Exit codes: 0 done, 2 the output is held by a live run or unusable.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from pipeline import commit, lease
from pipeline.config import all_table_names
from pipeline.objectstore import StoreError
from pipeline.table_log import latest_state


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m pipeline.recover',
                                   description=__doc__.split('\n\n')[0])
  parser.add_argument('output', help='the job\'s --output (local or gs://)')
  parser.add_argument('--adopt', action='store_true',
                      help='an output written before the commit log: make its '
                      'committed runs version 1 of a new log, so incremental '
                      'runs can go on')
  parser.add_argument('--break_lease', action='store_true',
                      help='take the lease even if its run looks alive (only '
                      'when you know it is dead, e.g. a cancelled Dataflow '
                      'job whose lease has not expired yet)')
  args = parser.parse_args(argv)
  if '://' not in args.output and not os.path.isdir(args.output):
    print(f'error: {args.output}: no such output directory', file=sys.stderr)
    return 2
  run_id = f'recover-{commit._now()}'  # pylint: disable=protected-access
  try:
    took = lease.acquire(args.output, run_id, 600, force=args.break_lease)
  except (lease.OutputLocked, StoreError) as exc:
    print(f'error: {exc}', file=sys.stderr)
    return 2
  try:
    if took:
      print(took)
    recover_output(args.output, args.adopt)
  except commit.CommitConflict as exc:
    print(f'error: {exc}', file=sys.stderr)
    return 2
  finally:
    lease.release(args.output, run_id)
  return 0


def recover_output(output: str, adopt: bool = False) -> None:
  """Under the lease: adopt an unlogged output if asked, recover, report."""
  if adopt:
    adopted = commit.adopt_unlogged(output, all_table_names())
    print(f'adopted {len(adopted.runs)} committed run(s) as version 1')
  for note in commit.recover(output, None, all_table_names()) or [
      'nothing to recover']:
    print(note)
  state = latest_state(output)
  print(f'{output}: version {state.version}, {len(state.runs)} committed '
        'run(s)' + (f', latest {state.runs[-1]["run_id"]}'
                    if state.runs else ''))


if __name__ == '__main__':
  sys.exit(main())
