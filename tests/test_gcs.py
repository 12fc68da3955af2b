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
  from pipeline.readers import read_table
  out = f'gs://{BUCKET}/out'
  docs, dead, entities = (read_table(out, t) for t in (
      'documents', 'dead_letter', 'entities'))
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


def test_commit_protocol_on_gcs(gcs, marker_model, tmp_path, capsys):
  """Create-only versions, the lease and reruns on gs:// (the emulator
  enforces ifGenerationMatch as GCS does: tests/emulators.py)."""
  from pipeline import commit, lease
  from pipeline.objectstore import store_for
  from pipeline.readers import read_table
  from pipeline.table_log import latest_state
  store = store_for(f'gs://{BUCKET}/x')
  assert store.create(f'gs://{BUCKET}/x/once', b'1')
  assert not store.create(f'gs://{BUCKET}/x/once', b'2')  # create-only
  assert store.read(f'gs://{BUCKET}/x/once') == b'1'
  blob = store.read_blob(f'gs://{BUCKET}/x/once')
  store.put(f'gs://{BUCKET}/x/once', b'3')
  assert not store.delete_if(f'gs://{BUCKET}/x/once', blob.token)  # changed
  assert store.read(f'gs://{BUCKET}/x/once') == b'3'

  upload_dir(marker_model, f'gs://{BUCKET}/models/tiny')
  upload_parquet(f'gs://{BUCKET}/in/part-0.parquet', pa.table({
      'id': ['a', 'b'], 'text': ['Paris and Rome.', 'Berlin is big.']}))
  out = f'gs://{BUCKET}/runs'
  argv = ['--input', f'gs://{BUCKET}/in/*.parquet', '--output', out,
          '--model', f'gs://{BUCKET}/models/tiny', '--labels', 'location',
          '--threshold', '0.3', '--incremental']
  lease.acquire(out, 'someone')  # a live run holds the output
  assert run_cli(argv + ['--run_id', 'n1']) == 2
  assert 'is being written by run someone' in capsys.readouterr().err
  assert lease.release(out, 'someone')
  assert run_cli(argv + ['--run_id', 'n1']) == 0
  assert run_cli(argv + ['--run_id', 'n1']) == 2  # a reused run id
  upload_parquet(f'gs://{BUCKET}/in/part-1.parquet', pa.table({
      'id': ['c'], 'text': ['Oslo and Bergen.']}))
  assert run_cli(argv + ['--run_id', 'n2']) == 0
  state = latest_state(out)
  assert state.version == 2 and state.run_ids() == ['n1', 'n2']
  assert commit.read_manifest(out, 'n2')['skipped'] == 2
  assert sorted(read_table(out, 'documents').column('doc_id').to_pylist()) \
      == ['a', 'b', 'c']
  assert not store.list(f'{out}/_staging')
  assert lease.holder(out)[0] is None
