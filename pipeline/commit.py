"""Batch runs become visible in one atomic step, or not at all.

The protocol (every step idempotent, so a retry or the next run can redo it):

1. start (launcher, holding the lease, pipeline.lease): recover whatever an
   earlier run left, note the commit log's version (the run's *base*),
   create ``_runs/<run id>.json`` create-only (a reused run id stops here);
2. the pipeline writes every table under ``_staging/<run id>/``, where no
   reader looks;
3. the commit step (runs after every write finished, on any runner) checks
   the lease and the base, then writes ``_staging/<run id>/_ready.json``:
   the complete list of staged files. From here the run can be finished by
   anyone; before it, it can only be discarded;
4. each staged file moves to ``<table>/run=<run id>/`` -- a name no other
   run uses, never over an existing file;
5. **commit point**: version base+1 of the commit log (pipeline.table_log)
   is created create-only, holding the new state;
6. after it: the Iceberg mirror is synced, the manifest says `committed`,
   files the new state no longer references (an --overwrite's old tables, a
   killed run's leftovers) are deleted, the staging directory goes.

A kill before 5 leaves the previous state as it was (readers follow the
log); the next run -- or ``python -m pipeline.recover OUTPUT`` -- finishes a
run that reached 3 and discards one that did not. A kill after 5 leaves the
new state committed; recovery completes step 6.
"""
from __future__ import annotations

import contextlib
import datetime
import glob
import json
import os
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional

import apache_beam as beam

from pipeline import lease
from pipeline.objectstore import StoreError, join, store_for
from pipeline.table_log import TableState, latest_state, publish

STAGING_DIR = '_staging'
RUNS_DIR = '_runs'
READY = '_ready.json'


class CommitConflict(Exception):
  """The output changed under this run (another writer committed)."""


class RunIdTaken(Exception):
  """A run id names one run: a reused id is refused, never merged."""


def _now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(
      timespec='seconds')


def parquet_rows(path: str) -> int:
  """Rows a Parquet file's footer declares (no data read)."""
  from transforms.read_parquet import open_parquet
  return open_parquet(path).metadata.num_rows


@dataclass
class RunManifest:
  run_id: str
  status: str
  model_id: str
  config_hash: str
  inputs: Dict[str, object]
  started: str = field(default_factory=_now)
  finished: Optional[str] = None
  tables: Dict[str, Dict[str, int]] = field(default_factory=dict)
  error: Optional[str] = None
  # --incremental: rows skipped as already enriched, and the partition
  # (`run=<run id>`) this run's files were committed to.
  incremental: bool = False
  skipped: int = 0
  partition: Optional[str] = None
  # --sink iceberg: table -> the snapshot this run committed.
  iceberg_snapshots: Dict[str, int] = field(default_factory=dict)
  # The commit log version this run started from, the one it created, and
  # how it changes the state: append, incremental or overwrite.
  base_version: int = 0
  version: Optional[int] = None
  operation: str = 'append'
  incremental_key: Optional[str] = None
  # Settings the tasks took from the checkpoint's task_defaults.json
  # because the task file set none, e.g. {"qa.threshold": 0.2}.
  model_defaults: Dict[str, float] = field(default_factory=dict)
  # What the launcher that waited for the run measured (wall time, docs/s,
  # windows, model calls, padding): shown on the run's report page.
  measurements: Dict[str, object] = field(default_factory=dict)

  def to_json(self) -> str:
    return json.dumps(self.__dict__, indent=2, sort_keys=True) + '\n'

  @classmethod
  def from_dict(cls, values: dict) -> 'RunManifest':
    known = set(cls.__dataclass_fields__)  # pylint: disable=no-member
    return cls(**{k: v for k, v in values.items() if k in known})


def manifest_path(output: str, run_id: str) -> str:
  return join(output, RUNS_DIR, f'{run_id}.json')


def write_manifest(output: str, manifest: RunManifest) -> str:
  """One atomic replace: readers see the old or the new manifest."""
  path = manifest_path(output, manifest.run_id)
  store_for(output).put(path, manifest.to_json().encode('utf-8'))
  return path


def start_manifest(output: str, manifest: RunManifest) -> str:
  """Create-only: the first writer of a run id owns it."""
  path = manifest_path(output, manifest.run_id)
  if not store_for(output).create(path, manifest.to_json().encode('utf-8')):
    raise RunIdTaken(f'run id {manifest.run_id!r} was already used in '
                     f'{output} ({path}); every run needs its own id')
  return path


