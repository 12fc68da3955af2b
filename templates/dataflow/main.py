"""Flex Template entry point (FLEX_TEMPLATE_PYTHON_PY_FILE).

The Dataflow launcher runs `python main.py --name=value ...`, one argument per
template parameter plus the job's Beam options. This file adapts that argv to
the job's command line and submits the pipeline:

* booleans come as `--large_model=true` / `--streaming=false`; argparse's
  store_true flags do not take a value, so `true` becomes the bare flag and
  `false` drops it;
* a job option with an empty value (`--threshold=`) means "not given" and is
  dropped, so its default applies;
* `--runner` defaults to DataflowRunner (the job's own CLI defaults to the
  in-process FnApiRunner, which would run the whole job on the launcher VM);
* `--labels` keeps Beam's meaning, Dataflow job labels: the template names the
  entity labels `entity_labels`, so the CLI's `--labels` alias is off here;
* the job is submitted and NOT waited for: a Flex Template launcher must exit
  after `run()` (Dataflow's requirement), so there is no end-of-run summary;
  nobody renews the output's lease then, so it defaults to 24 hours
  (`--lease_seconds`): the commit step releases it, and a cancelled job's
  lease is taken over after that (or at once with
  `python -m pipeline.recover OUTPUT --break_lease`).

Exit codes as `python -m pipeline`: 2 for a bad option (one line naming it),
1 when the submission fails.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Iterable, List, Optional, Set

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
if str(REPO_ROOT) not in sys.path:
  sys.path.insert(0, str(REPO_ROOT))

from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402

from pipeline import run as job  # noqa: E402
from pipeline.config import OptionError  # noqa: E402
from pipeline.options import add_job_arguments  # noqa: E402

TEMPLATE_RUNNER = 'DataflowRunner'
TEMPLATE_LEASE_SECONDS = 24 * 3600
TRUE = {'true', '1', 'yes'}
FALSE = {'false', '0', 'no', ''}


def _all_subclasses(cls):
  for sub in cls.__subclasses__():
    yield sub
    yield from _all_subclasses(sub)


def store_true_flags() -> Set[str]:
  """`--flag` for every store_true option of the job and of Beam."""
  parser = job.arg_parser()
  actions = list(parser._actions)  # pylint: disable=protected-access
  beam_parser = argparse.ArgumentParser(add_help=False,
                                        conflict_handler='resolve')
  for cls in set(_all_subclasses(PipelineOptions)):
    try:
      cls._add_argparse_args(beam_parser)  # pylint: disable=protected-access
    except Exception:  # pylint: disable=broad-except
      continue  # an options class that cannot be declared twice: skip it
  actions += beam_parser._actions  # pylint: disable=protected-access
  return {
      opt for action in actions
      if isinstance(action, argparse._StoreTrueAction)  # pylint: disable=protected-access
      for opt in action.option_strings if opt.startswith('--')
  }


def job_flags() -> Set[str]:
  """`--dest` of every template parameter (the job's options, --streaming)."""
  parser = argparse.ArgumentParser(add_help=False)
  add_job_arguments(parser)
  return {f'--{a.dest}' for a in parser._actions} | {'--streaming'}  # pylint: disable=protected-access


def launcher_argv(argv: Iterable[str],
                  bool_flags: Optional[Set[str]] = None) -> List[str]:
  """The launcher's `--name=value` argv as the job's command line."""
  bool_flags = store_true_flags() if bool_flags is None else bool_flags
  params = job_flags()
  out: List[str] = []
  for arg in argv:
    flag, eq, value = arg.partition('=')
    if eq and not value.strip() and flag in params:
      continue  # an unset template parameter
    if eq and flag in bool_flags:
      value = value.strip().lower()
      if value in TRUE:
        out.append(flag)
      elif value not in FALSE:
        raise OptionError(flag, f'expects true or false, got {value!r}')
      continue
    out.append(arg)
  if not any(a == '--runner' or a.startswith('--runner=') for a in out):
    out.append(f'--runner={TEMPLATE_RUNNER}')
  if not any(a == '--lease_seconds' or a.startswith('--lease_seconds=')
             for a in out):
    out.append(f'--lease_seconds={TEMPLATE_LEASE_SECONDS}')
  return out


def parse(argv: List[str]):
  """(JobConfig, PipelineOptions) like the CLI, with `--labels` left to Beam."""
  return job.parse(argv, rename_labels=False)


def main(argv: Optional[List[str]] = None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  logging.basicConfig(level=logging.INFO, format='%(levelname)s %(message)s')
  try:
    config, options = parse(launcher_argv(argv))
  except OptionError as exc:
    print(f'error: {exc}', file=sys.stderr)
    return 2
  print(f'gliner-beam template: run {config.run_id}, model {config.model_id}, '
        f'tasks {", ".join(t.name for t in config.tasks)} -> {config.output}')
  try:
    result = job.submit(config, options)
  except OptionError as exc:
    print(f'error: {exc}', file=sys.stderr)
    return 2
  except job.OUTPUT_ERRORS as exc:
    print(f'error: --output: {type(exc).__name__}: {exc}', file=sys.stderr)
    return 2
  except Exception as exc:  # pylint: disable=broad-except
    logging.exception('the job could not be submitted')
    print(f'error: the job could not be submitted: {type(exc).__name__}: '
          f'{str(exc).splitlines()[0] if str(exc) else ""}', file=sys.stderr)
    return 1
  print(f'gliner-beam template: submitted, state {result.state}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
