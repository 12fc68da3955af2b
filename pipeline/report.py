"""One committed batch run as one HTML page: ``<output>/_runs/<run id>.html``.

After a run, people ask visual questions first: how many documents, which
labels and how often, how confident, what was rejected and why, how fast,
and is this run like the last one. The page answers them from what the run
committed -- the commit log's files (pipeline.table_log) and the run's
manifest (pipeline.commit) -- so it reads the same whatever runner wrote the
output, and can be rebuilt later for any run still in the committed state:

    python -m pipeline.report OUTPUT [--run_id R]

It reads only the columns it counts, one record batch at a time, so a table
of ten million rows costs a few MiB of Arrow memory. The page is
self-contained (matplotlib SVG inline, no script, no network, a Content
Security Policy that forbids both), so it opens from a bucket download or a
CI artifact alike. Every string that comes from the data is escaped. Its
aggregates travel in the page as inert JSON, so the next run's page can
compare against them even after an ``--overwrite`` deleted this run's files.
"""
from __future__ import annotations

import argparse
import datetime
import html
import io
import json
import re
import sys
import time
from collections import Counter
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.commit import (RUNS_DIR, RunManifest, read_manifest,
                             write_manifest)
from pipeline.objectstore import join, store_for
from pipeline.table_log import TableState, latest_state, log_path

BATCH_ROWS = 65_536
# Columns a task table is counted by, first found wins: entity labels,
# relation types, questions, classes.
CATEGORY_COLUMNS = ('label', 'relation', 'question')
# The task setting its table's `score` is compared with (default: threshold).
SCORE_THRESHOLD_KEY = {'relations': 'relation_threshold'}
SCORE_BINS = 20
# Distinct categories counted exactly per table; beyond, the rarest are
# folded into one `(other)` count so memory stays bounded (free-text
# questions from a column can be one per document).
MAX_CATEGORIES = 20_000
KEPT_CATEGORIES = 500  # per table, in the page's JSON (the comparison)
CHART_BARS = 25
MAX_REASONS = 200
EXAMPLES = 3
TOP_ENTITIES = 25
OTHER = '(other)'
AGGREGATES_ID = 'run-aggregates'
_AGGREGATES = re.compile(
    r'<script type="application/json" id="' + AGGREGATES_ID +
    r'">(.*?)</script>', re.S)


class ReportError(Exception):
  """No page can be built for this run (not committed, files gone)."""


# ---------------------------------------------------------------- reading

def report_path(output: str, run_id: str) -> str:
  return join(output, RUNS_DIR, f'{run_id}.html')


def state_at(output: str, version: int) -> Optional[TableState]:
  data = store_for(output).read(log_path(output, version))
  return None if data is None else TableState.from_json(data.decode('utf-8'))


def run_files(output: str, state: TableState, run_id: str
              ) -> Dict[str, List[str]]:
  """table -> the files this run committed (paths the log names)."""
  return {table: [join(output, f['path']) for f in files
                  if f['run_id'] == run_id]
          for table, files in sorted(state.files.items())}


def batches(paths: Sequence[str], columns: Sequence[str]
            ) -> Iterator[pa.RecordBatch]:
  """The wanted columns of every file, a record batch at a time (columns a
  file lacks -- an older layout -- are left out of its batches)."""
  from transforms.read_parquet import open_parquet
  for path in paths:
    parquet = open_parquet(path)
    present = [c for c in columns if c in parquet.schema_arrow.names]
    if present:
      yield from parquet.iter_batches(batch_size=BATCH_ROWS, columns=present)


def fold(counts: Counter, limit: int) -> bool:
  """Keep the `limit` largest counts, the rest summed as OTHER; -> whether
  anything was folded."""
  if len(counts) <= limit:
    return False
  kept = counts.most_common(limit)
  rest = sum(counts.values()) - sum(n for _, n in kept)
  counts.clear()
  counts.update(dict(kept))
  counts[OTHER] += rest
  return True


