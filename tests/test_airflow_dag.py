"""The Airflow DAG (templates/airflow/) passes only what the job understands.

* Statically, without Airflow (Airflow's pins differ from Beam's, so it never
  enters the job's environment): JOB_PARAMETERS and the helpers that turn it
  into operator arguments are evaluated from the DAG file's syntax tree.
  Every name must be a job option (pipeline.options.add_job_arguments, the
  CLI's --profile) or a Beam option, `incremental` must reach both operators,
  and the argv each operator builds must be accepted by the job with the
  entity labels intact (the Flex Template's launcher for Dataflow,
  `python -m pipeline` for local and Flink), as tests/test_templates.py does
  for metadata.json.
* With Airflow 3.3.2 in its own virtual environment (`.airflow-venv` at the
  repository root, created once, ~4 minutes here): DagBag loads the DAG with
  no import errors, the tasks exist and are wired, templates render, Beam's
  operator builds a command the job parses, and the local target runs the
  job through that operator on two days (the second skips both documents)
  and check_manifest accepts both manifests.
  GLINER_BEAM_SKIP_AIRFLOW=1 skips this part; a failed or too slow install
  skips it too, with the reason.
"""
from __future__ import annotations

import ast
import contextlib
import fcntl
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Dict, List

import pytest

REPO = Path(__file__).resolve().parent.parent
AIRFLOW_DIR = REPO / 'templates' / 'airflow'
DAG_FILE = AIRFLOW_DIR / 'gliner_beam_dag.py'
METADATA = REPO / 'templates' / 'dataflow' / 'metadata.json'
DAG_ID = 'gliner_beam_enrich'
TASK_IDS = {'choose_target', 'enrich_dataflow', 'enrich_local', 'enrich_flink',
            'check_manifest'}
BEAM_TARGETS = ('local', 'flink')

AIRFLOW_VENV = REPO / '.airflow-venv'
AIRFLOW_REQUIREMENTS = ['apache-airflow==3.3.2',
                        'apache-airflow-providers-apache-beam==6.3.1',
                        'apache-airflow-providers-google==22.8.0']
INSTALL_TIMEOUT_S = 8 * 60
SKIP_ENV = 'GLINER_BEAM_SKIP_AIRFLOW'
# What BeamRunPythonPipelineOperator adds to every run's options (3.3.2).
AIRFLOW_LABEL = '--labels=airflow-version=v3-3-2'


# ------------------------------------------------- the DAG file, without Airflow


def dag_namespace() -> dict:
  """The DAG file's constants and plain functions, evaluated without Airflow:
  standard-library imports, UPPER_CASE assignments and top-level functions
  (not the `with DAG(...)` block, not the Airflow imports)."""
  tree = ast.parse(DAG_FILE.read_text(encoding='utf-8'), str(DAG_FILE))
  keep = []
  for node in tree.body:
    if isinstance(node, ast.Import):
      if all(a.name.split('.')[0] in sys.stdlib_module_names
             for a in node.names):
        keep.append(node)
    elif isinstance(node, ast.ImportFrom):
      if node.module == '__future__' or (
          node.module.split('.')[0] in sys.stdlib_module_names):
        keep.append(node)
    elif isinstance(node, ast.Assign):
      if all(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets):
        keep.append(node)
    elif isinstance(node, ast.FunctionDef):
      keep.append(node)
  namespace: dict = {}
  exec(compile(ast.Module(body=keep, type_ignores=[]), str(DAG_FILE), 'exec'),  # pylint: disable=exec-used
       namespace)
  return namespace


@pytest.fixture(scope='module')
def dag() -> dict:
  return dag_namespace()


def operator_calls(name: str) -> List[ast.Call]:
  tree = ast.parse(DAG_FILE.read_text(encoding='utf-8'))
  return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
          and isinstance(n.func, ast.Name) and n.func.id == name]


def keyword(call: ast.Call, name: str) -> str:
  found = [k.value for k in call.keywords if k.arg == name]
  assert found, f'{ast.unparse(call.func)}: no {name}='
  return ast.unparse(found[0])


