"""Airflow DAG: one incremental gliner-beam run a day.

`--incremental` makes a daily run cheap (only new or changed documents are
enriched) and gives every run its own partition `<table>/run=<run id>/` and
manifest `<output>/_runs/<run id>.json`. Something still has to start the
runs one at a time, each with its own `--run_id`, and check that they
committed: this DAG does, on Dataflow (the Flex Template of
templates/dataflow/) or, on a local machine or a Flink cluster, by running
`python -m pipeline` through Beam's operator.

Every job parameter is in JOB_PARAMETERS below: literals and Jinja strings
that Airflow renders when a task runs. tests/test_airflow_dag.py reads them
without Airflow and checks every name against the job's options. Needs
Airflow 3 with apache-airflow-providers-apache-beam and -google; see
templates/airflow/README.md for the Variables it reads.
"""
from __future__ import annotations

import glob
import json
import os
import re

import pendulum
from airflow.providers.apache.beam.operators.beam import (
    BeamRunPythonPipelineOperator)
from airflow.providers.google.cloud.operators.dataflow import (
    DataflowStartFlexTemplateOperator)
from airflow.sdk import DAG, Param, TriggerRule, Variable, task
from airflow.sdk.exceptions import AirflowFailException

DAG_ID = 'gliner_beam_enrich'
TARGETS = ('dataflow', 'local', 'flink')

# One run id per DAG run AND attempt: `<logical date>-<try>` (e.g.
# 20260101T000000-1). The job refuses a run id it has seen, so a retry needs
# its own; the retry's start finishes or discards what the failed attempt
# left (pipeline.commit's recovery). Manual runs
# without a logical date fall back to the time they were queued.
RUN_DATE = ("{{ (dag_run.logical_date or dag_run.run_after)"
            ".strftime('%Y%m%dT%H%M%S') }}")
RUN_ID = RUN_DATE + '-{{ ti.try_number }}'

# Every job parameter, by option name (`python -m pipeline --help`, the
# template's metadata.json). Python values: booleans are True/False here;
# flex_template_parameters() writes them as 'true'/'false' for the template,
# Beam's operator turns True into the bare flag. `{{ var.value.NAME }}` is an
# Airflow Variable, read when the task runs (a missing one fails the task).
JOB_PARAMETERS = {
    # Every target.
    'common': {
        'input': '{{ var.value.gliner_beam_input }}',
        'output': '{{ var.value.gliner_beam_output }}',
        'model': '{{ var.value.gliner_beam_model }}',
        'entity_labels': 'person,organization,location',
        # Skip documents this output already enriched with the same model and
        # tasks; this run's rows go to <table>/run=<run id>/.
        'incremental': True,
        'run_id': RUN_ID,
    },
    # Dataflow Flex Template, one NVIDIA L4 per worker (as `make run` in
    # templates/dataflow/; the GPU itself is in FLEX_TEMPLATE below).
    # sdk_container_image is a Beam option the launcher hands to Beam.
    'dataflow': {
        'sdk_container_image': '{{ var.value.gliner_beam_image }}',
        'device': 'cuda',
        'dtype': 'bfloat16',
        'large_model': True,
        'max_batch_tokens': 32768,
    },
    # `python -m pipeline` on the Airflow worker (in-process FnApiRunner).
    # `runner` is the operator's runner (the profile's runner).
    'local': {
        'runner': 'FnApiRunner',
        'profile': 'local',
    },
    # `python -m pipeline` submitting to Flink (templates/flink/README.md):
    # the flink profile adds the worker-pool environment.
    'flink': {
        'runner': 'FlinkRunner',
        'profile': 'flink',
        'flink_master': '{{ var.value.gliner_beam_flink_master }}',
        'flink_job_server_jar': '{{ var.value.gliner_beam_flink_job_server_jar }}',
    },
}

# Dataflow's launch request (FlexTemplateRuntimeEnvironment), not job options.
# The accelerator is given as an experiment, Dataflow's other spelling of the
# worker_accelerator service option, so the job's own option check never sees
# it.
FLEX_TEMPLATE = {
    'containerSpecGcsPath':
        'gs://{{ var.value.gliner_beam_bucket }}/templates/gliner-beam-gpu.json',
    'environment': {
        'machineType': 'g2-standard-8',
        'maxWorkers': 4,
        'additionalExperiments': [
            'use_runner_v2',
            'worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver',
        ],
        'tempLocation': 'gs://{{ var.value.gliner_beam_bucket }}/tmp',
        'stagingLocation': 'gs://{{ var.value.gliner_beam_bucket }}/staging',
    },
}

# The interpreter of an environment where the job is installed
# (`pip install -c constraints.txt -e .`), read when the DAG is parsed:
# BeamRunPythonPipelineOperator does not template it.
JOB_PYTHON = os.environ.get('GLINER_BEAM_PYTHON', 'python3')


def template_value(value) -> str:
  """A parameter as the Flex Template expects it: strings, true/false."""
  if isinstance(value, bool):
    return 'true' if value else 'false'
  return str(value)


