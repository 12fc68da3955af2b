"""`--sink iceberg`: the run's committed Parquet files become Iceberg
snapshots, so readers see a run completely or not at all.

The job writes and commits its Parquet files as with `--sink parquet`; the
commit step then registers each table's new files with `Table.add_files` --
one snapshot per table and run, tagged with the run id -- in tables created
from the job's own Arrow schemas. A run that fails never reaches the commit
step, so it leaves no snapshot. The catalog is any pyiceberg catalog
(`--iceberg_catalog NAME` from pyiceberg's configuration: REST, Glue, Hive,
SQL, ...) or, by default, a SQL catalog on SQLite under the output (local
runs and tests). pyiceberg commits one table per transaction: a reader of
two tables can see one table's snapshot of a run before the other's; the
run manifest lists the snapshot id of each table.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional

import pyarrow as pa

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

  def commit_run(self, run_id: str, files: Dict[str, List[str]],
                 schemas: Dict[str, pa.Schema]) -> Dict[str, int]:
    """Add each table's files of this run as one snapshot; -> table ->
    snapshot id. Tables are created from the job's schemas on first use."""
    catalog = self.load_catalog()
    catalog.create_namespace_if_not_exists(self.namespace)
    snapshots = {}
    for table, paths in sorted(files.items()):
      iceberg_table = catalog.create_table_if_not_exists(
          f'{self.namespace}.{table}', schema=schemas[table])
      if paths:
        iceberg_table.add_files(
            [_absolute(p) for p in paths],
            snapshot_properties={RUN_PROPERTY: run_id})
        snapshots[table] = iceberg_table.current_snapshot().snapshot_id
    return snapshots


def _absolute(path: str) -> str:
  return path if '://' in path else os.path.abspath(path)
