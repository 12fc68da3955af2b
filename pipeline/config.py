"""Start-up validation: options -> a checked, immutable JobConfig.

Everything that can be known before the pipeline starts is checked here, so a
bad flag costs one line on stderr and exit code 2, not a failed job an hour
in. Each error names the option.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from apache_beam.io.filesystems import FileSystems

from common.schemas import Lineage
from common.text import label_list
from model_handler.tasks import NerTask, Task, table_schemas
from model_handler.tasks.base import plain_labels
from pipeline.model_checks import check_device, check_model, check_prompts
from pipeline.model_checks import model_prompt_tokens
from pipeline.option_error import OptionError
from model_handler.task_defaults import NONE as NO_TASK_DEFAULTS
from model_handler.task_defaults import TaskDefaults, TaskDefaultsError
from model_handler.task_defaults import read_task_defaults
from pipeline.task_config import TaskSpecError, parse_tasks_with_defaults
from pipeline.task_config import read_task_document

DEFAULT_LABELS = 'person,organization,location'

SCHEMA_CHECK_FILES = 20


@dataclass(frozen=True)
class JobConfig:
  input: Optional[str]
  output: str
  tasks: Tuple[Task, ...]
  model: str
  model_id: str
  text_column: str
  id_column: str
  window_overlap: Optional[int]
  max_batch_tokens: int
  max_doc_chars: int
  device: str
  dtype: str
  torch_threads: Optional[int]
  large_model: bool
  run_id: str
  overwrite: bool
  model_copies: Optional[int] = None
  compile_model: bool = False
  quantize: str = 'none'
  streaming: bool = False
  input_subscription: Optional[str] = None
  input_topic: Optional[str] = None
  message_format: str = 'auto'
  id_attribute: str = 'id'
  window_seconds: int = 60
  allowed_lateness_seconds: int = 86400
  timestamp_attribute: Optional[str] = None
  dedup_horizon_seconds: int = 600
  output_topic: Optional[str] = None
  pubsub_read: str = 'native'
  pubsub_expansion_service: Optional[str] = None
  dead_letter_snippet_chars: int = 200
  max_label_subwords: Optional[int] = None
  incremental: bool = False
  incremental_key: str = 'id'
  lease_seconds: int = 3600
  sink: str = 'parquet'
  iceberg_catalog_uri: Optional[str] = None
  iceberg_catalog: Optional[str] = None
  iceberg_namespace: str = 'gliner_beam'
  corpus_tables: bool = True
  num_shards: int = 1
  model_revision: Optional[str] = None
  trust_remote_code: bool = False
  # Settings the tasks took from the checkpoint's task_defaults.json
  # ('qa.threshold' -> 0.2), for the run manifest; the values themselves
  # are in `tasks`, so the config hash follows them.
  model_defaults: Tuple[Tuple[str, float], ...] = ()

  def task_config(self) -> dict:
    """What determines the extracted rows (not where or how fast)."""
    return {
        'tasks': {task.name: task.spec_dict() for task in self.tasks},
        'window_overlap': self.window_overlap,
        'text_column': self.text_column,
        'id_column': self.id_column,
    }

  def extra_columns(self) -> Tuple[str, ...]:
    """Input columns the tasks read per document."""
    return tuple(task_columns(self.tasks))

  def config_hash(self) -> str:
    canonical = json.dumps(self.task_config(), sort_keys=True, default=list)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]

  def lineage(self) -> Lineage:
    return Lineage(self.model_id, self.run_id, self.config_hash())


def task_columns(tasks) -> Dict[str, str]:
  """Input columns the tasks read per document -> the task-file key that
  names each (e.g. 'qa.questions_column')."""
  columns: Dict[str, str] = {}
  for task in tasks:
    for column, key in task.input_columns().items():
      columns.setdefault(column, f'{task.name}.{key}')
  return columns


def _check_input(pattern: str, text_column: str,
                 task_columns: Dict[str, str]) -> None:
  """The pattern matches Parquet files holding the text column and every
  column a task reads (`task_columns`: column -> the task key naming it)."""
  from transforms.read_parquet import open_parquet
  try:
    matched = FileSystems.match([pattern])[0].metadata_list
  except Exception as exc:  # pylint: disable=broad-except
    raise OptionError('--input', f'cannot list {pattern!r}: {exc}') from exc
  files = sorted(m.path for m in matched)
  if not files:
    raise OptionError('--input', f'no files match {pattern!r}')
  for path in files[:SCHEMA_CHECK_FILES]:
    try:
      names = open_parquet(path).schema_arrow.names
    except Exception as exc:  # pylint: disable=broad-except
      raise OptionError('--input',
                        f'{path} is not a readable Parquet file: {exc}')
    if text_column not in names:
      raise OptionError(
          '--text_column',
          f'column {text_column!r} not in {path} (columns: {names})')
    for column, key in task_columns.items():
      if column not in names:
        raise OptionError(
            '--tasks', f'{key}: column {column!r} not in {path} '
            f'(columns: {names})')


def all_table_names() -> list:
  """Every table a run can write: the registered tasks', the corpus tables,
  documents and dead_letter (what --overwrite replaces)."""
  from transforms.corpus_tables import CORPUS_TABLES
  return list(table_schemas()) + list(CORPUS_TABLES)


def unlogged_files(output: str) -> list:
  """Parquet files in the output's tables that no commit log covers: an
  output written by an older gliner-beam (or another tool)."""
  from pipeline.objectstore import join, store_for
  from pipeline.table_log import is_managed
  if is_managed(output):
    return []
  store = store_for(output)
  return [path for table in all_table_names()
          for path in store.list(join(output, table))
          if path.endswith('.parquet')]


def check_streaming_output(output: str, run_id: Optional[str]) -> None:
  """Window files carry the run id: a restart must not reuse one."""
  if '://' not in output and os.path.isfile(output):
    raise OptionError('--output', f'{output} is a file; give a directory')
  if not run_id:
    return
  from pipeline.commit import stream_claim_path
  claim = stream_claim_path(output, run_id)
  if FileSystems.exists(claim):
    raise OptionError(
        '--run_id', f'{run_id!r} was already used by a streaming job in '
        f'{output} ({claim}); a restarted job needs its own run id (or '
        'leave --run_id out)')
  pattern = FileSystems.join(output, '*', f'*-{run_id}.parquet')
  try:
    found = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
  except Exception:  # pylint: disable=broad-except
    found = []  # nothing there yet
  if found:
    raise OptionError(
        '--run_id', f'{run_id!r} already wrote {len(found)} window file(s) '
        f'in {output} (e.g. {found[0]}); a restarted streaming job needs its '
        'own run id (or leave --run_id out)')


def check_output(output: Optional[str], overwrite: bool = False,
                 incremental: bool = False, run_id: Optional[str] = None,
                 streaming: bool = False) -> None:
  """What this run may do to --output, from its committed state (the commit
  log): checked at start-up and again under the run's lease."""
  from pipeline.commit import manifest_path
  from pipeline.objectstore import StoreError, store_for
  from pipeline.table_log import latest_state
  if not output:
    raise OptionError('--output', 'required (an output directory)')
  if streaming:
    check_streaming_output(output, run_id)
    return
  try:
    store = store_for(output)
  except StoreError as exc:
    raise OptionError('--output', str(exc)) from exc
  if store.is_file(output.rstrip('/')):
    raise OptionError('--output', f'{output} is a file; give a directory')
  if run_id and store.read(manifest_path(output, run_id)) is not None:
    raise OptionError('--run_id', f'{run_id!r} was already used in {output} '
                      f'({manifest_path(output, run_id)}); every run needs '
                      'its own id')
  unlogged = unlogged_files(output)
  if unlogged and not overwrite:
    raise OptionError(
        '--output', f'{output} holds {len(unlogged)} Parquet file(s) that no '
        f'commit log covers (e.g. {unlogged[0]}: an older gliner-beam or '
        'another tool); use a new path, or --overwrite to replace them')
  state = latest_state(output)
  if state.runs and not (overwrite or incremental):
    raise OptionError(
        '--output', f'{output} already holds {len(state.runs)} committed '
        f'run(s) (latest {state.runs[-1]["run_id"]}); use a new path, '
        '--overwrite to replace them or --incremental to add to them')


