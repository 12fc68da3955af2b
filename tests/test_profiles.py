"""Runner presets fill in only the flags a user did not give."""
import pytest

from pipeline.profiles import apply_profile
from tests.conftest import read_table, run_cli, write_parquet


@pytest.mark.unit
def test_dataflow_gpu_profile_fills_missing_flags_only():
  argv = apply_profile([
      '--profile', 'dataflow-gpu', '--project', 'p', '--region', 'r',
      '--temp_location', 'gs://b/tmp', '--sdk_container_image', 'img',
      '--dtype=float16'
  ])
  assert '--profile' not in argv
  assert '--runner=DataflowRunner' in argv
  assert ('--dataflow_service_options=worker_accelerator=type:nvidia-l4;'
          'count:1;install-nvidia-driver;use_nvidia_mps') in argv
  # a model copy per SDK process, one bundle at a time: every process does
  # its own host work (no --large_model proxy funnelling it through one GIL)
  assert '--large_model' not in argv and '--device=cuda' in argv
  assert '--number_of_worker_harness_threads=1' in argv
  assert '--dtype=float16' in argv and '--dtype=bfloat16' not in argv


@pytest.mark.unit
def test_profile_lists_what_it_still_needs():
  with pytest.raises(ValueError, match='--project, --region'):
    apply_profile(['--profile=dataflow-gpu'])


def test_unknown_or_incomplete_profile_exits_2(tmp_path, capsys):
  assert run_cli(['--profile', 'flink', '--input', 'x', '--output', 'y']) == 2
  assert capsys.readouterr().err.startswith(
      'error: --profile: profile flink also needs --flink_master')


def test_local_profile_runs_the_job(marker_model, tmp_path):
  write_parquet(tmp_path / 'in.parquet', {'id': ['a'], 'text': ['Paris.']})
  assert run_cli(['--profile', 'local', '--input', tmp_path / 'in.parquet',
                  '--output', tmp_path / 'out', '--model', marker_model]) == 0
  assert read_table(tmp_path / 'out', 'documents').num_rows == 1
