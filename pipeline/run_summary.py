"""The end-of-run summary, read from the job's Beam metrics."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Optional

from apache_beam.metrics.metric import MetricsFilter

from common.metrics import NAMESPACE

_LABELLED = re.compile(r'^(\w+)\[(.*)\]$')


@dataclass
class RunSummary:
  counters: Dict[str, int] = field(default_factory=dict)
  by_label: Dict[str, Dict[str, int]] = field(default_factory=dict)
  seconds: float = 0.0
  # The committed run's manifest (batch runs): rows per table as written.
  manifest: Optional[dict] = None

  def get(self, name: str) -> int:
    return self.counters.get(name, 0)

  def padding_fraction(self) -> float:
    padded = self.get('padded_subwords')
    return 1.0 - self.get('subwords') / padded if padded else 0.0

  def documents_per_second(self) -> float:
    read = self.get('documents_read')
    return read / self.seconds if self.seconds > 0 else 0.0

  def format(self) -> str:
    read = self.get('documents_read')
    lines = [
        'gliner-beam run summary',
        f'  documents read:          {read}',
        f'  documents enriched:      {self.get("documents_enriched")}',
        f'  documents dead-lettered: {self.get("documents_dead_lettered")}',

        f'  windows:                 {self.get("windows")}',
        f'  model calls:             {self.get("model_calls")}',
        f'  subwords encoded:        {self.get("subwords")} '
        f'({self.padding_fraction():.1%} padding)',
        f'  wall time:               {self.seconds:.1f} s '
        f'({self.documents_per_second():.2f} documents/s)',
    ]
    if self.manifest and self.manifest.get('incremental'):
      lines.insert(4, f'  documents skipped:       '
                   f'{self.get("documents_skipped")} (already enriched)')
    if self.manifest:
      lines.append(f'  run {self.manifest["run_id"]}: '
                   f'{self.manifest["status"]}'
                   + (f' into {self.manifest["partition"]}'
                      if self.manifest.get('partition') else ''))
      lines.append('  committed rows per table:')
      for table, count in sorted(self.manifest.get('tables', {}).items()):
        lines.append(f'    {table}: {count["rows"]} ({count["files"]} files)')
    for group, title in (('rows', 'rows per table'),
                         ('entities', 'entities per label'),
                         ('dead_letter', 'dead letters per stage'),
                         ('task_dead_letter', 'task-level dead letters')):
      counts = self.by_label.get(group, {})
      lines.append(f'  {title}:' + ('' if counts else ' none'))
      for key in sorted(counts):
        lines.append(f'    {key}: {counts[key]}')
    return '\n'.join(lines)


def collect(result, seconds: float) -> RunSummary:
  """Committed counter values of the job's namespace."""
  summary = RunSummary(seconds=seconds)
  query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
  for counter in query['counters']:
    name = counter.key.metric.name
    value = counter.committed if counter.committed is not None else (
        counter.attempted or 0)
    match = _LABELLED.match(name)
    if match:
      group = summary.by_label.setdefault(match.group(1), {})
      group[match.group(2)] = group.get(match.group(2), 0) + value
    else:
      summary.counters[name] = summary.counters.get(name, 0) + value
  return summary