def stream_claim_path(output: str, run_id: str) -> str:
  return f'{output.rstrip("/")}/_streams/{run_id}.json'


def claim_stream_run(output: str, run_id: str, record: dict) -> None:
  """Streaming: create-only claim of the run id, whose window files carry
  it -- a restart or a second job with the same id is refused before it
  writes, so an existing window file is never replaced by another run."""
  path = stream_claim_path(output, run_id)
  try:
    store = store_for(output)
  except StoreError:
    return  # no create-only write there: the window-file check stands
  body = json.dumps(dict(record, started=_now()), sort_keys=True)
  if not store.create(path, body.encode('utf-8')):
    raise RunIdTaken(f'streaming run id {run_id!r} was already used in '
                     f'{output} ({path}); a restarted job needs its own id '
                     '(or leave --run_id out)')


def read_manifest(output: str, run_id: str) -> dict:
  data = store_for(output).read(manifest_path(output, run_id))
  if data is None:
    raise FileNotFoundError(manifest_path(output, run_id))
  return json.loads(data.decode('utf-8'))


def run_ids_with_manifests(output: str) -> List[str]:
  names = store_for(output).children(join(output, RUNS_DIR))
  return [n[:-len('.json')] for n in names
          if n.endswith('.json') and not n.startswith('.')]


def staging_root(output: str, run_id: str) -> str:
  return join(output, STAGING_DIR, run_id)


def remove_staging(output: str, run_id: str) -> None:
  store_for(output).delete_tree(staging_root(output, run_id))
  if '://' not in output:  # object stores have no empty directories
    with contextlib.suppress(OSError):
      os.rmdir(join(output, STAGING_DIR))  # only when no other run stages


def partition(table: str, run_id: str) -> str:
  return f'{table}/run={run_id}'


def _staged(output: str, run_id: str, table: str) -> List[str]:
  """Finished Parquet files directly under the staged table directory
  (Beam's own temporary directories below it are not part of the run)."""
  root = join(staging_root(output, run_id), table)
  store = store_for(output)
  return [join(root, name) for name in store.children(root)
          if name.endswith('.parquet') and store.is_file(join(root, name))]


def flat_files(output: str, tables: Iterable[str]) -> List[str]:
  """Parquet files directly in the table folders (relative): an older
  layout's, or a streaming job's window files -- what --overwrite replaces
  besides the committed runs."""
  store = store_for(output)
  return [f'{table}/{name}' for table in sorted(set(tables))
          for name in store.children(join(output, table))
          if name.endswith('.parquet')]


def prepare(output: str, manifest: RunManifest, tables: Iterable[str],
            skipped: int, iceberg: Optional[dict],
            known_tables: Iterable[str] = ()) -> dict:
  """The run's commit intent: every staged file, where it goes, its rows;
  for --overwrite also the flat files it replaces."""
  files = {}
  for table in sorted(tables):
    files[table] = []
    for path in _staged(output, manifest.run_id, table):
      name = path.rsplit('/', 1)[1]
      files[table].append({
          'staged': path[len(output.rstrip('/')) + 1:],
          'path': f'{partition(table, manifest.run_id)}/{name}',
          'rows': parquet_rows(path)})
  return {'run_id': manifest.run_id, 'base_version': manifest.base_version,
          'operation': manifest.operation, 'model_id': manifest.model_id,
          'config_hash': manifest.config_hash,
          'incremental_key': manifest.incremental_key, 'skipped': skipped,
          'files': files, 'iceberg': iceberg,
          'replaces_flat': flat_files(output, list(known_tables) + list(
              files)) if manifest.operation == 'overwrite' else []}


def ready_path(output: str, run_id: str) -> str:
  return join(staging_root(output, run_id), READY)


def read_ready(output: str, run_id: str) -> Optional[dict]:
  data = store_for(output).read(ready_path(output, run_id))
  return None if data is None else json.loads(data.decode('utf-8'))


