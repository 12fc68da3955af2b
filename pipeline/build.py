"""Assembling the job graph: read -> prepare -> RunInference -> merge -> sinks.

Kept separate from option parsing and running so tests can build the same
graph on a TestPipeline.
"""
from __future__ import annotations

from typing import Dict

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference

from model_handler.handler import GlinerModelHandler
from pipeline.config import JobConfig
from transforms.merge import MergeWindows
from transforms.prepare import PrepareDocuments
from transforms.read_parquet import ReadParquetDocuments
from transforms.sinks import WriteOutputs


def make_model_handler(config: JobConfig) -> GlinerModelHandler:
  return GlinerModelHandler(
      config.model,
      threshold=config.threshold,
      flat_ner=config.flat_ner,
      multi_label=config.multi_label,
      max_batch_tokens=config.max_batch_tokens,
      device=config.device,
      dtype=config.dtype,
      num_threads=config.torch_threads,
      large_model=config.large_model)


class EnrichDocuments(beam.PTransform):
  """SourceRows -> {'documents': EnrichedDocument, 'dead_letter': DeadLetter}.

  The source-independent core of the job: batch and streaming jobs differ only
  in what feeds it.
  """

  def __init__(self, config: JobConfig):
    super().__init__()
    self._config = config

  def expand(self, rows):
    config = self._config
    windows, prepare_dead = rows | 'Prepare' >> PrepareDocuments(
        config.model, config.labels, config.max_doc_chars,
        config.window_overlap)
    predictions = windows | 'RunInference' >> RunInference(
        make_model_handler(config))
    documents, merge_dead = predictions | 'MergeWindows' >> MergeWindows(
        config.flat_ner, config.multi_label)
    return {
        'documents': documents,
        'dead_letter': (prepare_dead, merge_dead)
                       | 'FlattenDead' >> beam.Flatten(),
    }


def build_pipeline(pipeline: beam.Pipeline,
                   config: JobConfig) -> Dict[str, beam.PCollection]:
  rows, read_dead = pipeline | 'ReadParquet' >> ReadParquetDocuments(
      config.input, config.text_column, config.id_column)
  enriched = rows | 'Enrich' >> EnrichDocuments(config)
  dead = ((read_dead, enriched['dead_letter'])
          | 'AllDeadLetters' >> beam.Flatten())
  return {
      'documents': enriched['documents'],
      'dead_letter': dead
  } | 'Write' >> WriteOutputs(config.output, config.lineage())
