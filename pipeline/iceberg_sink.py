"""`--sink iceberg`: the committed Parquet state mirrored as Iceberg tables,
so Iceberg readers see a run completely or not at all.

The job writes and commits its Parquet files exactly as with `--sink
parquet` (pipeline.commit). After the commit point, each Iceberg table is
synced to the committed state: one snapshot per table and run, tagged with
the run id, that adds the run's files and -- for --overwrite -- removes the
replaced ones in the same snapshot. A run that fails never reaches the
commit point, so it leaves no snapshot; a run killed between its commit
point and its Iceberg sync is synced by the next run (or
`python -m pipeline.recover`). The catalog is any pyiceberg catalog
(`--iceberg_catalog NAME` from pyiceberg's configuration: REST, Glue, Hive,
SQL, ...) or, by default, a SQL catalog on SQLite at
`<output>/_iceberg/catalog.db` (catalog name `gliner_beam`, warehouse
`<output>/_iceberg/warehouse`). pyiceberg commits one table per
transaction: a reader of two tables can see one table's snapshot of a run
before the other's; the run manifest lists the snapshot id of each table.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional

import pyarrow as pa
import pyarrow.parquet as pq

RUN_PROPERTY = 'gliner-beam.run-id'


@dataclass(frozen=True)
class IcebergTarget:
  """Where a run's tables are committed; picklable (built on workers)."""
  namespace: str
  catalog: Optional[str] = None      # a configured pyiceberg catalog name
  uri: Optional[str] = None          # else: a SQL catalog at this URI
  warehouse: Optional[str] = None

  @classmethod
  def from_config(cls, config) -> 'IcebergTarget':
    if config.iceberg_catalog:
      return cls(config.iceberg_namespace, catalog=config.iceberg_catalog)
    return cls.local(config.output, config.iceberg_namespace,
                     config.iceberg_catalog_uri)

  @classmethod
  def local(cls, output: str, namespace: str,
            uri: Optional[str] = None) -> 'IcebergTarget':
    root = os.path.abspath(os.path.join(output, '_iceberg'))
    if uri is None:
      if '://' in output:
        raise ValueError('--sink iceberg with a remote --output needs '
                         '--iceberg_catalog or --iceberg_catalog_uri')
      os.makedirs(root, exist_ok=True)
      uri = f'sqlite:///{root}/catalog.db'
    return cls(namespace, uri=uri, warehouse=f'file://{root}/warehouse')

  def load_catalog(self):
    if self.catalog:
      from pyiceberg.catalog import load_catalog
      return load_catalog(self.catalog)
    from pyiceberg.catalog.sql import SqlCatalog
    return SqlCatalog('gliner_beam', uri=self.uri, warehouse=self.warehouse)

  def sync(self, output: str, state, run_id: str,
           schemas: Optional[Dict[str, pa.Schema]] = None) -> Dict[str, int]:
    """Make each Iceberg table hold exactly the committed state's files, in
    one snapshot per table that adds and removes files together (an
    --overwrite is one replace, never an empty table in between), tagged
    with the run id; -> table -> current snapshot id. Idempotent: a table
    already in sync is left alone, so the next run can complete a commit
    whose Iceberg step was cut off."""
    catalog = self.load_catalog()
    catalog.create_namespace_if_not_exists(self.namespace)
    schemas = schemas or {}
    snapshots = {}
    for table in sorted(set(state.files) | set(schemas)):
      wanted = [_absolute(p) for p in state.paths(output, table)]
      schema = schemas.get(table)
      if schema is None and wanted:
        schema = pq.read_schema(wanted[0])
      if schema is None:
        continue
      iceberg_table = catalog.create_table_if_not_exists(
          f'{self.namespace}.{table}', schema=schema)
      _replace_files(iceberg_table, wanted, run_id)
      current = iceberg_table.refresh().current_snapshot()
      if current is not None:
        snapshots[table] = current.snapshot_id
    return snapshots


def _replace_files(table, wanted: List[str], run_id: str) -> None:
  from pyiceberg.table import TableProperties
  from pyiceberg.table import _parquet_files_to_data_files
  current = {task.file.file_path: task.file
             for task in table.scan().plan_files()}
  remove = [f for path, f in current.items() if path not in set(wanted)]
  add = [path for path in wanted if path not in current]
  if not remove and not add:
    return
  transaction = table.transaction()
  if transaction.table_metadata.name_mapping() is None:
    transaction.set_properties(**{
        TableProperties.DEFAULT_NAME_MAPPING:
            transaction.table_metadata.schema().name_mapping.model_dump_json()
    })
  update = transaction.update_snapshot(
      snapshot_properties={RUN_PROPERTY: run_id})
  with (update.overwrite() if remove else update.fast_append()) as snapshot:
    for data_file in remove:
      snapshot.delete_data_file(data_file)
    for data_file in _parquet_files_to_data_files(
        transaction.table_metadata, add, table.io):
      snapshot.append_data_file(data_file)
  transaction.commit_transaction()


def _absolute(path: str) -> str:
  return path if '://' in path else os.path.abspath(path)
