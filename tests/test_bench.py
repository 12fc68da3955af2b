"""The benchmark harness runs end to end in its smoke mode and writes the
JSON it promises, the GPU mode's code path runs on CPU at smoke size, the
quantization comparison runs, and the wheel list carried to the GPU machine
matches the tested pins. No timing assertions: speed is measured by
`python -m bench`, not asserted in tests."""
from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _positive(value) -> bool:
  return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_bench_smoke_writes_json(tmp_path, model_cache):
  from bench.cli import main
  out = tmp_path / 'bench.json'
  assert main(['--smoke', '--out', str(out), '--cache_dir', str(model_cache),
               '--workdir', str(tmp_path / 'work')]) == 0
  data = json.loads(out.read_text())
  # ... and its chart beside it, drawn from exactly this JSON.
  from common.chart_svg import chart_problem
  assert chart_problem(out.with_suffix('.svg')) is None

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

  amortised = run['amortised']
  assert amortised['job']['docs_enriched'] == amortised['corpus']['docs']
  assert mixed['bare_same_words']['pieces'] > mixed['corpus']['docs']
  assert mixed['bare_same_words']['truncated_docs'] == 0  # every word read

  metrics = run['metrics']
  for key in ('P1', 'P1_small_corpus', 'P2', 'P2_vs_truncating_bare', 'P3a',
              'P4_cpu_informational', 'job_fixed_overhead_s'):
    assert _positive(metrics[key]), (key, metrics[key])
  # Net ratios subtract the job's fixed cost; on smoke-sized inputs they may
  # be undefined (None), never negative.
  for key in ('P1_net', 'P3a_net'):
    assert metrics[key] is None or _positive(metrics[key]), (key, metrics[key])
  assert metrics['P5_in_process'] == 1
  for key in ('padding_job_uniform', 'padding_bare8_uniform',
              'padding_job_mixed', 'padding_bare8_mixed'):
    assert 0 <= metrics[key] < 1, (key, metrics[key])


def test_gpu_mode_smoke_on_cpu(tmp_path, model_cache):
  """`python -m bench --gpu` (what bench/gpu/run.sh runs on the device), at
  smoke size on CPU: every part runs and every metric is derived."""
  from bench.cli import main
  out = tmp_path / 'gpu.json'
  assert main(['--gpu', '--smoke', '--devices', 'cpu', '--out', str(out),
               '--budget_s', '1000',
               '--cache_dir', str(model_cache),
               '--workdir', str(tmp_path / 'work')]) == 0
  data = json.loads(out.read_text())
  assert data['meta']['mode'] == 'gpu-smoke'
  (run, ) = data['runs'].values()
  assert run['parts_skipped'] == []
  assert set(run['bare']) == {'float32', 'bfloat16'}
  assert set(run['job_by_budget']) == {'256', '1024'}
  for r in run['job_by_budget'].values():
    assert r['job']['docs_enriched'] == run['uniform_corpus']['docs']
    assert 'encoder' in r['job']['breakdown_s']
  m = run['metrics']
  for key in ('P4', 'P4_steady@256', 'P2_gpu', 'P2_gpu_same_words',
              'model_copies_2_vs_1', 'job_vs_bare_uniform',
              'job_fixed_cost_s'):
    assert m[key] is None or _positive(m[key]), (key, m[key])
  assert _positive(m['P4']) and _positive(m['P2_gpu'])
  assert run['job_model_copies']['docs_enriched'] == run['uniform_corpus']['docs']


def test_quantize_comparison_smoke(tmp_path, model_cache):
  from bench.quantize import main
  out = tmp_path / 'q.json'
  assert main(['--smoke', '--out', str(out), '--cache_dir', str(model_cache)]) == 0
  data = json.loads(out.read_text())
  speed = data['tiny-random-markerV0']
  assert speed['none']['docs_enriched'] == speed['int8']['docs_enriched'] == 6
  assert _positive(speed['speedup_docs_per_s'])
  assert set(data['f1']) == {'ai', 'literature', 'science', 'pooled'}


def _fetched_wheels():
  script = (REPO / 'bench' / 'gpu' / 'fetch_wheels.sh').read_text()
  block = script.split('WHEELS=(', 1)[1].split(')', 1)[0]
  return re.findall(r'([A-Za-z0-9_.-]+)==([^\s]+)', block)