def read_text(path: str) -> str:
  with FileSystems.open(path) as handle:
    return handle.read().decode('utf-8')


def model_task_defaults(opts) -> TaskDefaults:
  """The thresholds the checkpoint carries (model_handler.task_defaults);
  a bad file is refused here, naming --model."""
  try:
    return read_task_defaults(opts.model, opts.model_revision)
  except TaskDefaultsError as exc:
    raise OptionError('--model', str(exc)) from exc


def resolve_tasks(opts, defaults: Optional[TaskDefaults] = None
                  ) -> Tuple[Tuple[Task, ...], Dict[str, float]]:
  """--tasks file, or one ner task from --labels and its shortcut flags;
  keys they leave out come from the model's `defaults`, then the built-in
  ones. Also returns what was taken from the model ('ner.threshold': 0.3).
  """
  defaults = defaults or NO_TASK_DEFAULTS
  shortcut_flags = {
      '--labels': opts.entity_labels is not None,
      '--threshold': opts.threshold is not None,
      '--nested_ner': bool(opts.nested_ner),
      '--multi_label': bool(opts.multi_label),
  }
  if opts.tasks:
    used = [flag for flag, given in shortcut_flags.items() if given]
    if used:
      raise OptionError(
          used[0], 'applies to the --labels shortcut only; set it in the '
          '--tasks file (ner section)')
    try:
      text = read_text(opts.tasks)
    except Exception as exc:  # pylint: disable=broad-except
      raise OptionError('--tasks', f'cannot read {opts.tasks}: {exc}')
    try:
      return parse_tasks_with_defaults(read_task_document(text),
                                       defaults.tasks)
    except TaskSpecError as exc:
      raise OptionError('--tasks', str(exc)) from exc
  raw = DEFAULT_LABELS if opts.entity_labels is None else opts.entity_labels
  labels = label_list(raw)
  if not labels:
    raise OptionError('--labels', 'no labels given (e.g. "person,location")')
  given = [label for label in raw.split(',') if label.strip()]
  if len(given) != len(labels):
    raise OptionError('--labels', 'a label is given twice: '
                      f'{", ".join(given)}')
  taken = {}
  model_ner = defaults.for_task(NerTask.name)
  if opts.threshold is not None:
    threshold = opts.threshold
  elif 'threshold' in model_ner:
    threshold = taken['ner.threshold'] = model_ner['threshold']
  else:
    threshold = NerTask.threshold
  if not 0.0 <= threshold <= 1.0:
    raise OptionError('--threshold', f'must be in [0, 1], got {threshold}')
  return (NerTask(
      labels=plain_labels(labels),
      threshold=float(threshold),
      flat_ner=not opts.nested_ner,
      multi_label=bool(opts.multi_label)), ), taken