def next_state(state: TableState, ready: dict) -> TableState:
  entry = {k: ready[k] for k in ('run_id', 'operation', 'model_id',
                                 'config_hash', 'incremental_key', 'skipped')}
  entry.update(version=state.version + 1, committed=_now())
  added = {t: [{'path': f['path'], 'rows': f['rows'],
                'run_id': ready['run_id']} for f in entries]
           for t, entries in ready['files'].items()}
  if ready['operation'] == 'overwrite':
    runs, files = [entry], added
    superseded = state.relative_paths() + ready.get('replaces_flat', [])
  else:
    runs = state.runs + [entry]
    files = {t: list(state.files.get(t, [])) + added.get(t, [])
             for t in sorted(set(state.files) | set(added))}
    superseded = []
  return TableState(state.version + 1, runs, files, superseded,
                    ready.get('iceberg') or state.iceberg)


def check_base(state: TableState, base_version: int, run_id: str) -> None:
  if state.version != base_version:
    last = state.runs[-1]['run_id'] if state.runs else '?'
    raise CommitConflict(
        f'run {run_id} started from version {base_version} of the output, '
        f'but version {state.version} (run {last}) was committed since: not '
        'committing over it; run again')


def commit_run(output: str, manifest: RunManifest, tables: Iterable[str],
               skipped: int = 0, iceberg: Optional[dict] = None,
               schemas=None, known_tables: Iterable[str] = ()) -> TableState:
  """Steps 3-6 for this run; -> the state it committed."""
  lease.check(output, manifest.run_id)
  ready = read_ready(output, manifest.run_id)  # a retried commit step
  if ready is None:
    check_base(latest_state(output), manifest.base_version, manifest.run_id)
    ready = prepare(output, manifest, tables, skipped, iceberg, known_tables)
    store_for(output).put(ready_path(output, manifest.run_id),
                          json.dumps(ready, sort_keys=True).encode('utf-8'))
  return finish(output, ready, schemas, known_tables)


def finish(output: str, ready: dict, schemas=None,
           known_tables: Iterable[str] = ()) -> TableState:
  """Steps 4-6 of a run whose intent is written; idempotent."""
  store = store_for(output)
  state = latest_state(output)
  if ready['run_id'] not in state.run_ids():
    check_base(state, ready['base_version'], ready['run_id'])
    for entries in ready['files'].values():
      for entry in entries:
        store.rename_new(join(output, entry['staged']),
                         join(output, entry['path']))
    new = next_state(state, ready)
    if not publish(output, new):
      raise CommitConflict(f'version {new.version} of {output} was created '
                           f'by another writer while run {ready["run_id"]} '
                           'committed: not committing')
    state = new
  after_commit(output, ready['run_id'], state, schemas,
               list(known_tables) + list(ready['files']))
  return state


def after_commit(output: str, run_id: str, state: TableState, schemas=None,
                 known_tables: Iterable[str] = ()) -> None:
  """Step 6, idempotent: Iceberg mirror, manifest, superseded files."""
  error = None
  if state.iceberg:
    try:
      from pipeline.iceberg_sink import IcebergTarget
      snapshots = IcebergTarget(**state.iceberg).sync(output, state, run_id,
                                                      schemas)
    except Exception as exc:  # pylint: disable=broad-except
      snapshots, error = {}, exc
  else:
    snapshots = {}
  mark_committed(output, run_id, state, snapshots, error)
  sweep(output, state, known_tables)
  remove_staging(output, run_id)
  if error is not None:
    raise error


def mark_committed(output: str, run_id: str, state: TableState,
                   snapshots: Dict[str, int], error=None) -> None:
  try:
    manifest = RunManifest.from_dict(read_manifest(output, run_id))
  except FileNotFoundError:
    return
  entry = state.run(run_id)
  if entry is None:
    return
  manifest.status = 'committed'
  manifest.version = entry['version']
  manifest.skipped = entry.get('skipped', 0)
  manifest.finished = manifest.finished or _now()
  manifest.tables = {
      table: {'files': len(mine), 'rows': sum(f['rows'] for f in mine)}
      for table, files in sorted(state.files.items())
      for mine in [[f for f in files if f['run_id'] == run_id]]}
  manifest.iceberg_snapshots = snapshots or manifest.iceberg_snapshots
  manifest.error = None if error is None else (
      f'iceberg mirror not updated ({type(error).__name__}: '
      f'{str(error)[:300]}); the next run or pipeline.recover completes it')
  write_manifest(output, manifest)