@pytest.mark.unit
def test_gpu_wheels_are_the_tested_pins_one_version_each():
  pins = {}
  for line in (REPO / 'constraints.txt').read_text().splitlines():
    if '==' in line and not line.startswith('#'):
      name, version = line.strip().split('==')
      pins[re.sub(r'[-_.]+', '-', name).lower()] = version
  wheels = _fetched_wheels()
  names = [re.sub(r'[-_.]+', '-', n).lower() for n, _ in wheels]
  assert len(names) == len(set(names))
  assert {'apache-beam', 'gliner', 'protobuf'} <= set(names)
  for name, version in zip(names, (v for _, v in wheels)):
    assert pins.get(name) == version, (name, version, pins.get(name))


@pytest.mark.unit
def test_gpu_scripts_parse():
  for script in ('fetch_wheels.sh', 'run.sh'):
    subprocess.run(['bash', '-n', str(REPO / 'bench' / 'gpu' / script)],
                   check=True)


def test_commit_cost_benchmark_smoke(tmp_path):
  """bench.commit_cost times real commits, local and on the GCS emulator."""
  pytest.importorskip('gcp_storage_emulator',
                      reason='gcp-storage-emulator is not installed')
  from bench import commit_cost
  out = tmp_path / 'r.json'
  assert commit_cost.main(['--tables', '2', '--files', '2', '--rows', '10',
                           '--reps', '1', '--out', str(out)]) == 0
  result = json.loads(out.read_text())
  for where in ('local', 'gcs_emulator'):
    for operation in ('incremental', 'overwrite'):
      assert result[where][operation]['median_ms'] > 0


def test_streaming_benchmark_smoke(tmp_path, model_cache):
  """bench.streaming runs its phases on the Pub/Sub emulator and accounts
  for every published document (exactly once)."""
  from bench.pubsub_emulator import pubsub_emulator_missing
  missing = pubsub_emulator_missing()
  if missing:
    pytest.skip(missing)
  from bench import streaming
  out = tmp_path / 's.json'
  assert streaming.main(['--smoke', '--burst', '12', '--phase_seconds', '3',
                         '--distinct_docs', '8', '--words', '30',
                         '--search', '0.5', '1.0', '--search_seconds', '2',
                         '--cache_dir', str(model_cache), '--out',
                         str(out)]) == 0
  result = json.loads(out.read_text())
  assert result['lost'] == 0 and result['written_twice'] == 0
  assert result['documents_written'] == result['published']
  assert _positive(result['sustained_docs_per_s'])
  assert result['search']  # at least one paced rate was tried
  for phase in ('50%', '90%', '150%'):
    assert result['phases'][phase]['written'] == result['phases'][phase][
        'published']
    assert _positive(result['phases'][phase]['latency_p50_s'])


def test_host_work_benchmark_smoke(tmp_path, model_cache):
  """`python -m bench --proxy --bi` at smoke size: bare gliner and the job
  (in process and with two worker processes) on the proxy and the
  bi-encoder, with ratios; the job finds what bare gliner finds. Run as
  users run it, in its own process: in this one, a later test that forks
  and interrupts itself (test_commit_protocol) saw its SIGINT go unhandled
  once this had run in-process (cause not found; recorded in the notes)."""
  import sys
  out = tmp_path / 'proxy.json'
  done = subprocess.run(
      [sys.executable, '-m', 'bench', '--proxy', '--bi', '--smoke', '--out',
       str(out), '--cache_dir', str(model_cache), '--workdir',
       str(tmp_path / 'work')], capture_output=True, text=True, timeout=900,
      cwd=REPO,
      check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  data = json.loads(out.read_text())
  assert set(data['runs']) == {'proxy/uniform', 'proxy/mixed',
                               'bi-encoder/20-labels'}
  for name, run in data['runs'].items():
    jobs = {k: v for k, v in run.items() if k.startswith('job_')}
    assert jobs, name
    for job in jobs.values():
      assert _positive(job['vs_bare_docs_per_s'])
      assert _positive(job['vs_bare_cpu_ms'])
      # same documents, same weights: the job's entities are bare gliner's
      assert job['entities'] == run['bare']['entities'], (name, job)