def _check_source(opts, streaming: bool) -> None:
  sources = [flag for flag, value in (
      ('--input', opts.input), ('--input_subscription',
                                opts.input_subscription),
      ('--input_topic', opts.input_topic)) if value]
  if len(sources) > 1:
    raise OptionError(sources[1], f'give only one source, not also {sources[0]}')
  if not sources:
    raise OptionError('--input', 'required (a Parquet file pattern), or '
                      '--input_subscription / --input_topic with --streaming')
  if sources[0] == '--input' and streaming:
    raise OptionError('--streaming', 'reads --input_subscription or '
                      '--input_topic; a Parquet --input is a batch job')
  if sources[0] != '--input' and not streaming:
    raise OptionError(sources[0], 'needs --streaming')
  if opts.window_seconds < 1:
    raise OptionError('--window_seconds',
                      f'must be >= 1, got {opts.window_seconds}')
  for flag in ('allowed_lateness_seconds', 'dedup_horizon_seconds'):
    if getattr(opts, flag) < 0:
      raise OptionError(f'--{flag}', f'must be >= 0, got {getattr(opts, flag)}')
  if opts.output_topic and not streaming:
    raise OptionError('--output_topic', 'needs --streaming')


def default_shards(opts) -> int:
  """Streaming files per table and window: one on local runners, 8 where
  many workers write (Dataflow, Flink)."""
  from apache_beam.options.pipeline_options import StandardOptions
  runner = str(opts.view_as(StandardOptions).runner or '')
  return 8 if ('Dataflow' in runner or 'Flink' in runner) else 1