def sweep(output: str, state: TableState, tables: Iterable[str],
          keep_run: Optional[str] = None) -> List[str]:
  """Delete what the committed state no longer references: files under a
  `run=<id>/` partition of a run that is not live (an --overwrite's old
  runs, a discarded run's moved files) and the flat files the latest
  version superseded. Only ever after the version that dropped them
  exists, and only under the lease; anything else in the folders (a
  streaming job's window files) is left alone."""
  if not state.version:
    return []
  store = store_for(output)
  live = set(state.relative_paths())
  if state.iceberg:  # older Iceberg snapshots still reference them
    live |= ever_committed(output)
  superseded = set(state.superseded)
  deleted = []
  for table in sorted(set(tables) | set(state.files)):
    root = join(output, table)
    for path in store.list(root):
      relative = path[len(output.rstrip('/')) + 1:]
      in_partition = relative.startswith(f'{table}/run=')
      if relative in live or not relative.endswith('.parquet') or (
          keep_run and relative.startswith(f'{partition(table, keep_run)}/')):
        continue
      if in_partition or relative in superseded:
        store.delete(path)
        deleted.append(relative)
    if '://' not in output:  # object stores have no empty directories
      for directory in sorted(glob.glob(join(glob.escape(root), 'run=*')),
                              reverse=True):
        with contextlib.suppress(OSError):
          os.rmdir(directory)  # only when empty
  return deleted


def ever_committed(output: str) -> set:
  """Every file any commit-log version referenced."""
  from pipeline.table_log import log_path, versions
  store = store_for(output)
  paths = set()
  for version in versions(output):
    data = store.read(log_path(output, version))
    paths |= set(TableState.from_json(data.decode('utf-8')).relative_paths())
  return paths


def discard(output: str, run_id: str, reason: str,
            known_tables: Iterable[str] = ()) -> None:
  """Throw away a run that did not commit: its staging, any file it moved,
  and say so in its manifest."""
  store = store_for(output)
  state = latest_state(output)
  if run_id in state.run_ids():
    raise CommitConflict(f'run {run_id} is committed; not discarding it')
  for table in sorted(set(known_tables) | set(state.files)):
    store.delete_tree(join(output, partition(table, run_id)))
  remove_staging(output, run_id)
  try:
    manifest = RunManifest.from_dict(read_manifest(output, run_id))
  except FileNotFoundError:
    return
  if manifest.status != 'failed':
    manifest.status = 'failed'
    manifest.finished = manifest.finished or _now()
    manifest.error = manifest.error or reason
    write_manifest(output, manifest)


def recover(output: str, current_run: Optional[str] = None,
            known_tables: Iterable[str] = (), schemas=None) -> List[str]:
  """Finish or discard what earlier runs left (call under the lease);
  -> one note per action."""
  store = store_for(output)
  known_tables = list(known_tables)
  notes = []
  for run_id in store.children(join(output, STAGING_DIR)):
    if run_id == current_run:
      continue
    ready = read_ready(output, run_id)
    state = latest_state(output)
    if ready is None and run_id in state.run_ids():
      remove_staging(output, run_id)  # committed: leftovers
      continue
    if ready is not None and (run_id in state.run_ids() or
                              state.version == ready['base_version']):
      finish(output, ready, schemas, known_tables)
      notes.append(f'finished the interrupted commit of run {run_id}')
    else:
      why = ('interrupted before its commit' if ready is None else
             'the output changed since it started')
      discard(output, run_id, f'{why}; discarded by recovery at {_now()}',
              known_tables)
      notes.append(f'discarded run {run_id} ({why})')
  state = latest_state(output)
  for run_id in run_ids_with_manifests(output):
    if run_id == current_run:
      continue
    try:
      manifest = read_manifest(output, run_id)
    except (FileNotFoundError, ValueError):
      continue
    if run_id in state.run_ids() and (manifest['status'] != 'committed' or
                                      manifest.get('error')):
      after_commit(output, run_id, state, schemas, known_tables)
      notes.append(f'completed the commit of run {run_id}')
    elif manifest['status'] == 'running' and run_id not in state.run_ids():
      discard(output, run_id, f'interrupted; marked by recovery at {_now()}',
              known_tables)
      notes.append(f'run {run_id} was interrupted: marked failed')
  removed = sweep(output, state, known_tables, keep_run=current_run)
  if removed:
    notes.append(f'deleted {len(removed)} file(s) no committed run uses')
  return notes


