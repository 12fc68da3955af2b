"""gs:// in and out, and models from gs://, against a real GCS emulator
(gcp-storage-emulator, in process)."""
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip('gcp_storage_emulator',
                    reason='gcp-storage-emulator is not installed')

from apache_beam.io.filesystems import FileSystems  # noqa: E402

from model_handler.checkpoint import CheckpointError  # noqa: E402
from model_handler.checkpoint import resolve_model_dir  # noqa: E402
from model_handler import remote  # noqa: E402
from tests.conftest import run_cli  # noqa: E402
from tests.emulators import gcs_emulator  # noqa: E402
from common import schemas  # noqa: E402
from model_handler.tasks import table_schemas  # noqa: E402

BUCKET = 'gliner-beam-test'


@pytest.fixture()
def gcs():
  with gcs_emulator(BUCKET) as env:
    yield env


def upload_dir(local, url):
  for path in sorted(local.rglob('*')):
    if path.is_file():
      with FileSystems.create(f'{url}/{path.relative_to(local)}') as out:
        out.write(path.read_bytes())


def upload_parquet(url, table):
  buffer = io.BytesIO()
  pq.write_table(table, buffer)
  with FileSystems.create(url) as out:
    out.write(buffer.getvalue())


def read_gcs_table(pattern):
  paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
  assert paths, f'nothing matches {pattern}'
  return pa.concat_tables(
      pq.read_table(io.BytesIO(FileSystems.open(p).read())) for p in paths)


def test_job_reads_and_writes_gs_with_model_from_gs(gcs, marker_model,
                                                     tmp_path, monkeypatch):
  monkeypatch.setattr(remote, 'DEFAULT_CACHE', str(tmp_path / 'cache'))
  upload_dir(marker_model, f'gs://{BUCKET}/models/tiny')
  upload_parquet(f'gs://{BUCKET}/in/part-0.parquet', pa.table({
      'id': ['a', 'b', 'c'],
      'text': ['Paris and Rome.', None, 'Berlin is big.']}))
  rc = run_cli(['--input', f'gs://{BUCKET}/in/*.parquet', '--output',
                f'gs://{BUCKET}/out', '--model', f'gs://{BUCKET}/models/tiny',
                '--labels', 'location', '--threshold', '0.3'])
  assert rc == 0
  docs = read_gcs_table(f'gs://{BUCKET}/out/documents/*.parquet')
  dead = read_gcs_table(f'gs://{BUCKET}/out/dead_letter/*.parquet')
  entities = read_gcs_table(f'gs://{BUCKET}/out/entities/*.parquet')
  assert docs.num_rows == 2 and dead.num_rows == 1
  assert docs.schema.equals(schemas.DOCUMENTS, check_metadata=False)
  assert entities.schema.equals(table_schemas()['entities'], check_metadata=False)
  assert entities.num_rows > 0
  assert set(entities.column('model_id').to_pylist()) == {
      entities.column('model_id')[0].as_py()}
  assert entities.column('model_id')[0].as_py().startswith(
      f'gs://{BUCKET}/models/tiny@')


def test_gs_model_is_downloaded_once_and_reused(gcs, marker_model, tmp_path):
  upload_dir(marker_model, f'gs://{BUCKET}/models/tiny')
  cache = str(tmp_path / 'cache')
  first = remote.fetch_checkpoint(f'gs://{BUCKET}/models/tiny', cache)
  assert sorted(p.name for p in first.iterdir()) == sorted(
      p.name for p in marker_model.iterdir())
  stamp = (first / 'gliner_config.json').stat().st_mtime_ns
  again = remote.fetch_checkpoint(f'gs://{BUCKET}/models/tiny', cache)
  assert again == first
  assert (again / 'gliner_config.json').stat().st_mtime_ns == stamp
  assert not [p for p in (tmp_path / 'cache').iterdir()
              if p.name.startswith('.partial-')]
  # A changed checkpoint (different listing) gets a new copy.
  with FileSystems.create(f'gs://{BUCKET}/models/tiny/extra.txt') as out:
    out.write(b'changed')
  assert remote.fetch_checkpoint(f'gs://{BUCKET}/models/tiny', cache) != first


def test_incomplete_gs_checkpoint_fails_clearly(gcs, marker_model, tmp_path,
                                                capsys):
  url = f'gs://{BUCKET}/models/broken'
  for path in marker_model.iterdir():
    if path.name != 'pytorch_model.bin' and path.name != 'model.safetensors':
      with FileSystems.create(f'{url}/{path.name}') as out:
        out.write(path.read_bytes())
  with pytest.raises(CheckpointError, match='missing model.safetensors or '
                     'pytorch_model.bin'):
    resolve_model_dir(url)
  upload_parquet(f'gs://{BUCKET}/in2/p.parquet',
                 pa.table({'id': ['a'], 'text': ['x']}))
  rc = run_cli(['--input', f'gs://{BUCKET}/in2/*.parquet', '--output',
                str(tmp_path / 'o'), '--model', url])
  assert rc == 2
  err = capsys.readouterr().err
  assert err.startswith('error: --model:') and 'not a complete GLiNER' in err