RUN_ID = re.compile(r'[A-Za-z0-9][A-Za-z0-9._-]{0,127}')


def _check_settings(opts) -> None:
  """Checks of the options that do not depend on the source or output."""
  if opts.num_shards is not None and opts.num_shards < 1:
    raise OptionError('--num_shards', f'must be >= 1, got {opts.num_shards}')
  if opts.incremental and opts.overwrite:
    raise OptionError('--incremental', 'adds a partition per run and never '
                      'replaces: do not combine it with --overwrite')
  if opts.sink == 'iceberg':
    try:
      import pyiceberg  # noqa: F401
    except ImportError as exc:
      raise OptionError('--sink', 'iceberg needs pyiceberg: pip install '
                        '"gliner-beam[iceberg]"') from exc
  if opts.lease_seconds < 10:
    raise OptionError('--lease_seconds',
                      f'must be >= 10, got {opts.lease_seconds}')
  if opts.run_id is not None and not RUN_ID.fullmatch(opts.run_id):
    raise OptionError('--run_id', f'{opts.run_id!r}: use 1-128 letters, '
                      'digits, ".", "_" or "-", starting with a letter or '
                      'digit (it names files and directories)')
  for name in ('max_batch_tokens', 'max_doc_chars'):
    if getattr(opts, name) < 1:
      raise OptionError(f'--{name}', f'must be >= 1, got {getattr(opts, name)}')
  if opts.window_overlap is not None and opts.window_overlap < 0:
    raise OptionError('--window_overlap',
                      f'must be >= 0, got {opts.window_overlap}')
  if opts.model_copies is not None and opts.model_copies < 1:
    raise OptionError('--model_copies',
                      f'must be >= 1, got {opts.model_copies}')
  if opts.quantize != 'none' and opts.dtype != 'float32':
    raise OptionError('--quantize', f'{opts.quantize} quantizes float32 '
                      f'weights; drop --dtype {opts.dtype}')
  if opts.torch_threads is not None and opts.torch_threads < 1:
    raise OptionError('--torch_threads',
                      f'must be >= 1, got {opts.torch_threads}')
  if not opts.text_column:
    raise OptionError('--text_column', 'must not be empty')
  if opts.max_label_subwords is not None and opts.max_label_subwords < 8:
    raise OptionError('--max_label_subwords',
                      f'must be >= 8, got {opts.max_label_subwords}')
  if opts.dead_letter_snippet_chars < 0:
    raise OptionError('--dead_letter_snippet_chars',
                      f'must be >= 0, got {opts.dead_letter_snippet_chars}')


def new_run_id() -> str:
  return (datetime.datetime.now(datetime.timezone.utc).strftime(
      '%Y%m%dT%H%M%SZ') + '-' + secrets.token_hex(3))


def validate(opts, streaming: bool = False) -> JobConfig:
  """Check a GlinerOptions view and return the JobConfig, or raise OptionError."""
  _check_source(opts, streaming)
  if streaming and opts.incremental:
    raise OptionError('--incremental', 'applies to batch runs (streaming '
                      'reads each message once)')
  if streaming and opts.sink != 'parquet':
    raise OptionError('--sink', 'streaming writes Parquet window files')
  tasks, taken = resolve_tasks(opts, model_task_defaults(opts))
  _check_settings(opts)
  check_device(opts)
  model_id, model_config = check_model(opts.model, opts.model_revision,
                                       opts.trust_remote_code)
  check_prompts(tasks, model_prompt_tokens(model_config),
                '--tasks' if opts.tasks else '--labels')
  if opts.input:
    _check_input(opts.input, opts.text_column, task_columns(tasks))
  check_output(opts.output, opts.overwrite, opts.incremental, opts.run_id,
               streaming)
  return _job_config(opts, tasks, model_id, opts.run_id or new_run_id(),
                     streaming, taken)


