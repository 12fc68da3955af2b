"""The streaming job's own stages under Beam's TestStream (real watermark and
processing-time control on BundleBasedDirectRunner, no Pub/Sub):
repeats dropped across windows, late documents assembled whole, and the
arrival check that turns too-late rows into dead letters."""
import dataclasses
import json
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import test_stream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Duration

from common.records import DEAD_LETTER, DeadLetter, SourceRow
from transforms.dedup import DropDuplicates
from transforms.lateness import SplitTooLateFn, window_end

STREAMING = ['--streaming', '--runner', 'BundleBasedDirectRunner']


def row(message: int, doc_id: str, text: str, at: float) -> SourceRow:
  return SourceRow(f'pubsub:{message}', doc_id, text, event_time=at)


def test_repeats_are_dropped_across_windows_new_versions_kept():
  """Windows of 10 s: every copy below arrives in another window than its
  first. Same message id (redelivery) and same id + content (publisher
  retry) are dropped; same id with other content is a new version. (The
  horizon's expiry is DeduplicatePerKey's own processing-time timer, set
  from the real clock, which TestStream's clock does not drive.)"""
  stream = (test_stream.TestStream()
            .advance_watermark_to(0)
            .add_elements([TimestampedValue(row(1, 'a', 'alpha', 1), 1),
                           TimestampedValue(row(2, 'b', 'beta', 2), 2)])
            .advance_watermark_to(15).advance_processing_time(15)
            .add_elements([
                TimestampedValue(row(1, 'a', 'alpha', 1), 16),  # redelivery
                TimestampedValue(row(3, 'b', 'beta', 17), 17),  # retry
                TimestampedValue(row(4, 'a', 'alpha v2', 18), 18),  # version
            ])
            .advance_watermark_to(40)
            .add_elements([TimestampedValue(row(5, 'b', 'beta', 41), 41)])
            .advance_watermark_to_infinity())
  with beam.Pipeline(options=PipelineOptions(STREAMING)) as pipeline:
    kept = (pipeline | stream | DropDuplicates(60)
            | beam.Map(lambda r: r.record_key))
    assert_that(kept, equal_to(['pubsub:1', 'pubsub:2', 'pubsub:4']))


def test_horizon_zero_keeps_every_copy():
  stream = (test_stream.TestStream().advance_watermark_to(0)
            .add_elements([TimestampedValue(row(1, 'a', 'x', 1), 1),
                           TimestampedValue(row(1, 'a', 'x', 1), 1)])
            .advance_watermark_to_infinity())
  with beam.Pipeline(options=PipelineOptions(STREAMING)) as pipeline:
    kept = pipeline | stream | DropDuplicates(0) | beam.Map(
        lambda r: r.record_key)
    assert_that(kept, equal_to(['pubsub:1', 'pubsub:1']))


def split(element, at: float, window_seconds=10, lateness=5):
  return list(SplitTooLateFn(window_seconds, lateness).process(element, at))


def test_arrival_check_against_the_wall_clock():
  now = time.time()
  fresh = row(1, 'a', 'text', now)
  assert split(fresh, fresh.event_time) == [fresh]
  # Window closed 6 s ago, lateness 5 s: a dead letter stamped now, with
  # the text kept and the reason spelled out.
  old_at = now - (now % 10) - 16  # inside a window that ended >= 6 s ago
  old = row(2, 'b', 'old text', old_at)
  [out] = split(old, old_at)
  assert out.tag == DEAD_LETTER
  letter = out.value.value
  assert out.value.timestamp >= now
  assert letter.stage == 'late' and letter.payload == 'old text'
  assert 'more than --allowed_lateness_seconds=5' in letter.reason
  assert window_end(old_at, 10) + 5 <= now
  # Before the sinks, the slack for the model stages counts too.
  [kept_doc] = list(SplitTooLateFn(10, 5, slack_seconds=3600).process(
      old, old_at))
  assert kept_doc == old
  # A dead letter that is too late is only re-stamped, never lost.
  parse_letter = DeadLetter('pubsub:3', None, 'parse', 'malformed JSON')
  [kept] = split(parse_letter, old_at)
  assert kept.value == parse_letter and kept.timestamp >= now
  # No event time (the end of the global window): stamped now, not left in
  # a window that never closes.
  from apache_beam.utils.timestamp import MAX_TIMESTAMP
  [stamped] = split(fresh, MAX_TIMESTAMP)
  assert stamped.value == fresh and stamped.timestamp >= now