def job_cli_dests() -> set:
  from pipeline.run import arg_parser
  return {a.dest for a in arg_parser()._actions}  # pylint: disable=protected-access


def beam_dests() -> set:
  """Every option Beam knows (all PipelineOptions subclasses, ours too)."""
  import argparse
  from apache_beam.options.pipeline_options import PipelineOptions

  import pipeline.run  # noqa: F401  (declares GlinerOptions)

  def subclasses(cls):
    for sub in cls.__subclasses__():
      yield sub
      yield from subclasses(sub)

  parser = argparse.ArgumentParser(add_help=False, conflict_handler='resolve')
  for cls in set(subclasses(PipelineOptions)):
    try:
      cls._add_argparse_args(parser)  # pylint: disable=protected-access
    except Exception:  # pylint: disable=broad-except
      continue
  return {a.dest for a in parser._actions}  # pylint: disable=protected-access


def template_params() -> Dict[str, dict]:
  return {p['name']: p for p in json.loads(METADATA.read_text())['parameters']}


# Stand-ins for the Airflow Variables and run context.
RUN_DATE = '20260102T000000'
GCS_VARIABLES = {
    'gliner_beam_input': 'gs://b/docs/*.parquet',
    'gliner_beam_output': 'gs://b/enriched',
    'gliner_beam_model': 'gs://b/models/gliner-multitask-large-v0.5',
    'gliner_beam_image': 'us-central1-docker.pkg.dev/p/r/gliner-beam-gpu:t',
    'gliner_beam_bucket': 'b',
    'gliner_beam_project': 'p',
    'gliner_beam_flink_master': 'flink-jobmanager:8081',
    'gliner_beam_flink_job_server_jar': '/opt/jars/job-server.jar',
}


def render(value, variables: Dict[str, str], try_number: int = 1):
  """The few Jinja forms the DAG uses, rendered like Airflow would."""
  if isinstance(value, dict):
    return {k: render(v, variables, try_number) for k, v in value.items()}
  if not isinstance(value, str):
    return value
  text = re.sub(r'\{\{ var\.value\.(\w+) \}\}',
                lambda m: variables[m.group(1)], value)
  text = re.sub(r"\{\{ var\.value\.get\('(\w+)', '([^']*)'\) \}\}",
                lambda m: variables.get(m.group(1), m.group(2)), text)
  text = re.sub(r'\{\{ \(dag_run\.logical_date or dag_run\.run_after\)'
                r"\.strftime\('%Y%m%dT%H%M%S'\) \}\}", RUN_DATE, text)
  text = text.replace('{{ ti.try_number }}', str(try_number))
  assert '{{' not in text and '{%' not in text, f'unrendered: {text}'
  return text


def beam_argv(runner: str, options: dict) -> List[str]:
  """What BeamRunPythonPipelineOperator passes after `python -m pipeline`
  (apache-airflow-providers-apache-beam 6.3.1: hooks.beam_options_to_args;
  the operator adds its airflow-version label to `labels`). The Airflow
  test below checks this against the provider's own code."""
  argv = [f'--runner={runner}']
  for name, value in options.items():
    if name == 'labels':
      value = dict(value, **{'airflow-version': 'v3-3-2'})
      argv += [f'--labels={k}={v}' for k, v in value.items()]
    elif isinstance(value, bool):
      if value:
        argv.append(f'--{name}')
    elif value is not None:
      argv.append(f'--{name}={value}')
  return argv