def count_values(counts: Counter, column: pa.Array) -> None:
  for item in pc.value_counts(column).to_pylist():
    key = item['values']
    counts['(null)' if key is None else str(key)] += item['counts']


def task_aggregates(paths: Sequence[str], names: Sequence[str],
                    threshold: Optional[float]) -> dict:
  """Rows per category and the score histogram of one task table."""
  category = next((c for c in CATEGORY_COLUMNS if c in names), None)
  wanted = [c for c in (category, 'score') if c and c in names]
  counts, folded = Counter(), False
  histogram = [0] * SCORE_BINS
  for batch in batches(paths, wanted):
    if category in batch.schema.names:
      count_values(counts, batch.column(category))
      folded = fold(counts, MAX_CATEGORIES) or folded
    if 'score' in batch.schema.names:
      scores = pc.fill_null(batch.column('score'), 0.0)
      bins = pc.cast(pc.floor(pc.multiply(
          pc.min_element_wise(pc.max_element_wise(scores, 0.0), 1.0),
          SCORE_BINS)), pa.int64())
      for item in pc.value_counts(pc.min_element_wise(
          bins, SCORE_BINS - 1)).to_pylist():
        histogram[item['values']] += item['counts']
  return {'category': category,
          'counts': dict(counts.most_common(KEPT_CATEGORIES)),
          'distinct': len(counts), 'folded': folded or
          len(counts) > KEPT_CATEGORIES,
          'histogram': histogram if 'score' in names else None,
          'threshold': threshold}


def document_aggregates(paths: Sequence[str]) -> dict:
  sums = {'n_chars': 0, 'n_words': 0, 'n_windows': 0, 'n_entities': 0}
  for batch in batches(paths, list(sums)):
    for name in batch.schema.names:
      sums[name] += pc.sum(batch.column(name)).as_py() or 0
  return sums


def dead_letter_aggregates(paths: Sequence[str]) -> dict:
  """Counts by stage and by (stage, task, reason), with the first few
  stored examples of each reason (snippets as the job stored them: cut
  to --dead_letter_snippet_chars, or none)."""
  by_stage, by_reason, examples = Counter(), Counter(), {}
  whole_rows = 0
  columns = ['stage', 'task', 'reason', 'source', 'payload_snippet']
  for batch in batches(paths, columns):
    table = pa.Table.from_batches([batch])
    count_values(by_stage, table.column('stage'))
    whole_rows += table.num_rows - pc.count(table.column('task')).as_py()
    grouped = table.group_by(['stage', 'task', 'reason']).aggregate(
        [([], 'count_all')]).to_pylist()
    hungry = False
    for group in grouped:
      key = (group['stage'], group['task'] or '', group['reason'])
      by_reason[key] += group['count_all']
      hungry |= len(examples.get(key, ())) < EXAMPLES
    if hungry:
      for row in table.to_pylist():
        key = (row['stage'], row['task'] or '', row['reason'])
        found = examples.setdefault(key, [])
        if len(found) < EXAMPLES:
          found.append({'source': row.get('source'),
                        'snippet': row.get('payload_snippet')})
    if len(by_reason) > MAX_REASONS * 10:
      by_reason = Counter(dict(by_reason.most_common(MAX_REASONS)))
      examples = {k: v for k, v in examples.items() if k in by_reason}
  reasons = [{'stage': k[0], 'task': k[1], 'reason': k[2], 'rows': n,
              'examples': examples.get(k, [])}
             for k, n in sorted(by_reason.items(),
                                key=lambda kv: (-kv[1], kv[0]))[:MAX_REASONS]]
  return {'by_stage': dict(by_stage.most_common()), 'reasons': reasons,
          'whole_rows': whole_rows}


