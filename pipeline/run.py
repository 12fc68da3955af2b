"""Command-line entry point: parse, validate, run, summarise.

Exit codes: 0 success, 2 bad option (one line on stderr naming it), 1 the
job itself failed.
"""
from __future__ import annotations

import argparse
import contextlib
import difflib
import logging
import signal
import sys
import time
from typing import List, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import StandardOptions

from pipeline import commit, lease, progress
from pipeline.build import build_pipeline, run_manifest
from pipeline.config import JobConfig, OptionError, all_table_names
from pipeline.config import check_output, validate
from pipeline.objectstore import StoreError
from pipeline.table_log import TableState, latest_state
from pipeline.options import GlinerOptions, LABELS_ALIAS, LABELS_FLAG
from pipeline.profiles import PROFILES, apply_profile
from pipeline.options import add_job_arguments, rename_labels_flag
from pipeline.run_summary import RunSummary, collect
from transforms.emulators import use_anonymous_gcs_for_emulator

# Never Beam's default DirectRunner: it first tries PrismRunner, which
# downloads a binary and can hang offline.
DEFAULT_RUNNER = 'FnApiRunner'
DEFAULT_STREAMING_RUNNER = 'BundleBasedDirectRunner'


def arg_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m pipeline',
      description='Enrich Parquet documents with a GLiNER model on Apache '
      'Beam; writes entities, documents and dead_letter Parquet tables.',
      formatter_class=argparse.ArgumentDefaultsHelpFormatter,
      epilog='Any other Apache Beam pipeline option (e.g. '
      '--direct_running_mode=multi_processing --direct_num_workers=2, '
      '--temp_location) is passed through to Beam.')
  add_job_arguments(parser, label_flags=(LABELS_ALIAS, LABELS_FLAG))
  parser.add_argument(
      '--runner',
      default=DEFAULT_RUNNER,
      help='Beam runner (FnApiRunner locally, BundleBasedDirectRunner with '
      '--streaming; DataflowRunner, FlinkRunner, PortableRunner, ...)')
  parser.add_argument(
      '--profile',
      choices=sorted(PROFILES),
      default=None,
      help='Runner preset filling in flags not given: local (FnApiRunner), '
      'dataflow-gpu (Runner v2, NVIDIA L4, bf16, shared model; needs '
      '--project --region --temp_location --sdk_container_image), flink '
      '(FlinkRunner + worker pool; needs --flink_master)')
  parser.add_argument(
      '--streaming',
      action='store_true',
      default=False,
      help='Run as a streaming job (Pub/Sub source, windowed sinks)')
  return parser


def _all_pipeline_option_classes():
  pending, seen = [PipelineOptions], []
  while pending:
    cls = pending.pop()
    if cls not in seen:
      seen.append(cls)
      pending.extend(cls.__subclasses__())
  return seen


def known_flags() -> List[str]:
  """Every flag the job or any Beam PipelineOptions class declares.

  Each class gets a parser of its own: classes declare some flags twice
  (e.g. --labels), and one clash must not hide the class's other flags."""
  parsers = [arg_parser()]
  for cls in _all_pipeline_option_classes():
    if cls is GlinerOptions:
      continue
    parser = argparse.ArgumentParser(add_help=False,
                                     conflict_handler='resolve')
    cls._add_argparse_args(parser)  # pylint: disable=protected-access
    parsers.append(parser)
  flags = [LABELS_ALIAS]
  for parser in parsers:
    for action in parser._actions:  # pylint: disable=protected-access
      flags.extend(o for o in action.option_strings if o.startswith('--'))
  return flags


def check_positionals(argv: List[str]) -> None:
  """Beam ignores words that are no option's value, so an unquoted glob
  (`--input data/*.parquet`, expanded by the shell) would read only the
  first file: refuse them."""
  parser = argparse.ArgumentParser(add_help=False, conflict_handler='resolve')
  for cls in _all_pipeline_option_classes():
    if cls is not GlinerOptions:
      cls._add_argparse_args(parser)  # pylint: disable=protected-access
  add_job_arguments(parser, label_flags=(LABELS_ALIAS, LABELS_FLAG))
  for action in arg_parser()._actions:  # pylint: disable=protected-access
    if action.option_strings and action.option_strings[0] not in (
        '-h', '--help'):
      with contextlib.suppress(argparse.ArgumentError):
        parser._add_action(action)  # pylint: disable=protected-access
  _, rest = parser.parse_known_args(argv)
  stray = [a for a in rest if not a.startswith('-')]
  if stray:
    raise OptionError(
        stray[0], f'unexpected argument ({len(stray)} in all: '
        f'{" ".join(stray[:3])}{" ..." if len(stray) > 3 else ""}); a file '
        "pattern must be quoted (--input 'data/*.parquet') or the shell "
        'expands it into several words')