def load_template_main():
  spec = importlib.util.spec_from_file_location(
      'gliner_template_main_for_airflow', REPO / 'templates' / 'dataflow' /
      'main.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.unit
def test_every_parameter_the_dag_passes_is_a_job_or_beam_option(dag):
  params = dag['JOB_PARAMETERS']
  assert set(params) == {'common', 'dataflow', *BEAM_TARGETS}
  cli = job_cli_dests()  # add_job_arguments + --runner, --profile, --streaming
  beam = beam_dests()
  for section, values in params.items():
    unknown = set(values) - cli - beam
    assert not unknown, f'{section}: not options of the job: {sorted(unknown)}'
    assert 'labels' not in values, (
        f'{section}: "labels" means Dataflow job labels; the entity labels '
        'are entity_labels')
  template = set(template_params())
  for name in dag['flex_template_parameters']():
    assert name in template or (name in beam and name not in cli), (
        f'{name}: neither a template parameter nor a Beam option')
  for target in BEAM_TARGETS:
    assert set(dag['beam_pipeline_options'](target)) <= cli | beam


@pytest.mark.unit
def test_incremental_and_a_run_id_per_run_reach_both_operators(dag):
  flex = dag['flex_template_parameters']()
  assert flex['incremental'] == 'true'
  assert '{{' in flex['run_id'] and 'try_number' in flex['run_id']
  for target in BEAM_TARGETS:
    options = dag['beam_pipeline_options'](target)
    assert options['incremental'] is True, target  # the bare --incremental
    assert options['run_id'] == flex['run_id']
    assert 'runner' not in options  # the operator's own argument
  # ...and the operators take their arguments from these helpers.
  (dataflow,) = operator_calls('DataflowStartFlexTemplateOperator')
  assert "'parameters': flex_template_parameters()" in keyword(dataflow,
                                                               'body')
  assert keyword(dataflow, 'wait_until_finished') == 'True'
  (beam,) = operator_calls('BeamRunPythonPipelineOperator')
  assert keyword(beam, 'pipeline_options') == 'beam_pipeline_options(target)'
  assert keyword(beam, 'runner') == 'beam_runner(target)'
  assert keyword(beam, 'py_file') == "'pipeline'"
  assert keyword(beam, 'py_options') == "['-m']"


@pytest.mark.unit
def test_flex_template_values_are_strings_the_template_accepts(dag):
  """Dataflow passes every parameter as `--name=value`: strings, booleans as
  true/false (templates/dataflow/main.py makes them bare flags again)."""
  params = template_params()
  flex = render(dag['flex_template_parameters'](), GCS_VARIABLES)
  for name, value in flex.items():
    assert isinstance(value, str), name
    if name in params:
      assert any(re.fullmatch(r, value) for r in params[name]['regexes']), (
          name, value, params[name]['regexes'])
  assert flex['large_model'] == 'true' and flex['max_batch_tokens'] == '32768'


@pytest.mark.unit
def test_beam_target_profiles_match_their_runner(dag):
  from pipeline.profiles import PROFILES
  for target in BEAM_TARGETS:
    section = dag['JOB_PARAMETERS'][target]
    profile = PROFILES[section['profile']]
    assert f'--runner={dag["beam_runner"](target)}' in profile, target


@pytest.mark.unit
def test_labels_come_before_the_entity_labels(dag):
  """Beam's operator always adds `--labels=airflow-version=...`, which
  `python -m pipeline` reads as the ENTITY labels; only an --entity_labels
  after it keeps the configured ones."""
  for target in BEAM_TARGETS:
    names = list(dag['beam_pipeline_options'](target))
    assert names[0] == 'labels', names
    assert 'entity_labels' in names, (
        'the Beam targets need entity_labels: Airflow\'s --labels would '
        'become the entity labels (or clash with --tasks)')


@pytest.mark.unit
def test_latest_attempt_picks_the_highest_try(dag):
  latest = dag['latest_attempt']
  base = '20260102T000000'
  paths = [f'gs://b/out/_runs/{base}-{n}.json' for n in (1, 2, 10)]
  paths += [f'gs://b/out/_runs/{base}-3.json.tmp',
            f'gs://b/out/_runs/{base}0-99.json']
  assert latest(paths, base) == f'gs://b/out/_runs/{base}-10.json'
  assert latest([], base) is None


@pytest.fixture(scope='module')
def local_job(tmp_path_factory, marker_model) -> Dict[str, str]:
  """Variables pointing at a two-document input and the tiny model."""
  from tests.conftest import write_parquet
  root = tmp_path_factory.mktemp('airflow-job')
  write_parquet(root / 'in' / 'docs.parquet', {
      'id': ['a', 'b'],
      'text': ['Barack Obama met Angela Merkel in Berlin.',
               'Tokyo is larger than Osaka.'],
  })
  return dict(GCS_VARIABLES, gliner_beam_input=str(root / 'in' / '*.parquet'),
              gliner_beam_output=str(root / 'out'),
              gliner_beam_model=str(marker_model))


def _ner_labels(config) -> List[str]:
  """The ner task's labels ([label, prompt text] pairs in the config)."""
  return [pair[0] for pair in config.task_config()['tasks']['ner']['labels']]


EXPECTED_LABELS = ['person', 'organization', 'location']


@pytest.mark.parametrize('target', BEAM_TARGETS)
def test_beam_operator_argv_is_parsed_by_the_job(dag, local_job, target):
  from pipeline.run import parse
  options = render(dag['beam_pipeline_options'](target), local_job)
  argv = beam_argv(dag['beam_runner'](target), options)
  assert AIRFLOW_LABEL in argv and '--incremental' in argv
  config, beam_options = parse(argv)
  assert config.incremental is True
  assert config.run_id == f'{RUN_DATE}-1'
  assert _ner_labels(config) == EXPECTED_LABELS
  assert beam_options.get_all_options()['runner'] == dag['beam_runner'](target)


def test_flex_template_parameters_are_parsed_by_the_job(dag, local_job):
  template_main = load_template_main()
  flex = render(dag['flex_template_parameters'](), local_job)
  argv = template_main.launcher_argv([f'--{k}={v}' for k, v in flex.items()])
  assert '--incremental' in argv and '--large_model' in argv
  assert argv[-2:] == ['--runner=DataflowRunner', '--lease_seconds=86400']
  config, options = template_main.parse(argv)
  assert config.incremental is True and config.run_id == f'{RUN_DATE}-1'
  assert _ner_labels(config) == EXPECTED_LABELS
  assert options.get_all_options()['sdk_container_image'] == (
      GCS_VARIABLES['gliner_beam_image'])


# ------------------------------------------------ Airflow, in its own venv


@contextlib.contextmanager
def _install_lock():
  path = Path(tempfile.gettempdir()) / 'gliner-beam-airflow-venv.lock'
  with open(path, 'w', encoding='utf-8') as handle:
    fcntl.flock(handle, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(handle, fcntl.LOCK_UN)


def airflow_python() -> Path:
  """`.airflow-venv`'s python, installing Airflow there once; skips (with
  the reason) when opted out, when the install fails or takes too long."""
  if os.environ.get(SKIP_ENV, '') not in ('', '0'):
    reason = f'{SKIP_ENV}={os.environ[SKIP_ENV]}: Airflow DagBag check skipped'
    print(reason)
    pytest.skip(reason)
  python = AIRFLOW_VENV / 'bin' / 'python'
  ready = AIRFLOW_VENV / '.gliner-beam-ready'
  spec = ' '.join(AIRFLOW_REQUIREMENTS)
  with _install_lock():
    if ready.is_file() and ready.read_text().strip() == spec:
      return python
    shutil.rmtree(AIRFLOW_VENV, ignore_errors=True)
    started = time.monotonic()
    log = Path(tempfile.gettempdir()) / 'gliner-beam-airflow-install.log'
    try:
      subprocess.run([sys.executable, '-m', 'venv', str(AIRFLOW_VENV)],
                     check=True, capture_output=True, timeout=120)
      # Never committed, whatever the repository's .gitignore says.
      (AIRFLOW_VENV / '.gitignore').write_text('*\n')
      with open(log, 'w', encoding='utf-8') as out:
        for args in (['--upgrade', 'pip'], AIRFLOW_REQUIREMENTS):
          left = INSTALL_TIMEOUT_S - (time.monotonic() - started)
          subprocess.run([str(python), '-m', 'pip', 'install', '-q', *args],
                         check=True, stdout=out, stderr=subprocess.STDOUT,
                         timeout=max(left, 1))
    except subprocess.TimeoutExpired:
      shutil.rmtree(AIRFLOW_VENV, ignore_errors=True)
      reason = (f'installing {spec} took over {INSTALL_TIMEOUT_S} s; '
                f'DagBag check skipped (log: {log})')
      print(reason)
      pytest.skip(reason)
    except subprocess.CalledProcessError as exc:
      shutil.rmtree(AIRFLOW_VENV, ignore_errors=True)
      tail = log.read_text(errors='replace')[-2000:] if log.is_file() else ''
      tail = '\n'.join(line for line in tail.splitlines()
                       if 'is ignored: it is neither' not in line)
      reason = (f'installing {spec} failed ({exc.returncode}); DagBag check '
                f'skipped. Log tail:\n{tail}')
      print(reason)
      pytest.skip(reason)
    ready.write_text(spec + '\n')
    print(f'installed {spec} into {AIRFLOW_VENV} in '
          f'{time.monotonic() - started:.0f} s')
  return python


# Runs in .airflow-venv: loads the DAG with DagBag, renders every task with a
# stand-in context, captures the commands Beam's operator would run (the
# provider's own code), then runs the local target for real and checks its
# manifest with the DAG's check_manifest task. Prints one JSON line.
AIRFLOW_SCRIPT = textwrap.dedent('''
    import copy, json, sys, types
    import pendulum
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.apache.beam.hooks import beam as beam_hooks

    folder, dag_id, variables = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    bag = DagBag(dag_folder=folder)
    out = {'import_errors': {k: str(v) for k, v in bag.import_errors.items()},
           'dag_ids': sorted(bag.dags)}
    dag = bag.dags.get(dag_id)
    if dag is None:
      print(json.dumps(out))
      sys.exit(0)
    out['schedule'] = str(dag.schedule)
    out['max_active_runs'] = dag.max_active_runs
    out['tasks'] = {t.task_id: {'type': type(t).__name__,
                                'downstream': sorted(t.downstream_task_ids),
                                'trigger_rule': str(t.trigger_rule)}
                    for t in dag.tasks}

    def context(try_number, day=2):
      return {'dag_run': types.SimpleNamespace(
                  logical_date=pendulum.datetime(2026, 1, day, tz='UTC'),
                  run_after=pendulum.datetime(2026, 1, day, 5, tz='UTC')),
              'ti': types.SimpleNamespace(try_number=try_number),
              'var': {'value': variables}, 'params': {}}

    def task_copy(task_id):  # rendering replaces the templates in place
      return copy.deepcopy(dag.get_task(task_id))

    flex = task_copy('enrich_dataflow')
    flex.render_template_fields(context(1))
    out['flex_body'] = flex.body
    out['flex_project'], out['flex_location'] = flex.project_id, flex.location

    real_run = beam_hooks.run_beam_command
    commands = {}
    beam_hooks.run_beam_command = (
        lambda cmd, **kw: commands.setdefault(current, cmd))
    for current in ('local', 'flink'):
      task = task_copy('enrich_' + current)
      task.render_template_fields(context(1))
      task.execute(context(1))
    out['commands'] = commands

    # The local target, for real: the job runs (as a second attempt), then
    # check_manifest; the next day's run finds nothing new.
    beam_hooks.run_beam_command = real_run
    out['manifests'] = []
    for try_number, day in ((2, 2), (1, 3)):
      task = task_copy('enrich_local')
      task.render_template_fields(context(try_number, day))
      task.execute(context(try_number, day))
      check = task_copy('check_manifest')
      check.render_template_fields(context(1, day))
      out['check_kwargs'] = check.op_kwargs
      out['manifests'].append(check.python_callable(**check.op_kwargs))

    # The target: the run's param, else the Variable gliner_beam_target
    # (AIRFLOW_VAR_GLINER_BEAM_TARGET here), else dataflow.
    choose = dag.get_task('choose_target')
    out['branch'] = {'param': choose.python_callable(params={'target': 'flink'}),
                     'variable': choose.python_callable(params={})}
    try:
      choose.python_callable(params={'target': 'gpu'})
    except Exception as exc:
      out['branch']['bad'] = type(exc).__name__
    print(json.dumps(out, default=str))
''')


@pytest.fixture(scope='module')
def airflow_result(local_job, tmp_path_factory) -> dict:
  python = airflow_python()
  home = tmp_path_factory.mktemp('airflow-home')
  env = {k: v for k, v in os.environ.items() if not k.startswith('AIRFLOW')}
  env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES='False',
             AIRFLOW_VAR_GLINER_BEAM_TARGET='local',
             GLINER_BEAM_PYTHON=sys.executable, HF_HUB_OFFLINE='1')
  env.pop('PYTHONPATH', None)
  proc = subprocess.run(
      [str(python), '-c', AIRFLOW_SCRIPT, str(AIRFLOW_DIR), DAG_ID,
       json.dumps(local_job)],
      cwd=str(home), env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-5000:])
  return json.loads(proc.stdout.strip().splitlines()[-1])


