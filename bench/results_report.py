"""What the numbers mean: ratios (P1-P5, padding), their targets and
verdicts, the machine they were measured on, the printed table and the JSON.

Kept apart from ``bench.scenarios`` so a result file can be re-derived or
re-printed without running anything.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Dict, Optional

TARGETS = {
    'P1': ('>=', 0.95),
    'P2': ('>=', 1.5),
    'P3a': ('<=', 1.1),
    'P3b': ('>=', 0.95),
    'P4': ('>=', 0.80),
    'P5_in_process': ('==', 1),
    'P5_multi_process': ('==', 1),
}


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
  """a / b; None when undefined (a net time at or below zero is noise: the
  run was too small to rise above the job's fixed cost)."""
  if a is None or b is None or b <= 0 or a < 0:
    return None
  return round(a / b, 4)


def strip_private(value):
  if isinstance(value, dict):
    return {k: strip_private(v) for k, v in value.items()
            if not str(k).startswith('_')}
  if isinstance(value, list):
    return [strip_private(v) for v in value]
  if isinstance(value, float):
    return round(value, 4)
  return value


def machine_info() -> Dict[str, Any]:
  import apache_beam
  import gliner
  import pyarrow
  import torch
  import transformers
  cpu = platform.processor() or ''
  try:
    for line in subprocess.run(['lscpu'], capture_output=True, text=True,
                               check=False).stdout.splitlines():
      if line.startswith('Model name:'):
        cpu = line.split(':', 1)[1].strip()
  except OSError:
    pass
  info = {
      'cpu_model': cpu,
      'nproc': os.cpu_count(),
      'sched_cpus': len(os.sched_getaffinity(0)) if hasattr(
          os, 'sched_getaffinity') else None,
      'torch_threads': torch.get_num_threads(),
      'platform': platform.platform(),
      'loadavg_at_start': list(os.getloadavg()) if hasattr(os, 'getloadavg')
                          else None,
      'cuda': torch.cuda.is_available(),
      'versions': {
          'python': platform.python_version(),
          'torch': torch.__version__,
          'transformers': transformers.__version__,
          'gliner': getattr(gliner, '__version__', '?'),
          'apache_beam': apache_beam.__version__,
          'pyarrow': pyarrow.__version__,
      },
  }
  try:
    with open('/proc/meminfo', encoding='utf-8') as handle:
      info['mem_total_gb'] = round(int(handle.readline().split()[1]) / 2**20,
                                   1)
  except OSError:
    pass
  if info['cuda']:
    info['gpu'] = torch.cuda.get_device_name(0)
  return info


def derive_metrics(r: Dict[str, Any], device: str) -> Dict[str, Any]:
  m: Dict[str, Any] = {}
  u = r.get('uniform')
  a = r.get('amortised')
  if a:
    # P1: same work, on a corpus where bare gliner runs >= 30 s
    m['P1'] = ratio(a['job']['docs_per_s'], a['bare']['docs_per_s'])
    m['P1_bare_s'] = round(a['bare']['wall_s'], 2)
  if u:
    # the small corpus (seconds): dominated by the job's fixed cost
    m['P1_small_corpus'] = ratio(u['job']['docs_per_s'],
                                 u['bare']['docs_per_s'])
    # Steady state: the fixed cost of a job (Beam start-up, model build,
    # Parquet writes), measured as a job on one tiny document, removed.
    m['P1_net'] = ratio(u['bare']['wall_s'],
                        u['job']['wall_s'] - u['overhead']['wall_s'])
    m['P1_summary_time'] = ratio(u['bare']['wall_s'],
                                 u['job']['job_summary_s'])
    m['job_vs_encoder_limit_uniform'] = ratio(u['encoder']['wall_s'],
                                              u['job']['wall_s'])
    m['bare_vs_encoder_limit_uniform'] = ratio(u['encoder']['wall_s'],
                                               u['bare']['wall_s'])
    m['job_fixed_overhead_s'] = round(u['overhead']['wall_s'], 3)
    m['padding_job_uniform'] = u['job']['padding_fraction']
    m['padding_bare8_uniform'] = u['encoder']['padding_fraction']
    m['P5_in_process'] = u['job']['loads_in_this_process']
    # Tokens/s of the job over tokens/s of the encoder alone (P4 is defined
    # for CUDA; on CPU the same ratio is informational).
    key = 'P4' if device == 'cuda' else 'P4_cpu_informational'
    m[key] = ratio(u['job']['tokens_per_s'], u['encoder']['tokens_per_s'])
    if 'encoder_job_windows' in u:
      m['job_vs_encoder_on_job_windows_uniform'] = ratio(
          u['encoder_job_windows']['wall_s'], u['job']['wall_s'])
    mp = u.get('job_multi_process')
    if mp:
      m['P1_multi_process'] = ratio(mp['docs_per_s'], u['bare']['docs_per_s'])
      m['P5_multi_process'] = mp.get('max_loads_per_worker')
      m['multi_process_workers_that_loaded'] = mp.get(
          'worker_processes_that_loaded')
  x = r.get('mixed')
  if x:
    # P2: against bare gliner reading the same words (max_len-word pieces)
    if 'bare_same_words' in x:
      m['P2'] = ratio(x['job']['docs_per_s'],
                      x['bare_same_words']['docs_per_s'])
    # diagnostic: against bare gliner truncating at max_len words
    m['P2_vs_truncating_bare'] = ratio(x['job']['docs_per_s'],
                                       x['bare']['docs_per_s'])
    m['P2_words_read_per_s'] = ratio(
        x['job_words_read'] / x['job']['wall_s'],
        x['bare_words_read'] / x['bare']['wall_s'])
    m['padding_job_mixed'] = x['job']['padding_fraction']
    m['padding_bare8_mixed'] = x['encoder']['padding_fraction']
    if 'encoder_job_windows' in x:
      m['job_vs_encoder_on_job_windows_mixed'] = ratio(
          x['encoder_job_windows']['wall_s'], x['job']['wall_s'])
      m['padding_ideal_job_windows_mixed'] = x['encoder_job_windows'][
          'padding_fraction']
    if x.get('job_multi_process'):
      m['P2_multi_process'] = ratio(x['job_multi_process']['docs_per_s'],
                                    x['bare']['docs_per_s'])
  g = r.get('long')
  if g:
    overhead = g['overhead']['wall_s']
    m['P3a'] = ratio(g['big']['wall_s'], g['units']['wall_s'])
    m['P3a_net'] = ratio(g['big']['wall_s'] - overhead,
                         g['units']['wall_s'] - overhead)
    m['P3a_literal'] = ratio(g['big']['wall_s'], 10 * g['one_unit']['wall_s'])
    m['P3a_literal_net'] = ratio(g['big']['wall_s'] - overhead,
                                 10 * (g['one_unit']['wall_s'] - overhead))
  p = r.get('planted')
  if p and 'job' in p:
    m['P3b'] = ratio(p['job']['last10']['recall'],
                     p['job']['first10']['recall'])
    m['P3b_recall_first10_job'] = p['job']['first10']['recall']
    m['P3b_recall_last10_job'] = p['job']['last10']['recall']
    m['P3b_recall_first10_bare'] = p['bare']['first10']['recall']
    m['P3b_recall_last10_bare'] = p['bare']['last10']['recall']
  return m


def verdict(name: str, value) -> str:
  if value is None or name not in TARGETS or TARGETS[name][1] is None:
    return ''
  op, target = TARGETS[name]
  ok = {'>=': value >= target, '<=': value <= target,
        '==': value == target}[op]
  return f'{"PASS" if ok else "MISS"} ({op} {target})'


def format_table(results: Dict[str, Any]) -> str:
  lines = []
  for key, r in results['runs'].items():
    m = r['metrics']
    lines.append(f'\n== {key} (load {r["load_s"]} s) ==')
    u = r.get('uniform')
    if u:
      lines.append(f'uniform {u["corpus"]["docs"]} docs x '
                   f'~{u["corpus"]["words_mean"]} words (best of '
                   f'{len(u["bare"]["wall_s_all"])}):')
      rows = [('bare inference(batch_size=8)', u['bare']),
              ('encoder only (same batches)', u['encoder']),
              ('job FnApiRunner in-process', u['job'])]
      if 'encoder_job_windows' in u:
        rows.insert(2, ('encoder only (job windows)', u['encoder_job_windows']))
      if 'job_multi_process' in u:
        rows.append(('job multi_processing x2', u['job_multi_process']))
      rows.append(('job on 1 tiny doc (fixed cost)', u['overhead']))
      for name, row in rows:
        extra = ''
        if 'job_summary_s' in row:
          extra = f'  (summary {row["job_summary_s"]:.2f} s)'
        if 'cpu_per_wall' in row:
          extra += f'  cpu/wall {row["cpu_per_wall"]}'
        lines.append(f'  {name:34s} {row["wall_s"]:8.2f} s '
                     f'{row.get("docs_per_s", 0):8.2f} docs/s{extra}')
    a = r.get('amortised')
    if a:
      lines.append(f'P1 corpus {a["corpus"]["docs"]} docs x '
                   f'~{a["corpus"]["words_mean"]} words:')
      for name in ('bare', 'job'):
        lines.append(f'  {name:34s} {a[name]["wall_s"]:8.2f} s '
                     f'{a[name]["docs_per_s"]:8.2f} docs/s')
    x = r.get('mixed')
    if x:
      lines.append(f'mixed {x["corpus"]["docs"]} docs, '
                   f'{x["corpus"]["words_min"]}-{x["corpus"]["words_max"]} '
                   f'words, {x["corpus"]["words_total"]} in all (bare reads '
                   f'{x["bare_words_read"]} of them):')
      rows = [('bare inference(batch_size=8)', x['bare'])]
      if 'bare_same_words' in x:
        rows.append(('bare on max_len-word pieces', x['bare_same_words']))
      rows.append(('encoder only (bare batches)', x['encoder']))
      if 'encoder_job_windows' in x:
        rows.append(('encoder only (job windows)', x['encoder_job_windows']))
      rows.append(('job FnApiRunner in-process', x['job']))
      if 'job_multi_process' in x:
        rows.append(('job multi_processing x2', x['job_multi_process']))
      for name, row in rows:
        extra = ''
        if 'cpu_per_wall' in row:
          extra = f'  cpu/wall {row["cpu_per_wall"]}'
        lines.append(f'  {name:34s} {row["wall_s"]:8.2f} s '
                     f'{row.get("docs_per_s", 0):8.2f} docs/s{extra}')
    g = r.get('long')
    if g:
      lines.append('long documents (job wall, best of reps):')
      for name in ('units', 'big', 'mid', 'one_unit', 'overhead'):
        row = g[name]
        lines.append(f'  {name:10s} {row["docs"]:3d} docs {row["windows"]:4d} '
                     f'windows {row["wall_s"]:8.2f} s')
    lines.append('metrics:')
    for name, value in m.items():
      lines.append(f'  {name:42s} {str(value):>10s}  {verdict(name, value)}')
  return '\n'.join(lines)


def write_json(results: Dict[str, Any], out_path: Path) -> None:
  """The JSON alone (private keys dropped, floats rounded), written whole to
  a temporary name first: the GPU mode rewrites it after every part."""
  out_path.parent.mkdir(parents=True, exist_ok=True)
  tmp = out_path.with_name(out_path.name + '.tmp')
  tmp.write_text(json.dumps(strip_private(results), indent=1, default=str) +
                 '\n', encoding='utf-8')
  os.replace(tmp, out_path)


def write(results: Dict[str, Any], out_path: Path) -> Dict[str, Any]:
  """Print the table and write the JSON (private keys dropped, floats
  rounded); returns what was written."""
  results = strip_private(results)
  print(format_table(results))
  print(f'\ntotal {results["meta"]["run_seconds"]} s; JSON: {out_path}')
  out_path.parent.mkdir(parents=True, exist_ok=True)
  out_path.write_text(json.dumps(results, indent=1, default=str) + '\n',
                      encoding='utf-8')
  return results