def flex_template_parameters() -> dict:
  """The Dataflow template's `parameters`: common + dataflow, as strings."""
  merged = {**JOB_PARAMETERS['common'], **JOB_PARAMETERS['dataflow']}
  return {name: template_value(v) for name, v in merged.items()
          if v is not None}


def beam_runner(target: str) -> str:
  return JOB_PARAMETERS[target]['runner']


def beam_pipeline_options(target: str) -> dict:
  """`pipeline_options` of the Beam operator for `target`.

  `labels` comes FIRST: the operator always adds its own Dataflow job label
  (`--labels=airflow-version=v3-3-2`). The job keeps a `key=value` --labels
  as Beam's job labels; older versions read it as the entity labels, and
  with the key first that flag lands before `--entity_labels`, which wins.
  """
  options = {'labels': {}}
  options.update(JOB_PARAMETERS['common'])
  options.update({name: v for name, v in JOB_PARAMETERS[target].items()
                  if name != 'runner'})
  return options


def _read(path: str) -> str:
  if path.startswith('gs://'):
    from airflow.providers.google.cloud.hooks.gcs import GCSHook
    bucket, _, name = path[len('gs://'):].partition('/')
    return GCSHook().download(bucket_name=bucket,
                              object_name=name).decode('utf-8')
  with open(path, encoding='utf-8') as handle:
    return handle.read()


def _manifests(output: str, prefix: str) -> list:
  """Manifest paths under `<output>/_runs/` whose run id starts with prefix."""
  runs = output.rstrip('/') + '/_runs/'
  if runs.startswith('gs://'):
    from airflow.providers.google.cloud.hooks.gcs import GCSHook
    bucket, _, folder = runs[len('gs://'):].partition('/')
    names = GCSHook().list(bucket_name=bucket, prefix=folder + prefix)
    return [f'gs://{bucket}/{name}' for name in names]
  return glob.glob(glob.escape(runs + prefix) + '*')


def latest_attempt(paths: list, base: str):
  """The manifest of the highest attempt `<base>-<try>.json`, or None."""
  pattern = re.compile(re.escape(base) + r'-(\d+)\.json$')
  found = [(int(m.group(1)), p) for p in paths
           if (m := pattern.search(p.rsplit('/', 1)[-1]))]
  return max(found)[1] if found else None


with DAG(
    dag_id=DAG_ID,
    description='GLiNER enrichment of new and changed documents, daily',
    schedule='@daily',
    start_date=pendulum.datetime(2026, 1, 1, tz='UTC'),
    catchup=False,
    # Incremental runs skip what earlier runs COMMITTED: two at once would
    # both enrich the same new documents.
    max_active_runs=1,
    params={
        'target': Param(
            None, type=['null', 'string'], enum=[None, *TARGETS],
            description='dataflow, local or flink; unset: the Airflow '
            'Variable gliner_beam_target (default dataflow)'),
    },
    tags=['gliner-beam'],
) as dag:

  @task.branch
  def choose_target(params=None) -> str:
    target = (params or {}).get('target') or Variable.get(
        'gliner_beam_target', default='dataflow')
    if target not in TARGETS:
      raise AirflowFailException(
          f'target {target!r}: expected one of {", ".join(TARGETS)}')
    return f'enrich_{target}'

  enrich_dataflow = DataflowStartFlexTemplateOperator(
      task_id='enrich_dataflow',
      project_id='{{ var.value.gliner_beam_project }}',
      location="{{ var.value.get('gliner_beam_region', 'us-central1') }}",
      body={
          'launchParameter': {
              # The operator appends a unique suffix.
              'jobName': 'gliner-beam',
              'parameters': flex_template_parameters(),
              **FLEX_TEMPLATE,
          },
      },
      # A batch job: the task ends when the Dataflow job does.
      wait_until_finished=True,
  )

  enrich_beam = {
      target: BeamRunPythonPipelineOperator(
          task_id=f'enrich_{target}',
          py_file='pipeline',
          py_options=['-m'],
          py_interpreter=JOB_PYTHON,
          runner=beam_runner(target),
          pipeline_options=beam_pipeline_options(target),
      ) for target in ('local', 'flink')
  }

  @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
  def check_manifest(output: str, base_run_id: str) -> dict:
    """The run's manifest says `committed` (its tables are in place)."""
    path = latest_attempt(_manifests(output, base_run_id), base_run_id)
    if path is None:
      raise AirflowFailException(
          f'no manifest {output}/_runs/{base_run_id}-<try>.json')
    manifest = json.loads(_read(path))
    if manifest.get('status') != 'committed':
      raise AirflowFailException(
          f'{path}: status {manifest.get("status")!r}, not committed '
          f'({manifest.get("error")})')
    return {key: manifest.get(key) for key in
            ('run_id', 'status', 'partition', 'skipped', 'tables')}

  checked = check_manifest(
      output=JOB_PARAMETERS['common']['output'],
      base_run_id=RUN_DATE)

  choose_target() >> [enrich_dataflow, *enrich_beam.values()] >> checked
