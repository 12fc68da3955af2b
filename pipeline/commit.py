"""Atomic batch runs: stage every table, commit them together on success.

A batch run writes its tables under ``<output>/_staging/<run id>/`` where no
reader looks. Only when the pipeline has finished are the staged files moved
into ``<output>/<table>/`` (with --overwrite, the previous files are first
moved aside and deleted only after the new ones are in place). A run that
fails leaves the previous output exactly as it was.

Every run leaves a manifest, ``<output>/_runs/<run id>.json`` -- run id,
status (running, committed, failed), model id, config hash, inputs, row and
file counts per table, error -- so an orchestrator can check a run without
reading the tables.
"""
from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

STAGING_DIR = '_staging'
RUNS_DIR = '_runs'


def _now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(
      timespec='seconds')


def _match(pattern: str) -> List[str]:
  try:
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
  except Exception:  # pylint: disable=broad-except
    return []  # nothing there


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

  def to_json(self) -> str:
    return json.dumps(self.__dict__, indent=2, sort_keys=True) + '\n'


def manifest_path(output: str, run_id: str) -> str:
  return FileSystems.join(output, RUNS_DIR, f'{run_id}.json')


def write_manifest(output: str, manifest: RunManifest) -> str:
  """Written under a temporary name and renamed: never a partial manifest."""
  path = manifest_path(output, manifest.run_id)
  temp = FileSystems.join(output, RUNS_DIR, f'.tmp-{manifest.run_id}.json')
  with FileSystems.create(temp) as handle:
    handle.write(manifest.to_json().encode('utf-8'))
  if FileSystems.exists(path):
    FileSystems.delete([path])
  FileSystems.rename([temp], [path])
  return path


def read_manifest(output: str, run_id: str) -> dict:
  with FileSystems.open(manifest_path(output, run_id)) as handle:
    return json.loads(handle.read().decode('utf-8'))


def staging_root(output: str, run_id: str) -> str:
  return FileSystems.join(output, STAGING_DIR, run_id)


def _table_files(root: str, table: str, partitions: bool = False) -> List[str]:
  files = _match(FileSystems.join(root, table, '*.parquet'))
  if partitions:  # incremental runs' `run=<id>/` partitions
    files += _match(FileSystems.join(root, table, '*', '*.parquet'))
  return files


def committed_files(output: str, table: str) -> List[str]:
  """Every committed file of a table, in both layouts."""
  return _table_files(output, table, partitions=True)


def commit(output: str, run_id: str, tables: List[str],
           replace_tables: List[str],
           partition: str = '') -> Dict[str, Dict[str, object]]:
  """Move the staged tables into place; -> rows and files per table.

  `replace_tables`: committed tables whose files are replaced (--overwrite);
  they are moved aside first and deleted once the new files are in place,
  and put back if moving the new files fails. `partition`: a subdirectory
  of each table for this run's files (incremental runs: `run=<run id>`).
  """
  staged = staging_root(output, run_id)
  aside = FileSystems.join(staged, '_replaced')
  old = {t: _table_files(output, t, partitions=True) for t in replace_tables}
  new = {t: _table_files(staged, t) for t in tables}
  moved: List[tuple] = []  # (sources, targets), in order, for a rollback
  try:
    _move_tables(old, lambda t, p: aside + p[len(output):], moved)
    moved_aside = len(moved)
    into = FileSystems.join(output, '{table}', partition) if partition else (
        FileSystems.join(output, '{table}'))
    _move_tables(
        new, lambda t, p: FileSystems.join(into.format(table=t),
                                           p.rsplit('/', 1)[1]), moved)
  except Exception:
    for sources, targets in reversed(moved):
      FileSystems.rename(targets, sources)
    raise
  counts: Dict[str, Dict[str, object]] = {}
  for (table, _), (_, targets) in zip(
      [(t, f) for t, f in new.items() if f], moved[moved_aside:]):
    counts[table] = {'files': len(targets),
                     'rows': sum(parquet_rows(f) for f in targets),
                     'paths': targets}
  for table in tables:
    counts.setdefault(table, {'files': 0, 'rows': 0, 'paths': []})
  discard(output, run_id)
  return counts


def _move_tables(files_by_table: Dict[str, List[str]], target_of,
                 moved: List[tuple]) -> None:
  for table, files in files_by_table.items():
    if files:
      targets = [target_of(table, path) for path in files]
      _mkdirs(targets)
      FileSystems.rename(files, targets)
      moved.append((files, targets))


def _mkdirs(paths: List[str]) -> None:
  """Local file systems need the parent directories; object stores ignore."""
  for parent in sorted({p.rsplit('/', 1)[0] for p in paths}):
    try:
      FileSystems.mkdirs(parent)
    except Exception:  # pylint: disable=broad-except
      pass  # exists already, or a store without directories


def discard(output: str, run_id: str) -> None:
  """Delete what a run staged (after its commit, or after it failed)."""
  root = staging_root(output, run_id)
  try:
    if FileSystems.exists(root):
      FileSystems.delete([root])
    if '://' not in output:  # object stores have no empty directories
      os.rmdir(FileSystems.join(output, STAGING_DIR))
  except Exception:  # pylint: disable=broad-except
    pass  # another run is staging, or leftovers: invisible to readers


class CommitRunFn(beam.DoFn):
  """Runs once, after every table's files are written (its side inputs are
  the written file lists, so the runner cannot start it earlier): commits
  the staged tables and writes the run's manifest. On any runner --
  Dataflow included -- a failed pipeline never reaches this step."""

  def __init__(self, output: str, manifest: RunManifest, tables: List[str],
               replace_tables: List[str], schemas=None, iceberg=None):
    self._output = output
    self._manifest = manifest
    self._tables = list(tables)
    self._replace = list(replace_tables)
    self._schemas = schemas or {}
    self._iceberg = iceberg

  def process(self, unused_element, skipped, *written_files):
    manifest = RunManifest(**self._manifest.__dict__)
    counts = commit(self._output, manifest.run_id, self._tables,
                    self._replace, manifest.partition or '')
    manifest.skipped = int(skipped)
    if self._iceberg is not None:
      # After the files are in place: a failed run never gets here, so no
      # Iceberg snapshot of it is ever visible.
      manifest.iceberg_snapshots = self._iceberg.commit_run(
          manifest.run_id, {t: c['paths'] for t, c in counts.items()},
          self._schemas)
    manifest.tables = {t: {'files': c['files'], 'rows': c['rows']}
                       for t, c in counts.items()}
    manifest.status = 'committed'
    manifest.finished = _now()
    yield write_manifest(self._output, manifest)


class CommitRun(beam.PTransform):
  """{table: written file names} -> the committed run's manifest path."""

  def __init__(self, output: str, manifest: RunManifest,
               replace_tables: List[str], skipped=None, schemas=None,
               iceberg=None):
    super().__init__()
    self._output = output
    self._manifest = manifest
    self._replace = list(replace_tables)
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
                            self._replace, self._schemas, self._iceberg),
                beam.pvalue.AsSingleton(count),
                *[beam.pvalue.AsList(written[t]) for t in tables]))