def check_unknown_flags(argv: List[str]) -> None:
  """Beam only warns about a flag it does not know and runs with the
  default, so `--treshold 0.9` would silently change results: stop instead,
  naming the flag and the closest known one."""
  known = set(known_flags())
  for arg in argv:
    if not arg.startswith('--') or arg == '--':
      continue
    flag = arg.split('=', 1)[0]
    if flag not in known:
      close = difflib.get_close_matches(flag, sorted(known), n=1)
      hint = f' (did you mean {close[0]}?)' if close else ''
      raise OptionError(flag, f'unknown option{hint}')


def parse(argv: List[str], rename_labels: bool = True):
  """-> (JobConfig, PipelineOptions); raises OptionError on bad values.

  `rename_labels=False` leaves `--labels` to Beam (Dataflow job labels), for
  launchers that pass the entity labels as `--entity_labels`.
  """
  arg_parser().parse_known_args(argv)  # --help, and argparse's type errors
  use_anonymous_gcs_for_emulator()  # before start-up checks list gs:// paths
  try:
    argv = apply_profile(argv)
  except (KeyError, ValueError) as exc:
    raise OptionError('--profile', str(exc).strip("'")) from exc
  check_unknown_flags(argv)
  check_positionals(argv)
  beam_argv = rename_labels_flag(argv) if rename_labels else list(argv)
  streaming = PipelineOptions(beam_argv).view_as(StandardOptions).streaming
  if not any(a == '--runner' or a.startswith('--runner=') for a in argv):
    runner = DEFAULT_STREAMING_RUNNER if streaming else DEFAULT_RUNNER
    beam_argv.append(f'--runner={runner}')
  options = PipelineOptions(beam_argv)
  config = validate(options.view_as(GlinerOptions), streaming=bool(streaming))
  return config, options


OUTPUT_ERRORS = (lease.OutputLocked, lease.LeaseLost, commit.RunIdTaken,
                 commit.CommitConflict, StoreError)


def open_output(config: JobConfig) -> TableState:
  """Take the output's lease, finish or discard what earlier runs left,
  check what this run may do, and claim its run id; -> the committed state
  the run starts from (its base)."""
  took = lease.acquire(config.output, config.run_id, config.lease_seconds)
  if took:
    print(f'note: {took}')
  try:
    for note in commit.recover(config.output, config.run_id,
                               all_table_names()):
      print(f'note: recovery: {note}')
    check_output(config.output, config.overwrite, config.incremental,
                 config.run_id)
    base = latest_state(config.output)
    commit.start_manifest(config.output, run_manifest(config, base.version))
  except BaseException:
    lease.release(config.output, config.run_id)
    raise
  return base


def submit(config: JobConfig, options: PipelineOptions):
  """Build and start the pipeline; returns the running PipelineResult.

  Nothing already in the output is touched here: a batch run commits (and,
  with --overwrite, replaces) its tables only in its last step. A batch
  run holds the output's lease from here until its commit step."""
  base = None if config.streaming else open_output(config)
  if config.streaming:
    commit.claim_stream_run(config.output, config.run_id, {
        'run_id': config.run_id, 'model_id': config.model_id,
        'config_hash': config.config_hash()})
  try:
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, config, base)
    return pipeline.run()
  except BaseException as exc:
    if base is not None:
      close_failed_run(config, exc)
    raise


def in_this_process(options: PipelineOptions) -> bool:
  """FnApiRunner without multi-processing runs every DoFn here."""
  from apache_beam.options.pipeline_options import DirectOptions
  runner = str(options.view_as(StandardOptions).runner or '')
  mode = options.view_as(DirectOptions).direct_running_mode
  return runner.endswith('FnApiRunner') and mode in (None, 'in_memory')


