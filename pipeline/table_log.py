"""The output's commit log: which runs and files are the committed state.

Delta-Lake style, reduced to what one writer at a time needs. Each committed
batch run adds one object ``<output>/_log/<version>.json`` holding the whole
state after it -- the live runs in commit order and every live file of every
table, with its row count -- and the files it made unreferenced. The object
is created with create-only semantics (pipeline.objectstore), so a version
is written once, completely, by one run; the highest version is the state.
Data files live under names no other run uses (``<table>/run=<run id>/``),
so nothing is ever renamed over, and superseded files are deleted only after
the version that drops them exists.

Readers (the job's --incremental, pipeline.readers, DuckDB/pyarrow snippets
in the README) take the file list from the latest version, never from a
directory listing: a killed run's partial files are never read.
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from pipeline.objectstore import join, store_for

LOG_DIR = '_log'
_VERSION = re.compile(r'^(\d{20})\.json$')


@dataclass
class TableState:
  """The committed state of an output at one version (0: nothing yet)."""
  version: int = 0
  # Live runs in commit order: run_id, version, operation, model_id,
  # config_hash, committed (time), incremental_key.
  runs: List[dict] = field(default_factory=list)
  # table -> [{'path': relative to the output, 'rows': n, 'run_id': id}]
  files: Dict[str, List[dict]] = field(default_factory=dict)
  # Relative paths this version made unreferenced (deleted after it).
  superseded: List[str] = field(default_factory=list)
  # --sink iceberg: where the tables are mirrored (IcebergTarget fields).
  iceberg: Optional[dict] = None

  def run_ids(self) -> List[str]:
    return [r['run_id'] for r in self.runs]

  def run(self, run_id: str) -> Optional[dict]:
    return next((r for r in self.runs if r['run_id'] == run_id), None)

  def relative_paths(self, table: Optional[str] = None) -> List[str]:
    tables = [table] if table else sorted(self.files)
    return [f['path'] for t in tables for f in self.files.get(t, [])]

  def paths(self, output: str, table: str) -> List[str]:
    return [join(output, p) for p in self.relative_paths(table)]

  def rows(self, table: str) -> int:
    return sum(f['rows'] for f in self.files.get(table, []))

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> 'TableState':
    return cls(**json.loads(text))


def log_path(output: str, version: int) -> str:
  return join(output, LOG_DIR, f'{version:020d}.json')


def versions(output: str) -> List[int]:
  names = store_for(output).children(join(output, LOG_DIR))
  return sorted(int(m.group(1)) for m in map(_VERSION.match, names) if m)


def latest_state(output: str) -> TableState:
  found = versions(output)
  if not found:
    return TableState()
  data = store_for(output).read(log_path(output, found[-1]))
  return TableState.from_json(data.decode('utf-8'))


def publish(output: str, state: TableState) -> bool:
  """The commit point: create version `state.version`; False when another
  writer created it first (the caller's base is stale)."""
  return store_for(output).create(log_path(output, state.version),
                                  state.to_json().encode('utf-8'))


def committed_files(output: str, table: str) -> List[str]:
  """The files of a table readers should read: its latest committed state."""
  return latest_state(output).paths(output, table)


def is_managed(output: str) -> bool:
  """True when the output has a commit log (its tables follow it)."""
  return bool(versions(output))