def adopt_unlogged(output: str, known_tables: Iterable[str]) -> TableState:
  """Version 1 of the commit log for an output written before it existed:
  its committed runs (manifests saying `committed`, in the order they
  finished) and their files -- `run=<id>/` partitions of incremental runs,
  the flat files of the last plain run. Files no committed manifest
  accounts for are left out (and deleted by the next run's sweep)."""
  from pipeline.table_log import is_managed
  if is_managed(output):
    raise CommitConflict(f'{output} already has a commit log')
  store = store_for(output)
  manifests = []
  for run_id in run_ids_with_manifests(output):
    with contextlib.suppress(FileNotFoundError, ValueError):
      manifest = read_manifest(output, run_id)
      if manifest.get('status') == 'committed':
        manifests.append(manifest)
  manifests.sort(key=lambda m: (m.get('finished') or '', m['run_id']))
  state = TableState()
  for manifest in manifests:
    incremental = bool(manifest.get('incremental'))
    files = {}
    for table in known_tables:
      root = join(output, table)
      paths = (store.list(join(root, f'run={manifest["run_id"]}'))
               if incremental else
               [join(root, n) for n in store.children(root)
                if n.endswith('.parquet')])
      files[table] = [{'staged': '', 'rows': parquet_rows(p),
                       'path': p[len(output.rstrip('/')) + 1:]}
                      for p in paths if p.endswith('.parquet')]
    state = next_state(state, {
        'run_id': manifest['run_id'],
        'operation': 'incremental' if incremental else 'overwrite',
        'model_id': manifest.get('model_id', ''),
        'config_hash': manifest.get('config_hash', ''),
        'incremental_key': 'source' if incremental else None,
        'skipped': manifest.get('skipped', 0), 'files': files,
        'iceberg': None})
  state.version, state.superseded = 1, []
  for run in state.runs:
    run['version'] = 1
  if not state.runs or not publish(output, state):
    raise CommitConflict(f'{output}: no committed run to adopt, or another '
                         'writer created the log first')
  return state


def abandon(output: str, run_id: str, exc: BaseException,
            known_tables: Iterable[str] = ()) -> None:
  """A run that raised (an error, Ctrl-C, SIGTERM) before its commit point
  is discarded -- its staging and any file it moved -- and its manifest
  says failed; the previous state was never touched. One that raised after
  its commit point is committed: its last steps are completed instead.
  Then its lease goes."""
  try:
    if run_id in latest_state(output).run_ids():
      recover(output, None, known_tables)
    else:
      discard(output, run_id, f'{type(exc).__name__}: {str(exc)[:500]}',
              known_tables)
  finally:
    lease.release(output, run_id)


class CommitRunFn(beam.DoFn):
  """Runs once, after every table's files are written (its side inputs are
  the written file lists, so the runner cannot start it earlier): commits
  the run and releases its lease. On any runner -- Dataflow included -- a
  failed pipeline never reaches this step."""

  def __init__(self, output: str, manifest: RunManifest, tables: List[str],
               known_tables: List[str], schemas=None, iceberg=None):
    self._output = output
    self._manifest = manifest
    self._tables = list(tables)
    self._known = list(known_tables)
    self._schemas = schemas or {}
    self._iceberg = iceberg

  def process(self, unused_element, skipped, *written_files):
    manifest = self._manifest
    commit_run(self._output, manifest, self._tables, int(skipped),
               self._iceberg, self._schemas, self._known)
    lease.release(self._output, manifest.run_id)
    yield manifest_path(self._output, manifest.run_id)


class CommitRun(beam.PTransform):
  """{table: written file names} -> the committed run's manifest path."""

  def __init__(self, output: str, manifest: RunManifest,
               known_tables: List[str], skipped=None, schemas=None,
               iceberg=None):
    super().__init__()
    self._output = output
    self._manifest = manifest
    self._known = list(known_tables)
    self._skipped = skipped
    self._schemas = schemas
    self._iceberg = iceberg

  def expand(self, written: Dict[str, beam.PCollection]):
    tables = sorted(written)
    pipeline = written[tables[0]].pipeline
    skipped = self._skipped
    if skipped is None:
      skipped = pipeline | 'NoneSkipped' >> beam.Create([])
    count = skipped | 'CountSkipped' >> beam.combiners.Count.Globally()
    return (pipeline
            | 'CommitTrigger' >> beam.Create([None])
            | 'CommitTables' >> beam.ParDo(
                CommitRunFn(self._output, self._manifest, tables,
                            self._known, self._schemas, self._iceberg),
                beam.pvalue.AsSingleton(count),
                *[beam.pvalue.AsList(written[t]) for t in tables]))