TEXTS = {
    'a': 'Marie Curie worked at the University of Paris with Pierre Curie.',
    'b': 'Acme Corp hired Jane Doe in Oslo, where she met John Smith.',
    'c': ' '.join(['Angela Merkel met Emmanuel Macron in Berlin.'] * 120),
    'd': '   ',  # dead letter at validation
    'e': 'The Danube flows through Vienna and Budapest to the Black Sea.',
}


def comparable(doc) -> str:
  """A document's outputs with scores rounded (batching may reorder
  floating-point sums)."""
  def plain(value):
    if dataclasses.is_dataclass(value):
      return {k: plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
      return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
      return [plain(v) for v in value]
    if isinstance(value, float):
      return round(value, 3)
    return value
  return json.dumps([doc.doc_id, doc.n_windows, plain(doc.outputs)],
                    sort_keys=True)


def record(path, value: str):
  with open(path, 'a', encoding='utf-8') as handle:
    handle.write(value + '\n')


def test_late_documents_are_assembled_whole_like_batch(default_model,
                                                       tmp_path):
  """All six tasks (relations: two stages) on documents of which most
  arrive behind the watermark, in pieces of the stream. The streaming
  assembly must give exactly the batch job's documents and dead letters."""
  from pipeline.build import EnrichDocuments
  from pipeline.run import parse
  config, _ = parse([
      '--streaming', '--input_subscription',
      'projects/test-project/subscriptions/s', '--output',
      str(tmp_path / 'out'), '--model', str(default_model), '--tasks',
      'examples/all_tasks.yaml', '--runner', 'BundleBasedDirectRunner'])
  rows = [row(i, doc_id, text, 5 + i) for i, (doc_id, text) in
          enumerate(TEXTS.items())]

  stream = test_stream.TestStream().advance_watermark_to(0)
  stream = stream.add_elements([TimestampedValue(rows[0], rows[0].event_time)])
  stream = stream.advance_watermark_to(100)  # windows of every row closed
  for late in rows[1:]:
    stream = stream.add_elements([TimestampedValue(late, late.event_time)])
    stream = stream.advance_processing_time(Duration(seconds=1))
  stream = stream.advance_watermark_to_infinity()

  streamed, batched = tmp_path / 'streamed.jsonl', tmp_path / 'batched.jsonl'
  with beam.Pipeline(options=PipelineOptions(STREAMING)) as pipeline:
    enriched = pipeline | stream | EnrichDocuments(config)
    _ = enriched['documents'] | 'Docs' >> beam.Map(
        lambda d, p: record(p, comparable(d)), str(streamed))
    _ = enriched['dead_letter'] | 'Dead' >> beam.Map(
        lambda d, p: record(p, json.dumps(['dead', d.doc_id, d.stage])),
        str(streamed))
  batch = dataclasses.replace(config, streaming=False)
  with beam.Pipeline(runner='FnApiRunner') as pipeline:
    enriched = pipeline | beam.Create(rows) | EnrichDocuments(batch)
    _ = enriched['documents'] | 'Docs' >> beam.Map(
        lambda d, p: record(p, comparable(d)), str(batched))
    _ = enriched['dead_letter'] | 'Dead' >> beam.Map(
        lambda d, p: record(p, json.dumps(['dead', d.doc_id, d.stage])),
        str(batched))

  got = sorted(streamed.read_text().splitlines())
  want = sorted(batched.read_text().splitlines())
  assert got == want
  docs = [json.loads(line) for line in got if not line.startswith('["dead"')]
  assert len(docs) == 4  # a, b, c, e; d is a dead letter
  assert max(doc[1] for doc in docs) > 1  # c spans several windows
  assert any(doc[2]['relations'] for doc in docs)  # stage 2 was waited for


def test_tally_waits_for_every_result_in_any_order():
  """A document with 2 stage-1 calls (one of them relations) whose plan
  asks for 2 stage-2 calls is complete only when all 5 parts are in,
  whatever order the parallel paths deliver them in."""
  import itertools

  from common.records import CallResult, ModelCall, PromptSpec, StagePlan
  from common.records import Window
  from transforms.assemble_documents import Tally
  window = Window('k', 'd', 0, 1, 0, 'text', 0, 4, 1, 1, 4, 1)

  def result(task, stage):
    prompt = PromptSpec(task, stage, '', '', (), 0.5)
    return CallResult(ModelCall(window, prompt, 1, 2 if stage == 1 else 0))

  parts = [result('ner', 1), result('relations', 1), StagePlan('k', 2),
           result('relations', 2), result('relations', 2)]
  for order in itertools.permutations(parts):
    tally = Tally()
    for i, part in enumerate(order):
      tally = tally.add(part, 'relations')
      assert (tally.missing() is None) == (i == len(parts) - 1), (order, i)
  # Without relations configured, the stage-1 results alone complete it.
  tally = Tally().add(parts[0], None).add(result('qa', 1), None)
  assert tally.missing() is None


def test_late_panes_are_written_and_counted_as_late_rows(tmp_path):
  """WriteWindowFileFn on an on-time and a late pane of one window: two
  files (pane index in the name), and `late_rows` counts only the late
  pane's rows. Run under a real metrics container: the local streaming
  runner reports only each step's first bundle of counters (see
  test_streaming_load.py), so the counter is read here directly."""
  import pyarrow as pa
  from apache_beam.metrics.execution import MetricsContainer
  from apache_beam.runners.worker import statesampler
  from apache_beam.transforms.window import IntervalWindow
  from apache_beam.utils import counters
  from apache_beam.utils.windowed_value import PaneInfo, PaneInfoTiming

  from common.metrics import NAMESPACE
  from transforms.windowed_sinks import WriteWindowFileFn

  schema = pa.schema([('doc_id', pa.string())])
  fn = WriteWindowFileFn(str(tmp_path), 'documents', schema, 'run1')
  fn.setup()
  window = IntervalWindow(1_700_000_000, 1_700_000_010)
  on_time = PaneInfo(True, False, PaneInfoTiming.ON_TIME, 0, 0)
  late = PaneInfo(False, False, PaneInfoTiming.LATE, 1, 1)
  container = MetricsContainer('write')
  sampler = statesampler.StateSampler('', counters.CounterFactory())
  previous = statesampler.get_current_tracker()
  statesampler.set_current_tracker(sampler)
  try:
    with sampler.scoped_state('write', 'process', metrics_container=container):
      files = (list(fn.process((0, [{'doc_id': 'a'}, {'doc_id': 'b'}]),
                               window, on_time)) +
               list(fn.process((0, [{'doc_id': 'c'}]), window, late)))
  finally:
    statesampler.set_current_tracker(previous)
  assert [f.rsplit('/', 1)[1].split('-')[3] for f in files] == [
      'pane000', 'pane001']
  counted = {key.metric.name: value for key, value in
             container.get_cumulative().counters.items()
             if key.metric.namespace == NAMESPACE}
  assert counted == {'late_rows': 1, 'late_rows[documents]': 1,
                     'window_files_written': 2}


def test_window_files_never_lists_a_file_being_written(tmp_path):
  """The writer writes `.tmp-<name>` and renames it; a reader listing the
  table meanwhile must not open the half-written file."""
  from pipeline.readers import window_files
  table = tmp_path / 'documents'
  assert window_files(table) == []  # no directory yet
  table.mkdir()
  (table / 'documents-a-pane000-run1.parquet').write_bytes(b'x')
  (table / '.tmp-documents-b-pane000-run1.parquet').write_bytes(b'')
  assert window_files(table) == [str(table /
                                     'documents-a-pane000-run1.parquet')]
