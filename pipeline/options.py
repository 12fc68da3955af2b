"""The job's command-line options, as a Beam PipelineOptions subclass.

Beam parses these from the same argv as its own flags, so they travel to
workers with the pipeline; `python -m pipeline --help` prints them with their
defaults.
"""
from __future__ import annotations

import re
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.option_error import OptionError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = str(REPO_ROOT / 'models' / 'gliner-multitask-minilm-l6')


# Beam's GoogleCloudOptions already owns `--labels` (Dataflow job labels), so
# the entity labels live under `--entity_labels`; the command line accepts
# `--labels` for them and renames it before Beam sees it.
LABELS_ALIAS = '--labels'
# One Dataflow job label as Beam's --labels takes it: key=value, no commas.
_JOB_LABEL = re.compile(r'^[\w.-]+=[\w.-]*$')
LABELS_FLAG = '--entity_labels'


def rename_labels_flag(argv):
  """Map the user-facing `--labels` to `--entity_labels` in argv.

  A `--labels` value holding `=` is a Dataflow job label (`key=value`, or a
  JSON object), as launchers such as Airflow's Beam operator pass it: it
  stays Beam's (an entity label never contains `=`). A value with `=` that is
  no job label either (`person,x=1`) is refused: Beam would take it and the
  job would run silently with the default labels."""
  renamed = list(argv)
  for i, arg in enumerate(argv):
    if arg == LABELS_ALIAS:
      value = argv[i + 1] if i + 1 < len(argv) else ''
    elif arg.startswith(LABELS_ALIAS + '='):
      value = arg[len(LABELS_ALIAS) + 1:]
    else:
      continue
    if '=' not in value:
      renamed[i] = LABELS_FLAG + arg[len(LABELS_ALIAS):]
    elif not _JOB_LABEL.match(value) and not value.lstrip().startswith('{'):
      raise OptionError(
          LABELS_ALIAS, f'{value!r} is neither entity labels (a label cannot '
          'contain "=") nor one Dataflow job label (key=value)')
  return renamed


