"""Assembling the job graph: read -> prepare -> RunInference (stage 1, then
relations' stage 2) -> merge -> typed sinks.

Kept separate from option parsing and running so tests can build the same
graph on a TestPipeline.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Dict, Optional

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference

from model_handler.handler import GlinerModelHandler
from model_handler.tasks import RelationsTask
from pipeline.commit import CommitRun, RunManifest, staging_root
from pipeline.table_log import TableState, latest_state
from pipeline.progress import ProgressFn
from pipeline.config import JobConfig, all_table_names
from transforms.assemble_documents import AssembleDocuments
from transforms.merge_windows import MergeResults
from transforms.prepare import PrepareDocuments
from transforms.read_parquet import ReadParquetDocuments
from transforms.relations_stage import PlanStage2CallsFn
from transforms.incremental import SkipEnriched
from transforms.sinks import WriteOutputs, output_tables


def make_model_handler(config: JobConfig) -> GlinerModelHandler:
  return GlinerModelHandler(
      config.model,
      max_batch_tokens=config.max_batch_tokens,
      device=config.device,
      dtype=config.dtype,
      num_threads=config.torch_threads,
      large_model=config.large_model,
      model_copies=config.model_copies,
      compile_model=config.compile_model,
      quantize=config.quantize,
      revision=config.model_revision,
      trust_remote_code=config.trust_remote_code)


class EnrichDocuments(beam.PTransform):
  """SourceRows -> {'documents': EnrichedDocument, 'dead_letter': DeadLetter}.

  The source-independent core of the job: batch and streaming jobs differ only
  in what feeds it. Every stage uses the same handler, and so the same model
  copy per worker process.
  """

  def __init__(self, config: JobConfig):
    super().__init__()
    self._config = config

  def expand(self, rows):
    config = self._config
    calls, prepare_dead = rows | 'Prepare' >> PrepareDocuments(
        config.model, config.tasks, config.max_doc_chars,
        config.window_overlap, config.model_revision,
        config.max_label_subwords)
    results = (calls
               | 'RunInference' >> RunInference(make_model_handler(config))
               | 'Stage1Results' >> beam.Map(lambda p: p.inference))
    all_results = [results]
    dead = [prepare_dead]
    relations = [t for t in config.tasks if isinstance(t, RelationsTask)]
    if relations:
      stage2 = (
          results
          | 'RelationStage1' >> beam.Filter(
              lambda r, name: r.call.task == name and r.call.stage == 1,
              relations[0].name)
          | 'PlanStage2' >> beam.ParDo(
              PlanStage2CallsFn(config.model, relations[0],
                                config.model_revision,
                                emit_plans=config.streaming)).with_outputs(
                  PlanStage2CallsFn.DEAD, PlanStage2CallsFn.PLANS,
                  main='calls'))
      all_results.append(
          stage2.calls
          | 'RunInferenceStage2' >> RunInference(make_model_handler(config))
          | 'Stage2Results' >> beam.Map(lambda p: p.inference))
      dead.append(stage2[PlanStage2CallsFn.DEAD])
      if config.streaming:
        all_results.append(stage2[PlanStage2CallsFn.PLANS])
    parts = all_results | 'AllResults' >> beam.Flatten()
    if config.streaming:
      # Results of a late document arrive piecemeal: merge on completeness,
      # not at a window's end (transforms.assemble_documents).
      documents, merge_dead = parts | 'AssembleDocuments' >> (
          AssembleDocuments(config.tasks,
                            relations[0].name if relations else None))
    else:
      documents, merge_dead = parts | 'MergeResults' >> MergeResults(
          config.tasks)
    dead.append(merge_dead)
    return {
        'documents': documents,
        'dead_letter': dead | 'FlattenDead' >> beam.Flatten(),
        # What progress counts: stage-1 results and pre-model dead letters.
        'progress': (results, prepare_dead) | 'ProgressEvents' >> beam.Flatten(),
    }


def read_source(pipeline: beam.Pipeline, config: JobConfig):
  """The only part that differs between batch and streaming: the source
  (and, for streaming, the removal of Pub/Sub's repeats and of messages
  too late to be written)."""
  if not config.streaming:
    return pipeline | 'ReadParquet' >> ReadParquetDocuments(
        config.input, config.text_column, config.id_column,
        config.extra_columns())
  from transforms.dedup import DropDuplicates
  from transforms.lateness import SplitTooLate
  from transforms.read_pubsub import ReadPubSubDocuments
  rows, dead = pipeline | 'ReadPubSub' >> ReadPubSubDocuments(
      config.input_subscription, config.input_topic, config.message_format,
      config.id_attribute, config.extra_columns(),
      cross_language=config.pubsub_read == 'cross_language',
      expansion_service=config.pubsub_expansion_service,
      timestamp_attribute=config.timestamp_attribute)
  rows = rows | 'DropDuplicates' >> DropDuplicates(
      config.dedup_horizon_seconds)
  rows, too_late = rows | 'OnArrival' >> SplitTooLate(
      config.window_seconds, config.allowed_lateness_seconds)
  return rows, (dead, too_late) | 'ReadDead' >> beam.Flatten()


def windowed_for_sinks(documents, dead, config: JobConfig):
  """Streaming: the model stages run in the global window; the sinks write
  per event-time window, with late panes (transforms.lateness)."""
  from transforms.lateness import SINK_SLACK_SECONDS, SplitTooLate
  from transforms.lateness import event_windows
  net = functools.partial(SplitTooLate, config.window_seconds,
                          config.allowed_lateness_seconds,
                          slack_seconds=SINK_SLACK_SECONDS // 2)
  documents, too_late = documents | 'BeforeSinks' >> net()
  # A dead letter is never turned into another: one too late is re-stamped.
  dead = (dead | 'DeadBeforeSinks' >> net())[0]
  windows = functools.partial(event_windows, config.window_seconds,
                              config.allowed_lateness_seconds)
  return (documents | 'DocumentWindows' >> windows(),
          (dead, too_late)
          | 'AllDeadForSinks' >> beam.Flatten()
          | 'DeadWindows' >> windows())


def run_operation(config: JobConfig) -> str:
  """How a run changes the committed state (pipeline.commit)."""
  if config.overwrite:
    return 'overwrite'
  return 'incremental' if config.incremental else 'append'


def run_manifest(config: JobConfig, base_version: int = 0) -> RunManifest:
  return RunManifest(
      run_id=config.run_id,
      status='running',
      model_id=config.model_id,
      config_hash=config.config_hash(),
      inputs={'input': config.input, 'tasks': config.task_config()},
      incremental=config.incremental,
      partition=f'run={config.run_id}',
      base_version=base_version,
      operation=run_operation(config),
      incremental_key=config.incremental_key if config.incremental else None,
      model_defaults=dict(config.model_defaults))


def build_pipeline(pipeline: beam.Pipeline, config: JobConfig,
                   base: Optional[TableState] = None
                   ) -> Dict[str, beam.PCollection]:
  """The whole job. Batch runs write under the run's staging directory and
  commit all tables together in a last step (pipeline.commit) on top of
  `base`, the committed state the run started from (read here if not
  given); streaming runs write windowed files straight into the tables."""
  rows, read_dead = read_source(pipeline, config)
  skipped = None
  if not config.streaming and base is None:
    base = latest_state(config.output)
  if config.incremental:
    rows, skipped = rows | 'SkipEnriched' >> SkipEnriched(
        base.paths(config.output, 'documents'), base.run_ids(),
        config.model_id, config.config_hash(), config.incremental_key)
  enriched = rows | 'Enrich' >> EnrichDocuments(config)
  documents = enriched['documents']
  dead = ((read_dead, enriched['dead_letter'])
          | 'AllDeadLetters' >> beam.Flatten())
  if config.output_topic:
    from transforms.windowed_sinks import document_message
    lineage = config.lineage()
    _ = (documents
         | 'DocumentMessages' >> beam.Map(document_message, lineage,
                                         config.tasks)
         | 'PublishDocuments' >> beam.io.WriteToPubSub(config.output_topic))
  if config.streaming:
    documents, dead = windowed_for_sinks(documents, dead, config)
  target = (config.output if config.streaming else staging_root(
      config.output, config.run_id))
  written = {
      'documents': documents,
      'dead_letter': dead
  } | 'Write' >> WriteOutputs(target, config.lineage(), config.tasks,
                               windowed=config.streaming,
                               snippet_chars=config.dead_letter_snippet_chars,
                               num_shards=config.num_shards,
                               corpus_tables=config.corpus_tables)
  if not config.streaming:
    finished = [enriched['progress'], read_dead]
    if skipped is not None:
      finished.append(skipped)
    _ = (finished
         | 'AllFinished' >> beam.Flatten()
         | 'Progress' >> beam.ParDo(ProgressFn(config.run_id)))
    iceberg = None
    if config.sink == 'iceberg':
      from pipeline.iceberg_sink import IcebergTarget
      iceberg = dataclasses.asdict(IcebergTarget.from_config(config))
    written['_manifest'] = written | 'Commit' >> CommitRun(
        config.output, run_manifest(config, base.version), all_table_names(),
        skipped=skipped,
        schemas=output_tables(config.tasks, config.corpus_tables),
        iceberg=iceberg)
  return written
