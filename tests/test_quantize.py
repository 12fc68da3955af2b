"""`--quantize int8`: the cheaper CPU path (dynamic int8 Linear layers).

Int8 weights change scores slightly, so a quantized run must say so in every
row (the lineage model id gains "+int8") and must not pass for a float32 run
in incremental bookkeeping; it is refused where it cannot run (CUDA, non
float32 weights). Speed and F1 are measured by `python -m bench.quantize`.
"""
from __future__ import annotations

import pytest
import torch

from model_handler import loading
from pipeline.config import in_process_config, quantize_suffix
from pipeline.option_error import OptionError
from tests.conftest import read_table, run_cli, write_parquet

from model_handler.tasks import NerTask


def _dynamic_linears(model) -> int:
  return sum(1 for m in model.modules()
             if type(m).__module__.startswith('torch.ao.nn.quantized.dynamic'))


@pytest.mark.unit
def test_suffix():
  assert quantize_suffix('none') == ''
  assert quantize_suffix(None) == ''
  assert quantize_suffix('int8') == '+int8'


def test_int8_model_has_dynamic_linears_and_its_own_cache_entry(marker_model):
  loading.clear_model_cache()
  try:
    plain = loading.load_gliner(str(marker_model), 'cpu')
    int8 = loading.load_gliner(str(marker_model), 'cpu', quantize='int8')
    assert int8 is not plain  # a float32 user in the same process is untouched
    assert _dynamic_linears(plain) == 0
    assert _dynamic_linears(int8) > 0
    # both still answer the same call shape
    out = int8.inference(['Angela Merkel visited Paris.'], ['person'],
                         threshold=0.0)
    assert isinstance(out, list) and len(out) == 1
  finally:
    loading.clear_model_cache()


def test_int8_refused_on_cuda_and_non_float32(marker_model, tmp_path):
  task = NerTask(labels=(('person', 'person'), ), threshold=0.5)
  with pytest.raises(OptionError, match='--quantize'):
    in_process_config((task, ), str(tmp_path / 'a'), model=str(marker_model),
                      quantize='int8', dtype='bfloat16')
  with pytest.raises(RuntimeError, match='CPU'):
    loading.quantize_int8(object(), 'cuda')
  config = in_process_config((task, ), str(tmp_path / 'b'),
                             model=str(marker_model), quantize='int8')
  assert config.quantize == 'int8' and config.model_id.endswith('+int8')


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only check')
def test_job_rows_name_the_int8_model(marker_model, tmp_path):
  source = write_parquet(tmp_path / 'in' / 'docs.parquet', {
      'id': ['a', 'b'],
      'text': ['Angela Merkel met Emmanuel Macron in Paris.',
               'The committee met in Geneva on Monday.'],
  })
  out = tmp_path / 'out'
  assert run_cli(['--input', source, '--output', out, '--model', marker_model,
                  '--labels', 'person,location', '--quantize', 'int8',
                  '--device', 'cpu', '--runner', 'FnApiRunner']) == 0
  documents = read_table(out, 'documents').to_pylist()
  assert len(documents) == 2
  assert {d['model_id'] for d in documents} == {
      documents[0]['model_id']} and documents[0]['model_id'].endswith('+int8')