def top_entities(paths: Sequence[str], k: int = TOP_ENTITIES) -> List[dict]:
  """The k entities with most mentions (ties: by text, then label)."""
  order = [('mentions', 'descending'), ('entity', 'ascending'),
           ('label', 'ascending')]
  columns = ['entity', 'label', 'mentions', 'documents', 'mean_score']
  best: List[dict] = []
  for batch in batches(paths, columns):
    if not set(columns) <= set(batch.schema.names):
      continue
    picked = batch.take(pc.select_k_unstable(batch, k, sort_keys=order))
    best = sorted(best + picked.to_pylist(),
                  key=lambda r: (-r['mentions'], r['entity'], r['label']))[:k]
  return best


def thresholds(manifest: dict) -> Dict[str, Dict[str, float]]:
  """task -> its threshold settings, as the run's manifest recorded them."""
  tasks = (manifest.get('inputs') or {}).get('tasks', {}).get('tasks', {})
  return {name: {k: v for k, v in (spec or {}).items()
                 if k.endswith('threshold')}
          for name, spec in tasks.items()}


def aggregate(output: str, run_id: str, state: TableState,
              manifest: dict) -> dict:
  """Everything the page shows, from the run's committed files."""
  from model_handler.tasks import TASK_TYPES
  from transforms.corpus_tables import ENTITY_INDEX_TABLE
  from transforms.read_parquet import open_parquet
  files = {t: p for t, p in run_files(output, state, run_id).items()
           if p}  # not the tables only other runs wrote
  rows = {t: sum(f['rows'] for f in state.files[t] if f['run_id'] == run_id)
          for t in files}
  set_thresholds = thresholds(manifest)
  tasks = {}
  for name, task_type in sorted(TASK_TYPES.items()):
    paths = files.get(task_type.table)
    if not paths and name not in set_thresholds:
      continue
    names = (open_parquet(paths[0]).schema_arrow.names if paths else
             task_type.schema().names)
    key = SCORE_THRESHOLD_KEY.get(task_type.table, 'threshold')
    tasks[name] = dict(task_aggregates(
        paths or [], names, set_thresholds.get(name, {}).get(key)),
        table=task_type.table, threshold_key=key)
  entry = state.run(run_id) or {}
  return {
      'run_id': run_id, 'format': 1,
      'manifest': {k: manifest.get(k) for k in (
          'status', 'model_id', 'config_hash', 'inputs', 'started',
          'finished', 'operation', 'incremental', 'skipped', 'version',
          'error', 'measurements', 'model_defaults')},
      'committed': entry.get('committed'),
      'rows': rows, 'files': {t: len(p) for t, p in files.items()},
      'documents': document_aggregates(files.get('documents', [])),
      'tasks': tasks,
      'dead_letters': dead_letter_aggregates(files.get('dead_letter', [])),
      'top_entities': top_entities(files.get(ENTITY_INDEX_TABLE, [])),
  }


def page_aggregates(page: str) -> Optional[dict]:
  """The aggregates a page carries (None: not a report page)."""
  found = _AGGREGATES.search(page)
  return None if found is None else json.loads(found.group(1))


def previous_run(output: str, state: TableState, run_id: str
                 ) -> Optional[str]:
  """The run committed just before this one, also when a later --overwrite
  dropped it from the state (the log keeps every version)."""
  entry = state.run(run_id)
  version = entry['version'] if entry else 0
  before = state_at(output, version - 1) if version > 1 else None
  if before is not None and before.runs:
    return before.runs[-1]['run_id']
  ids = state.run_ids()
  index = ids.index(run_id) if run_id in ids else 0
  return ids[index - 1] if index > 0 else None


def previous_aggregates(output: str, state: TableState, run_id: str
                        ) -> Tuple[Optional[str], Optional[dict], str]:
  """-> (previous run id, its aggregates, why they are missing)."""
  previous = previous_run(output, state, run_id)
  if previous is None:
    return None, None, 'this is the first committed run of this output'
  data = store_for(output).read(report_path(output, previous))
  if data is not None:
    found = page_aggregates(data.decode('utf-8'))
    if found is not None:
      return previous, found, ''
  if previous in state.run_ids():
    try:
      manifest = read_manifest(output, previous)
    except FileNotFoundError:
      manifest = {}
    return previous, aggregate(output, previous, state, manifest), ''
  return previous, None, (f'run {previous} has no report page and a later '
                          '--overwrite removed its files')