def test_dagbag_loads_the_dag(airflow_result):
  assert airflow_result['import_errors'] == {}
  assert airflow_result['dag_ids'] == [DAG_ID]
  tasks = airflow_result['tasks']
  assert set(tasks) == TASK_IDS
  assert airflow_result['schedule'] == '@daily'
  assert airflow_result['max_active_runs'] == 1
  assert tasks['choose_target']['downstream'] == sorted(
      ['enrich_dataflow', 'enrich_local', 'enrich_flink'])
  for target in ('dataflow', *BEAM_TARGETS):
    assert tasks[f'enrich_{target}']['downstream'] == ['check_manifest']
  assert tasks['enrich_dataflow']['type'] == 'DataflowStartFlexTemplateOperator'
  assert tasks['enrich_local']['type'] == 'BeamRunPythonPipelineOperator'
  assert 'none_failed_min_one_success' in (
      tasks['check_manifest']['trigger_rule'].lower())
  assert airflow_result['branch'] == {
      'param': 'enrich_flink', 'variable': 'enrich_local',
      'bad': 'AirflowFailException'}


def test_dataflow_task_renders_the_launch_request(airflow_result, local_job):
  launch = airflow_result['flex_body']['launchParameter']
  params = launch['parameters']
  assert params['incremental'] == 'true' and params['large_model'] == 'true'
  assert params['run_id'] == '20260102T000000-1'
  assert params['input'] == local_job['gliner_beam_input']
  assert all(isinstance(v, str) for v in params.values())
  assert launch['containerSpecGcsPath'] == (
      'gs://b/templates/gliner-beam-gpu.json')
  assert launch['environment']['machineType'] == 'g2-standard-8'
  assert airflow_result['flex_project'] == 'p'
  assert airflow_result['flex_location'] == 'us-central1'