def run_job(config: JobConfig, options: PipelineOptions) -> RunSummary:
  started = time.monotonic()
  bar = not config.streaming and in_this_process(options)
  if bar:
    files = [m.path for m in FileSystems.match([config.input])[0].metadata_list]
    progress.start_bar(config.run_id, progress.input_rows(files))
  try:
    result = submit(config, options)  # a failed start cleans up itself
    try:
      keep = (contextlib.nullcontext() if config.streaming else
              lease.KeepLease(config.output, config.run_id,
                              config.lease_seconds))
      with keep:
        result.wait_until_finish()
    except BaseException as exc:
      if not config.streaming:
        close_failed_run(config, exc)
      raise
  finally:
    if bar:
      progress.stop_bar(config.run_id)
  summary = collect(result, time.monotonic() - started)
  if not config.streaming:
    summary.manifest = commit.read_manifest(config.output, config.run_id)
  return summary


def close_failed_run(config: JobConfig, exc: BaseException) -> None:
  commit.abandon(config.output, config.run_id, exc, all_table_names())


class Terminated(KeyboardInterrupt):
  """SIGTERM (a scheduler stopping the job): handled like Ctrl-C."""


_interrupted: List[str] = []  # the signal that stopped the run, if any


def _interrupt(signum, frame):
  """Ctrl-C and SIGTERM raise in the main thread, so the run rolls back
  like after an exception (a runner may wrap the exception: the signal's
  name is noted here too)."""
  _interrupted.append(signal.Signals(signum).name)
  raise (Terminated() if signum == signal.SIGTERM else KeyboardInterrupt())


def output_error(exc: BaseException) -> Optional[str]:
  """One line for an error about the output (exit 2), also when a runner
  wrapped it in its own exception; None for other errors."""
  if isinstance(exc, OUTPUT_ERRORS):
    return f'{type(exc).__name__}: {exc}'
  text = str(exc)
  for cls in OUTPUT_ERRORS:
    marker = f'{cls.__name__}: '
    if marker in text:
      return marker + text.split(marker, 1)[1].splitlines()[0]
  return None


def main(argv: Optional[List[str]] = None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(message)s')
  try:
    config, options = parse(argv)
  except OptionError as exc:
    print(f'error: {exc}', file=sys.stderr)
    return 2
  print(f'gliner-beam: run {config.run_id}, model {config.model_id}, '
        f'tasks {", ".join(t.name for t in config.tasks)} -> {config.output}')
  if config.input_topic:
    print(f'note: --input_topic {config.input_topic}: the runner creates a '
          'subscription for this job and deletes it when the job ends; '
          'messages published while no job runs are not kept')
  previous = {}
  _interrupted.clear()
  with contextlib.suppress(ValueError):  # not the main thread
    for signum in (signal.SIGINT, signal.SIGTERM):
      previous[signum] = signal.signal(signum, _interrupt)
  try:
    summary = run_job(config, options)
  except BaseException as exc:  # pylint: disable=broad-except
    if not _interrupted and not isinstance(exc, KeyboardInterrupt):
      return _failed(exc)
    name = _interrupted[0] if _interrupted else 'SIGINT'
    state = ('committed' if config.run_id in
             latest_state(config.output).run_ids() else 'rolled back') if (
                 not config.streaming) else 'stopped'
    print(f'error: interrupted ({name}): run {config.run_id} {state}',
          file=sys.stderr)
    return 143 if name == 'SIGTERM' else 130
  finally:
    for signum, handler in previous.items():
      signal.signal(signum, handler)
  print(summary.format())
  if not config.streaming:
    from pipeline.report import report_after_run
    print(report_after_run(config.output, config.run_id, summary))
  return 0


def _failed(exc: BaseException) -> int:
  """Exit code and one line for a run that raised."""
  if isinstance(exc, OptionError):
    print(f'error: {exc}', file=sys.stderr)
    return 2
  line = output_error(exc)
  if line:
    print(f'error: --output: {line}', file=sys.stderr)
    return 2
  if not isinstance(exc, Exception):
    raise exc  # SystemExit and the like
  logging.exception('the job failed', exc_info=exc)
  print(f'error: the job failed: {type(exc).__name__}: '
        f'{str(exc).splitlines()[0] if str(exc) else ""}', file=sys.stderr)
  return 1