# ---------------------------------------------------------------- charts

def _matplotlib():
  """matplotlib and its Figure class: figures are made without pyplot, so
  no global figure state or GUI backend is touched."""
  import matplotlib
  from matplotlib.figure import Figure
  return matplotlib, Figure


def short(text: str, width: int = 40) -> str:
  text = ' '.join(str(text).split())
  return text if len(text) <= width else text[:width - 1] + '…'


def svg_of(figure, salt: str) -> str:
  """A figure as inline SVG markup: no XML prolog, metadata or comments
  (text stays text, escaped by matplotlib's writer), ids unique per
  chart."""
  matplotlib, _ = _matplotlib()
  buffer = io.StringIO()
  with matplotlib.rc_context({'svg.hashsalt': salt}):
    figure.savefig(buffer, format='svg', metadata={'Date': None},
                   bbox_inches='tight')
  markup = buffer.getvalue()
  markup = markup[markup.index('<svg'):]
  markup = re.sub(r'<metadata>.*?</metadata>\s*', '', markup, flags=re.S)
  return re.sub(r'<!--.*?-->\n?', '', markup, flags=re.S)


CHART_STYLE = {'svg.fonttype': 'none', 'text.parse_math': False,
               'font.size': 9, 'axes.spines.top': False,
               'axes.spines.right': False}


def bar_chart(counts: Dict[str, int], title: str, salt: str,
              color: str = '#3b6ea8') -> str:
  """Horizontal bars, largest first (the CHART_BARS largest)."""
  matplotlib, Figure = _matplotlib()
  items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:CHART_BARS]
  with matplotlib.rc_context(CHART_STYLE):
    figure = Figure(figsize=(5.2, 0.6 + 0.26 * max(len(items), 1)))
    axes = figure.subplots()
    names = [short(k) for k, _ in items][::-1]
    values = [v for _, v in items][::-1]
    bars = axes.barh(range(len(items)), values, color=color, height=0.7)
    axes.set_yticks(range(len(items)), names)
    axes.bar_label(bars, labels=[f'{v:,}' for v in values], padding=2,
                   fontsize=8)
    axes.set_title(title, loc='left', fontsize=10)
    axes.margins(x=0.15)
    axes.xaxis.set_visible(False)
    return svg_of(figure, salt)


def histogram_chart(histogram: List[int], threshold: Optional[float],
                    title: str, salt: str) -> str:
  matplotlib, Figure = _matplotlib()
  width = 1.0 / len(histogram)
  with matplotlib.rc_context(CHART_STYLE):
    figure = Figure(figsize=(5.2, 2.4))
    axes = figure.subplots()
    axes.bar([i * width for i in range(len(histogram))], histogram,
             width=width, align='edge', color='#6a9f58', edgecolor='white')
    if threshold is not None:
      axes.axvline(threshold, color='#c0392b', linestyle='--', linewidth=1.5)
    axes.set_xlim(0, 1)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.set_xlabel('score')
    axes.set_ylabel('rows')
    axes.set_title(title, loc='left', fontsize=10)
    return svg_of(figure, salt)


# ---------------------------------------------------------------- page

def esc(value) -> str:
  return html.escape('' if value is None else str(value), quote=True)


def number(value) -> str:
  if isinstance(value, float):
    return f'{value:,.2f}'
  return f'{value:,}' if isinstance(value, int) else esc(value)


def table_html(header: Sequence[str], rows: Sequence[Sequence],
               numeric: Sequence[int] = ()) -> str:
  head = ''.join(f'<th>{esc(h)}</th>' for h in header)
  body = ''.join(
      '<tr>' + ''.join(
          f'<td class="n">{number(cell)}</td>' if i in numeric else
          f'<td>{cell if isinstance(cell, Raw) else esc(cell)}</td>'
          for i, cell in enumerate(row)) + '</tr>' for row in rows)
  return f'<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