@pytest.mark.parametrize('target', BEAM_TARGETS)
def test_beam_operator_command_is_parsed_by_the_job(airflow_result, dag,
                                                    local_job, target):
  from pipeline.run import parse
  command = airflow_result['commands'][target]
  assert command[1:3] == ['-m', 'pipeline'], command
  argv = command[3:]
  # The static tests' model of the provider is the provider.
  options = render(dag['beam_pipeline_options'](target), local_job)
  assert argv == beam_argv(dag['beam_runner'](target), options)
  config, _ = parse(argv)
  assert config.incremental is True
  assert _ner_labels(config) == EXPECTED_LABELS


def test_local_target_runs_incrementally_and_check_manifest_accepts_it(
    airflow_result, local_job):
  first, second = airflow_result['manifests']
  assert first['status'] == second['status'] == 'committed'
  assert first['run_id'] == '20260102T000000-2'  # the second attempt
  assert first['partition'] == 'run=20260102T000000-2'
  assert first['tables']['documents']['rows'] == 2 and first['skipped'] == 0
  # The next day: both documents were enriched already.
  assert second['run_id'] == '20260103T000000-1'
  assert second['tables']['documents']['rows'] == 0 and second['skipped'] == 2
  assert airflow_result['check_kwargs'] == {
      'output': local_job['gliner_beam_output'],
      'base_run_id': '20260103T000000'}
  out = Path(local_job['gliner_beam_output'])
  assert list((out / 'documents' / 'run=20260102T000000-2').glob('*.parquet'))