def default_options(**values):
  """The job's options with the command line's defaults (one definition:
  pipeline.options), then `values` by option name (no dashes)."""
  from apache_beam.options.pipeline_options import PipelineOptions
  from pipeline.options import GlinerOptions
  opts = PipelineOptions([]).view_as(GlinerOptions)
  known = set(opts.get_all_options(retain_unknown_options=False))
  for name, value in values.items():
    if name not in known:
      raise OptionError(f'--{name}', 'not a job option')
    setattr(opts, name, value)
  return opts


def in_process_config(tasks: Union[Tuple[Task, ...], Mapping[str, Any]],
                      output: str, **values) -> JobConfig:
  """A JobConfig for tools that feed `EnrichDocuments` themselves
  (evaluation, pseudo-labelling, benchmarks): the job's option defaults and
  checks, `values` on top, and `tasks` given directly -- as Task objects
  (used as they are), or as a task document (`{"qa": {"questions": [...]}}`,
  a task file's content) whose missing keys come from the model's
  task_defaults.json as in a job run; no source check."""
  opts = default_options(output=output, **values)
  _check_settings(opts)
  taken: Dict[str, float] = {}
  if isinstance(tasks, Mapping):
    try:
      tasks, taken = parse_tasks_with_defaults(
          tasks, model_task_defaults(opts).tasks)
    except TaskSpecError as exc:
      raise OptionError('--tasks', str(exc)) from exc
  model_id, _ = check_model(opts.model, opts.model_revision,
                            opts.trust_remote_code)
  return _job_config(opts, tuple(tasks), model_id,
                     opts.run_id or new_run_id(), False, taken)


def quantize_suffix(quantize: str) -> str:
  """What the lineage model id gains from --quantize: int8 weights give
  (slightly) different scores than the checkpoint, so rows say so."""
  return '' if quantize in (None, 'none') else f'+{quantize}'


def _job_config(opts, tasks: Tuple[Task, ...], model_id: str, run_id: str,
                streaming: bool,
                model_defaults: Optional[Dict[str, float]] = None
                ) -> JobConfig:
  return JobConfig(
      input=opts.input,
      output=opts.output,
      tasks=tasks,
      model=opts.model,
      model_id=model_id + quantize_suffix(opts.quantize),
      text_column=opts.text_column,
      id_column=opts.id_column,
      window_overlap=opts.window_overlap,
      max_batch_tokens=opts.max_batch_tokens,
      max_doc_chars=opts.max_doc_chars,
      device=opts.device,
      dtype=opts.dtype,
      torch_threads=opts.torch_threads,
      large_model=bool(opts.large_model),
      model_copies=opts.model_copies,
      compile_model=bool(opts.compile),
      quantize=opts.quantize,
      run_id=run_id,
      overwrite=bool(opts.overwrite),
      streaming=streaming,
      input_subscription=opts.input_subscription,
      input_topic=opts.input_topic,
      message_format=opts.message_format,
      id_attribute=opts.id_attribute,
      window_seconds=opts.window_seconds,
      allowed_lateness_seconds=opts.allowed_lateness_seconds,
      timestamp_attribute=opts.timestamp_attribute,
      dedup_horizon_seconds=opts.dedup_horizon_seconds,
      output_topic=opts.output_topic,
      pubsub_read=opts.pubsub_read,
      pubsub_expansion_service=opts.pubsub_expansion_service,
      dead_letter_snippet_chars=opts.dead_letter_snippet_chars,
      max_label_subwords=opts.max_label_subwords,
      incremental=bool(opts.incremental),
      incremental_key=opts.incremental_key,
      lease_seconds=opts.lease_seconds,
      sink=opts.sink,
      iceberg_catalog_uri=opts.iceberg_catalog_uri,
      iceberg_catalog=opts.iceberg_catalog,
      iceberg_namespace=opts.iceberg_namespace,
      corpus_tables=not opts.no_corpus_tables,
      num_shards=opts.num_shards or default_shards(opts),
      model_revision=opts.model_revision,
      trust_remote_code=bool(opts.trust_remote_code),
      model_defaults=tuple(sorted((model_defaults or {}).items())))