class Raw(str):
  """Markup this module built itself (already escaped)."""


def json_inert(value) -> str:
  """JSON that cannot end the <script> element holding it."""
  text = json.dumps(value, sort_keys=True, ensure_ascii=True)
  return (text.replace('&', '\\u0026').replace('<', '\\u003c')
          .replace('>', '\\u003e'))


STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;
background:#f6f7f9;color:#1d2430}
main{max-width:1180px;margin:0 auto;padding:20px 28px 40px}
h1{font-size:22px;margin:4px 0}h2{font-size:17px;margin:28px 0 10px;
border-bottom:2px solid #d7dce3;padding-bottom:4px}h3{font-size:14px;margin:14px 0 6px}
.sub{color:#5a6472;font-size:13px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.card{background:#fff;border:1px solid #d7dce3;border-radius:6px;
padding:8px 14px;min-width:120px}.card b{display:block;font-size:20px}
.card span{font-size:12px;color:#5a6472}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:14px}
.panel{background:#fff;border:1px solid #d7dce3;border-radius:6px;padding:10px}
table{border-collapse:collapse;font-size:12.5px;background:#fff;margin:4px 0}
th,td{border:1px solid #d7dce3;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
td{max-width:520px;overflow-wrap:anywhere}
svg{max-width:100%;height:auto}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.up{color:#1e7b34}.down{color:#b03a2e}.note{color:#5a6472;font-size:12.5px}
"""

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
       "form-action 'none'; base-uri 'none'")


def lineage_section(agg: dict, output: str) -> str:
  manifest = agg['manifest']
  inputs = manifest.get('inputs') or {}
  config = inputs.get('tasks') or {}
  rows = [('output', output), ('model id', manifest.get('model_id')),
          ('config hash', manifest.get('config_hash')),
          ('input', inputs.get('input')),
          ('operation', manifest.get('operation')),
          ('started', manifest.get('started')),
          ('committed', agg.get('committed') or manifest.get('finished')),
          ('commit log version', manifest.get('version'))]
  if manifest.get('model_defaults'):
    rows.append(('taken from the model', ', '.join(
        f'{k} {v}' for k, v in sorted(manifest['model_defaults'].items()))))
  for key in ('text_column', 'id_column', 'window_overlap'):
    if key in config:
      rows.append((key.replace('_', ' '), config[key]))
  tasks = [(name, Raw('<span class="mono">' + esc(', '.join(
      f'{k}={v}' for k, v in sorted((spec or {}).items())
      if k != 'name' and not k.endswith('threshold'))) + '</span>'),
            ', '.join(f'{k} {v:g}' if isinstance(v, (int, float)) else
                      f'{k} {v}' for k, v in sorted((spec or {}).items())
                      if k.endswith('threshold')))
           for name, spec in sorted((config.get('tasks') or {}).items())]
  return ('<h2>Lineage</h2>' + table_html(['', ''], rows) +
          '<h3>Task configuration</h3>' +
          table_html(['task', 'settings', 'thresholds'], tasks))


def measurement_section(agg: dict) -> str:
  measured = agg['manifest'].get('measurements') or {}
  if not measured:
    return ('<h2>Throughput</h2><p class="note">This run recorded no '
            'measurements (its launcher did not wait for it, e.g. a Flex '
            'Template); the tables above are complete.</p>')
  names = [('wall_seconds', 'wall time (s)'),
           ('documents_per_second', 'documents / s'),
           ('documents_read', 'documents read'), ('windows', 'windows'),
           ('model_calls', 'model calls'), ('subwords', 'subwords encoded'),
           ('padding_fraction', 'padding')]
  cards = []
  for key, title in names:
    if key in measured:
      value = measured[key]
      shown = f'{value:.1%}' if key == 'padding_fraction' else number(value)
      cards.append(f'<div class="card"><b>{shown}</b><span>{esc(title)}'
                   '</span></div>')
  return ('<h2>Throughput</h2><div class="cards">' + ''.join(cards) +
          '</div><p class="note">Measured by the launcher that waited for '
          'the run (Beam metrics; wall time includes start-up and model '
          'loading).</p>')


def change_section(agg: dict, previous: Optional[str], before: Optional[dict],
                   why: str) -> str:
  out = ['<h2>Change against the previous run</h2>']
  if before is None:
    return out[0] + f'<p class="note">No comparison: {esc(why)}.</p>'
  out.append(f'<p class="sub">Previous committed run: <code>{esc(previous)}'
             f'</code> (model <code>{esc(before["manifest"].get("model_id"))}'
             f'</code>, config <code>{esc(before["manifest"].get("config_hash"))}'
             '</code>).</p>')

  def delta(now: int, then: int) -> Raw:
    diff = now - then
    cls = 'up' if diff > 0 else 'down' if diff < 0 else ''
    pct = f' ({diff / then:+.0%})' if then else ''
    return Raw(f'<span class="{cls}">{diff:+,}{pct}</span>')

  tables = sorted(set(agg['rows']) | set(before['rows']))
  out.append('<h3>Rows per table</h3>' + table_html(
      ['table', 'previous', 'this run', 'change'],
      [(t, before['rows'].get(t, 0), agg['rows'].get(t, 0),
        delta(agg['rows'].get(t, 0), before['rows'].get(t, 0)))
       for t in tables], numeric=(1, 2)))
  for name in sorted(set(agg['tasks']) | set(before['tasks'])):
    now = (agg['tasks'].get(name) or {}).get('counts') or {}
    then = (before['tasks'].get(name) or {}).get('counts') or {}
    if not now and not then:
      continue
    new = sorted(set(now) - set(then))
    gone = sorted(set(then) - set(now))
    keys = sorted(set(now) | set(then),
                  key=lambda k: (-now.get(k, 0), -then.get(k, 0), k))
    out.append(f'<h3>{esc(name)}: rows per '
               f'{esc(agg["tasks"].get(name, before["tasks"].get(name))["category"])}'
               '</h3>')
    out.append('<p class="note">new: ' + (esc(', '.join(new)) or 'none') +
               ' &middot; disappeared: ' + (esc(', '.join(gone)) or 'none') +
               '</p>')
    out.append(table_html(
        ['value', 'previous', 'this run', 'change'],
        [(k, then.get(k, 0), now.get(k, 0), delta(now.get(k, 0),
                                                  then.get(k, 0)))
         for k in keys[:CHART_BARS]], numeric=(1, 2)))
  return ''.join(out)


def task_section(agg: dict, charts: List[str]) -> str:
  out = ['<h2>Rows per label and score distributions</h2>']
  for name, task in sorted(agg['tasks'].items()):
    rows = agg['rows'].get(task['table'], 0)
    panels = []
    if task['counts']:
      charts.append('bar')
      panels.append(bar_chart(
          task['counts'], f'{name}: rows per {task["category"]}',
          f'c{len(charts)}'))
    if task['histogram'] is not None and rows:
      charts.append('hist')
      panels.append(histogram_chart(
          task['histogram'], task['threshold'],
          f'{name}: score' + (f' (dashed: {task["threshold_key"]} '
                              f'{task["threshold"]:g})'
                              if task['threshold'] is not None else ''),
          f'c{len(charts)}'))
    note = (f' &middot; {task["distinct"]:,} distinct values, the rarest '
            'summed as (other)' if task['folded'] else '')
    out.append(f'<h3>{esc(name)} &rarr; <code>{esc(task["table"])}</code>: '
               f'{rows:,} rows{note}</h3>')
    out.append('<div class="grid">' + ''.join(
        f'<div class="panel">{p}</div>' for p in panels) + '</div>'
               if panels else '<p class="note">No rows.</p>')
  return ''.join(out)


def dead_letter_section(agg: dict, charts: List[str]) -> str:
  dead = agg['dead_letters']
  out = ['<h2>Dead letters</h2>']
  if not dead['reasons']:
    return out[0] + '<p class="note">None: every input row was enriched.</p>'
  charts.append('bar')
  out.append('<div class="grid"><div class="panel">' + bar_chart(
      dead['by_stage'], 'dead letters per stage', f'c{len(charts)}',
      color='#b0553a') + '</div></div>')

  def examples(found: List[dict]) -> Raw:
    return Raw('<br>'.join(
        f'<span class="mono">{esc(e["source"])}</span>: '
        + (esc(e['snippet']) if e['snippet'] is not None else
           '<i>no snippet kept</i>') for e in found))

  out.append('<h3>By stage and reason (examples: the stored snippets)</h3>')
  out.append(table_html(['stage', 'task', 'reason', 'rows', 'examples'], [
      (r['stage'], r['task'] or '(whole row)', r['reason'], r['rows'],
       examples(r['examples'])) for r in dead['reasons']], numeric=(3,)))
  return ''.join(out)


def render(agg: dict, output: str, previous: Optional[str],
           before: Optional[dict], why: str) -> str:
  charts: List[str] = []
  manifest = agg['manifest']
  documents = agg['rows'].get('documents', 0)
  cards = [(documents, 'documents enriched'),
           (manifest.get('skipped') or 0, 'skipped (already enriched)'),
           (agg['dead_letters']['whole_rows'], 'rows dead-lettered'),
           (sum(r['rows'] for r in agg['dead_letters']['reasons']
                if r['task']), 'task-level dead letters'),
           (agg['documents']['n_words'], 'words'),
           (agg['documents']['n_windows'], 'windows')]
  rows_chart = ''
  if agg['rows']:
    charts.append('bar')
    rows_chart = bar_chart(agg['rows'], 'rows per table', f'c{len(charts)}')
  index = [(e['entity'], e['label'], e['mentions'], e['documents'],
            round(e['mean_score'], 3)) for e in agg['top_entities']]
  parts = [
      f'<h1>Run <code>{esc(agg["run_id"])}</code></h1>',
      f'<p class="sub">{esc(manifest.get("status"))} &middot; '
      f'{esc(manifest.get("operation"))} &middot; model '
      f'<code>{esc(manifest.get("model_id"))}</code> &middot; '
      f'{esc(agg.get("committed") or "")}</p>',
      '<div class="cards">' + ''.join(
          f'<div class="card"><b>{number(v)}</b><span>{esc(t)}</span></div>'
          for v, t in cards) + '</div>',
      '<h2>Rows per table</h2><div class="grid"><div class="panel">' +
      rows_chart + '</div><div>' + table_html(
          ['table', 'rows', 'files'],
          [(t, n, agg['files'].get(t, 0)) for t, n in
           sorted(agg['rows'].items())], numeric=(1, 2)) + '</div></div>',
      task_section(agg, charts),
      dead_letter_section(agg, charts),
      '<h2>Top entities (entity_index)</h2>' + (table_html(
          ['entity', 'label', 'mentions', 'documents', 'mean score'], index,
          numeric=(2, 3, 4)) if index else
          '<p class="note">No entity_index rows in this run.</p>'),
      measurement_section(agg),
      change_section(agg, previous, before, why),
      lineage_section(agg, output),
      f'<p class="note">Built from the commit log and the run manifest of '
      f'<code>{esc(output)}</code> by <code>python -m pipeline.report'
      '</code>; no file of this page is fetched from anywhere.</p>',
  ]
  title = f'gliner-beam run {agg["run_id"]}'
  return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
          f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
          '<meta name="viewport" content="width=device-width,initial-scale=1">'
          f'<title>{esc(title)}</title><style>{STYLE}</style></head>\n'
          f'<body><main>\n' + '\n'.join(parts) + '\n</main>\n'
          f'<script type="application/json" id="{AGGREGATES_ID}">'
          f'{json_inert(agg)}</script>\n</body></html>\n')


# ---------------------------------------------------------------- entry

def pick_run(output: str, state: TableState, run_id: Optional[str]) -> str:
  if not state.runs:
    raise ReportError(f'no committed run in {output}')
  if run_id is None:
    return state.runs[-1]['run_id']
  if run_id not in state.run_ids():
    try:
      status = read_manifest(output, run_id).get('status')
    except FileNotFoundError:
      raise ReportError(f'no run {run_id!r} in {output}') from None
    if status != 'committed':
      raise ReportError(f'run {run_id} did not commit (status {status}): '
                        'it left no rows to report')
    raise ReportError(f'run {run_id} was committed but a later --overwrite '
                      'replaced its files; its page, if it was written, is '
                      f'{report_path(output, run_id)}')
  return run_id


def build_report(output: str, run_id: Optional[str] = None) -> str:
  """Write the run's page (default: the latest committed run); -> its path.
  Raises ImportError when matplotlib is not installed."""
  _matplotlib()  # fail before any reading when charts cannot be drawn
  state = latest_state(output)
  run_id = pick_run(output, state, run_id)
  try:
    manifest = read_manifest(output, run_id)
  except FileNotFoundError:
    manifest = dict(state.run(run_id))  # the log knows model and config
  agg = aggregate(output, run_id, state, manifest)
  previous, before, why = previous_aggregates(output, state, run_id)
  page = render(agg, output, previous, before, why)
  path = report_path(output, run_id)
  store_for(output).put(path, page.encode('utf-8'))
  return path


def save_measurements(output: str, run_id: str, summary) -> None:
  """The launcher's numbers of a run it waited for (a RunSummary), kept in
  the run's manifest so any later page shows them."""
  manifest = RunManifest.from_dict(read_manifest(output, run_id))
  manifest.measurements = {
      'wall_seconds': round(summary.seconds, 3),
      'documents_read': summary.get('documents_read'),
      'documents_per_second': round(summary.documents_per_second(), 3),
      'windows': summary.get('windows'),
      'model_calls': summary.get('model_calls'),
      'subwords': summary.get('subwords'),
      'padding_fraction': round(summary.padding_fraction(), 4),
      'measured': datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec='seconds')}
  write_manifest(output, manifest)


def report_after_run(output: str, run_id: str, summary) -> Optional[str]:
  """The launcher's last step of a committed batch run: keep its numbers,
  write its page; one line, never a failure of the run itself."""
  try:
    save_measurements(output, run_id, summary)
    return f'report: {build_report(output, run_id)}'
  except ImportError as exc:
    return (f'report: not written ({exc}; install the `report` extra: pip '
            "install 'gliner-beam[report]', then python -m "
            f'pipeline.report {output} --run_id {run_id})')
  except Exception as exc:  # pylint: disable=broad-except
    return f'report: not written ({type(exc).__name__}: {exc})'


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m pipeline.report',
      description='Write <output>/_runs/<run id>.html for a committed batch '
      'run and print its path.')
  parser.add_argument('output', help='the job\'s --output (local or gs://)')
  parser.add_argument('--run_id', default=None,
                      help='the run (default: the latest committed run)')
  parser.add_argument('--if_missing', action='store_true',
                      help='build the page only when it does not exist '
                      'yet (the path is printed either way)')
  args = parser.parse_args(argv)
  from transforms.emulators import use_anonymous_gcs_for_emulator
  use_anonymous_gcs_for_emulator()
  started = time.monotonic()
  try:
    run_id = pick_run(args.output, latest_state(args.output), args.run_id)
    path = report_path(args.output, run_id)
    built = not (args.if_missing and store_for(args.output).is_file(path))
    if built:
      path = build_report(args.output, run_id)
  except ReportError as exc:
    print(f'error: {exc}', file=sys.stderr)
    return 2
  except ImportError as exc:
    print(f'error: {exc}: install the `report` extra '
          "(pip install 'gliner-beam[report]')", file=sys.stderr)
    return 2
  if built:
    print(f'built in {time.monotonic() - started:.2f} s', file=sys.stderr)
  print(f'run report: {path}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