def add_job_arguments(parser, label_flags=(LABELS_FLAG, )):
  """Declare the job's options on an argparse (or Beam) parser."""
  group = parser.add_argument_group('gliner-beam')
  group.add_argument(
      '--input',
      help='Batch: Parquet file pattern to read, e.g. "data/*.parquet" or '
      '"gs://bucket/docs/*.parquet"')
  group.add_argument(
      '--input_subscription',
      default=None,
      help='Streaming: Pub/Sub subscription to read documents from '
      '(projects/P/subscriptions/S); needs --streaming')
  group.add_argument(
      '--input_topic',
      default=None,
      help='Streaming: Pub/Sub topic to read; the runner creates (and '
      'deletes) a subscription for the job. Needs --streaming')
  group.add_argument(
      '--message_format',
      choices=('auto', 'json', 'text'),
      default='auto',
      help='Pub/Sub payloads: JSON {"id", "text", ...}, raw UTF-8 text, or '
      'auto (JSON when the payload starts with "{")')
  group.add_argument(
      '--id_attribute',
      default='id',
      help='Pub/Sub attribute holding the document id when the payload has '
      'none; without it the message id is used')
  group.add_argument(
      '--pubsub_read',
      choices=('native', 'cross_language'),
      default='native',
      help='native: Python Pub/Sub source (Dataflow, direct runners); '
      'cross_language: the Java source through an expansion service, for '
      'portable runners such as Flink')
  group.add_argument(
      '--pubsub_expansion_service',
      default=None,
      help='Expansion service address (host:port) for --pubsub_read '
      'cross_language; unset lets Beam start its default Java one')
  group.add_argument(
      '--window_seconds',
      type=int,
      default=60,
      help='Streaming: fixed window length; one Parquet file per table and '
      'window')
  group.add_argument(
      '--allowed_lateness_seconds',
      type=int,
      default=86400,
      help='Streaming: how long after its window ends a message is still '
      'written (in a late pane, its own file); later ones become dead '
      'letters with the reason. Event time: publish time or '
      '--timestamp_attribute')
  group.add_argument(
      '--timestamp_attribute',
      default=None,
      help='Streaming: message attribute holding the event time '
      '(milliseconds since the epoch or RFC 3339); unset: publish time. A '
      'message without it uses its publish time; an unparsable one is a '
      'dead letter')
  group.add_argument(
      '--dedup_horizon_seconds',
      type=int,
      default=600,
      help='Streaming: drop a redelivered message (same message id) or a '
      'publisher retry (same document id and content) read within this '
      'many seconds of the first copy, across windows; 0 turns it off')
  group.add_argument(
      '--output_topic',
      default=None,
      help='Streaming: also publish one JSON message per enriched document '
      'to this Pub/Sub topic')
  group.add_argument(
      '--output',
      help='Output root; tables go to <output>/<table>/ (required)')
  group.add_argument(
      '--tasks',
      default=None,
      help='YAML or JSON file (any Beam file system) declaring the tasks: '
      'ner, relations, qa, summary, classification, open_extraction; see '
      'README. Thresholds it leaves out come from the model\'s '
      'task_defaults.json, then the built-in defaults. Unset means one ner '
      'task from --labels')
  group.add_argument(
      *label_flags,
      dest='entity_labels',
      default=None,
      help='Comma-separated entity labels: a shortcut for one ner task; '
      'unset (and no --tasks) means person,organization,location')
  group.add_argument(
      '--model',
      default=DEFAULT_MODEL,
      help='GLiNER checkpoint: a local directory, a gs:// directory, or a '
      'Hugging Face hub id')
  group.add_argument(
      '--model_revision',
      default=None,
      help='Hub ids only: the revision (commit, tag or branch) to load; '
      'recorded in the lineage model id. Unset means the default branch')
  group.add_argument(
      '--trust_remote_code',
      action='store_true',
      default=False,
      help='Allow a checkpoint whose encoder config names custom code '
      '(auto_map) to run it; refused without this flag')
  group.add_argument(
      '--threshold',
      type=float,
      default=None,
      help='Minimum entity score for --labels, in [0, 1]; unset means the '
      'model\'s task_defaults.json ner.threshold if it has one, else 0.5')
  group.add_argument(
      '--nested_ner',
      action='store_true',
      default=False,
      help='Allow nested entities for --labels; off means flat NER')
  group.add_argument(
      '--multi_label',
      action='store_true',
      default=False,
      help='Allow several labels on the same span for --labels')
  group.add_argument(
      '--text_column',
      default='text',
      help='Input column holding the document text')
  group.add_argument(
      '--id_column',
      default='id',
      help='Input column holding the document id; files without it use '
      '"<file path>#<row number>"')
  group.add_argument(
      '--window_overlap',
      type=int,
      default=None,
      help='Words shared by consecutive windows of a long document; unset '
      'means max(8, min(2 x max_width, max_len / 4)) of the model')
  group.add_argument(
      '--max_batch_tokens',
      type=int,
      default=4096,
      help='Subword budget of one inference batch (prompt + text, padded)')
  group.add_argument(
      '--max_label_subwords',
      type=int,
      default=None,
      help='Subwords one prompt (instruction + labels) may take; a larger '
      'label set is split into several model calls whose results are '
      'merged, a longer instruction dead-letters that task. Unset means half '
      'the encoder limit')
  group.add_argument(
      '--max_doc_chars',
      type=int,
      default=2_000_000,
      help='Documents longer than this are dead-lettered, not processed')
  group.add_argument(
      '--device',
      choices=('auto', 'cpu', 'cuda'),
      default='auto',
      help='Where the model runs; auto picks CUDA when present')
  group.add_argument(
      '--dtype',
      choices=('float32', 'bfloat16', 'float16'),
      default='float32',
      help='Model weight dtype (bfloat16 suits GPUs)')
  group.add_argument(
      '--quantize',
      choices=('none', 'int8'),
      default='none',
      help='CPU only: int8 dynamic quantization of the model\'s Linear '
      'layers (faster, slightly different scores); recorded in the lineage '
      'model id as "+int8"')
  group.add_argument(
      '--torch_threads',
      type=int,
      default=None,
      help='torch intra-op threads per worker process; unset keeps torch\'s')
  group.add_argument(
      '--large_model',
      action='store_true',
      default=False,
      help='Share one model copy among the SDK processes of a worker')
  group.add_argument(
      '--model_copies',
      type=int,
      default=None,
      help='Exact number of model copies per worker, shared by its SDK '
      'processes (e.g. 2 on a GPU with MPS); unset means one per process, or '
      'one per worker with --large_model')
  group.add_argument(
      '--compile',
      action='store_true',
      default=False,
      help='torch.compile the model (GPU throughput; minutes of start-up)')
  group.add_argument(
      '--run_id',
      default=None,
      help='Lineage id stamped on every row, unique per run: a batch run '
      'whose id this output already saw is refused; unset means UTC time + '
      'random')
  group.add_argument(
      '--overwrite',
      action='store_true',
      default=False,
      help='Replace the tables already in --output, only when this run '
      'commits (the old files are deleted after the new state is durable)')
  group.add_argument(
      '--incremental',
      action='store_true',
      default=False,
      help='Scheduled runs: skip input rows whose latest committed version '
      '(by --incremental_key) has the same content hash, model id and task '
      'config; each run adds its own partition <table>/run=<run id>/')
  group.add_argument(
      '--incremental_key',
      choices=('id', 'source'),
      default='id',
      help='--incremental: what identifies a document across runs: id (the '
      '--id_column value; <file>#<row> where the input has none), or source '
      '(the input file and row)')
  group.add_argument(
      '--lease_seconds',
      type=int,
      default=3600,
      help='Batch runs hold a lease on --output (one writer at a time); it '
      'is renewed while the launcher waits, and a lease not renewed for this '
      'long (or whose process is gone) is taken over by the next run')
  group.add_argument(
      '--sink',
      choices=('parquet', 'iceberg'),
      default='parquet',
      help='parquet: Parquet tables under --output; iceberg: the same files, '
      'then committed to Apache Iceberg tables, one snapshot per table and '
      'run (pyiceberg)')
  group.add_argument(
      '--iceberg_catalog_uri',
      default=None,
      help='--sink iceberg: SQL catalog URI (e.g. postgresql+psycopg2://..); '
      'unset means sqlite:///<output>/_iceberg/catalog.db (local only)')
  group.add_argument(
      '--iceberg_catalog',
      default=None,
      help='--sink iceberg: name of a catalog configured for pyiceberg '
      '(.pyiceberg.yaml / PYICEBERG_CATALOG__*: REST, Glue, Hive, ...); '
      'overrides --iceberg_catalog_uri')
  group.add_argument(
      '--iceberg_namespace',
      default='gliner_beam',
      help='--sink iceberg: namespace of the tables')
  group.add_argument(
      '--no_corpus_tables',
      action='store_true',
      default=False,
      help='Do not build the corpus-level tables (entity_index with ner, '
      'relation_triples with relations)')
  group.add_argument(
      '--num_shards',
      type=int,
      default=None,
      help='Streaming: files per table and window (rows spread by source); '
      'unset means 1 on local runners, 8 on Dataflow and Flink')
  group.add_argument(
      '--dead_letter_snippet_chars',
      type=int,
      default=200,
      help='Characters of the rejected text kept in dead_letter rows; 0 keeps '
      'none (personal data)')


class GlinerOptions(PipelineOptions):
  """Where documents come from, which model reads them, where results go."""

  @classmethod
  def _add_argparse_args(cls, parser):
    add_job_arguments(parser)
