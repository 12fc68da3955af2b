"""The benchmark harness runs end to end in its smoke mode and writes the
JSON it promises. No timing assertions: speed is measured by
`python -m bench`, not asserted in tests."""
from __future__ import annotations

import json
import math


def _positive(value) -> bool:
  return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_bench_smoke_writes_json(tmp_path, model_cache):
  from bench.cli import main
  out = tmp_path / 'bench.json'
  assert main(['--smoke', '--out', str(out), '--cache_dir', str(model_cache),
               '--workdir', str(tmp_path / 'work')]) == 0
  data = json.loads(out.read_text())

  meta = data['meta']
  assert meta['mode'] == 'smoke'
  for key in ('cpu_model', 'nproc', 'versions'):
    assert key in meta['machine']
  assert set(meta['machine']['versions']) >= {
      'python', 'torch', 'transformers', 'gliner', 'apache_beam', 'pyarrow'}

  assert list(data['runs']) == ['tiny-random-markerV0/cpu-float32']
  run = data['runs']['tiny-random-markerV0/cpu-float32']
  uniform = run['uniform']
  for part in ('bare', 'encoder', 'job', 'overhead'):
    assert _positive(uniform[part]['wall_s']), part
    assert _positive(uniform[part]['docs_per_s']), part
  job = uniform['job']
  assert job['docs'] == job['docs_enriched'] == uniform['corpus']['docs']
  assert _positive(job['job_summary_s'])
  assert _positive(job['subwords']) and job['padded_subwords'] >= job['subwords']
  assert 'encoder' in job['breakdown_s'] and 'beam + io + other' in job['breakdown_s']
  assert _positive(uniform['encoder']['tokens_per_s'])

  mixed = run['mixed']
  assert mixed['job']['docs_enriched'] == mixed['corpus']['docs']
  assert mixed['bare']['truncated_docs'] > 0  # tiny model: max_len 64 words
  assert mixed['job_words_read'] > mixed['bare_words_read']

  long = run['long']
  assert long['big']['docs'] == 1 and long['units']['docs'] > 1
  assert long['big']['windows'] > 1

  metrics = run['metrics']
  for key in ('P1', 'P2', 'P3a', 'P4_cpu_informational',
              'job_fixed_overhead_s'):
    assert _positive(metrics[key]), (key, metrics[key])
  # Net ratios subtract the job's fixed cost; on smoke-sized inputs they may
  # be undefined (None), never negative.
  for key in ('P1_net', 'P3a_net'):
    assert metrics[key] is None or _positive(metrics[key]), (key, metrics[key])
  assert metrics['P5_in_process'] == 1
  for key in ('padding_job_uniform', 'padding_bare8_uniform',
              'padding_job_mixed', 'padding_bare8_mixed'):
    assert 0 <= metrics[key] < 1, (key, metrics[key])
