"""Corpus tables against hand counts: the normalisation rule, the combiner
across split inputs, both tables on a small corpus, and the Arrow schemas."""
from __future__ import annotations

import glob
import json
import os
import random

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.io.parquetio import WriteToParquet
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window

from common.normalise import normalise_text
from common.records import EnrichedDocument, Entity, Relation
from common.schemas import Lineage
from transforms.corpus_tables import (CORPUS_TABLES, ENTITY_INDEX,
                                      RELATION_TRIPLES, CorpusTables,
                                      Sighting, TallyFn, entity_sightings)

LINEAGE = Lineage('model-x', 'run-1', 'cfg-1')


def ent(text, label, score):
  return Entity(0, len(text), text, label, score)


def rel(head, relation, tail, score):
  return Relation(ent(head, 'person', score), relation,
                  ent(tail, 'location', score), score)


def doc(record_key, doc_id, ner=None, relations=None):
  outputs = {}
  if ner is not None:
    outputs['ner'] = tuple(ner)
  if relations is not None:
    outputs['relations'] = tuple(relations)
  return EnrichedDocument(record_key, doc_id, 100, 20, 1, outputs=outputs)


# Record keys are unique per input row; f#3 shares its doc id with f#1 (two
# rows with one id are two documents, one example id).
CORPUS = [
    doc('f#0', 'doc-b', ner=[
        ent('Paris', 'location', 0.9),
        ent('PARIS', 'location', 0.7),  # same document again
        ent('Paris', 'person', 0.4),  # same text, other label
        ent('Zürich', 'location', 0.8),
        ent(' \t ', 'location', 0.99),  # blank: no row
    ]),
    doc('f#1', 'doc-a', ner=[
        ent('Ｐａｒｉｓ', 'location', 0.5),  # full-width
        ent(' New \n York', 'location', 0.6),
        ent('Zurich', 'location', 0.3),  # no accent: another entity
    ]),
    doc('f#2', 'doc-c', ner=[
        ent('paris ', 'location', 0.6),
        ent('new\u00a0york', 'location', 0.9),  # no-break space
        ent('Straße', 'location', 0.2),
    ]),
    doc('f#3', 'doc-a', ner=[
        ent('Paris', 'location', 1.0),
        ent('STRASSE', 'location', 0.4),
    ]),
    doc('f#4', 'doc-d'),  # no NER output at all
]

# Counted by hand from CORPUS: (entity, label, mentions, documents, mean
# score, example ids).
EXPECTED_ENTITY_INDEX = [
    ('paris', 'location', 5, 4, 0.74, ['doc-a', 'doc-b', 'doc-c']),
    ('paris', 'person', 1, 1, 0.4, ['doc-b']),
    ('zürich', 'location', 1, 1, 0.8, ['doc-b']),
    ('zurich', 'location', 1, 1, 0.3, ['doc-a']),
    ('new york', 'location', 2, 2, 0.75, ['doc-a', 'doc-c']),
    ('strasse', 'location', 2, 2, 0.3, ['doc-a', 'doc-c']),
]

RELATION_CORPUS = [
    doc('r#0', 'doc-1', relations=[
        rel('Marie Curie', 'born in', 'Warsaw', 0.8),
        rel('MARIE CURIE', 'born in', 'warsaw', 0.6),
    ]),
    doc('r#1', 'doc-2', relations=[
        rel('Marie  Curie', 'born in', 'Ｗａｒｓａｗ', 0.7),
        rel('Marie Curie', 'worked in', 'Paris', 0.9),
    ]),
    doc('r#2', 'doc-3', relations=[
        rel('marie curie', 'Born  in', 'warsaw ', 0.5),
    ], ner=[ent('Warsaw', 'location', 0.5)]),
]

EXPECTED_RELATION_TRIPLES = [
    ('marie curie', 'born in', 'warsaw', 4, 3, 0.65),
    ('marie curie', 'worked in', 'paris', 1, 1, 0.9),
]


def entity_key(row):
  return (row['entity'], row['label'], row['mentions'], row['documents'],
          round(row['mean_score'], 9), row['example_doc_ids'])


def triple_key(row):
  return (row['head'], row['relation'], row['tail'], row['count'],
          row['documents'], round(row['mean_score'], 9))


# -- normalisation ----------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize('text', [
    'Paris', 'PARIS', 'Ｐａｒｉｓ', 'paris ', ' \tParis\n', 'pArIs'
])
def test_variants_of_one_name_normalise_alike(text):
  assert normalise_text(text) == 'paris'


@pytest.mark.unit
def test_normalisation_keeps_spelling():
  assert normalise_text('Zürich') != normalise_text('Zurich')
  assert normalise_text('U.S.') != normalise_text('US')
  # Composed and decomposed accents are one form.
  assert normalise_text('Zu\u0308rich') == normalise_text('Zürich')
  assert normalise_text('Straße') == normalise_text('STRASSE') == 'strasse'
  assert normalise_text('\u00a0New\u3000 \n York\t') == 'new york'
  assert normalise_text('ﬁnance') == 'finance'
  assert normalise_text('   ') == ''


@pytest.mark.unit
def test_normalisation_is_idempotent():
  rng = random.Random(7)
  alphabet = 'aZß İ\u0307\u0308ﬁＰ①\u00a0\u3000\t\u200b.é'
  for _ in range(2000):
    text = ''.join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
    once = normalise_text(text)
    assert normalise_text(once) == once, repr(text)


# -- the combiner -----------------------------------------------------------


def tally(fn, sightings):
  acc = fn.create_accumulator()
  for sighting in sightings:
    acc = fn.add_input(acc, sighting)
  return acc


@pytest.mark.unit
def test_merged_tallies_equal_one_pass():
  rng = random.Random(3)
  sightings = [
      Sighting(f'f#{rng.randint(0, 40)}', f'doc-{rng.randint(0, 30):02d}',
               rng.random()) for _ in range(500)
  ]
  fn = TallyFn(max_examples=4)
  single = fn.extract_output(tally(fn, sightings))
  for _ in range(20):
    shuffled = sightings[:]
    rng.shuffle(shuffled)
    cuts = sorted(rng.sample(range(1, len(shuffled)), rng.randint(1, 8)))
    parts = [shuffled[a:b] for a, b in zip([0] + cuts, cuts + [None])]
    accumulators = [tally(fn, part) for part in parts]
    accumulators.append(fn.create_accumulator())  # an empty worker
    # Merge in two levels, as combiner lifting does.
    middle = len(accumulators) // 2
    merged = fn.merge_accumulators([
        fn.merge_accumulators(accumulators[:middle]),
        fn.merge_accumulators(accumulators[middle:]),
    ])
    # Exact partial sums: the same mean to the last bit, in any order.
    assert fn.extract_output(merged) == single
  assert single.mentions == 500
  assert single.documents == len({s.record_key for s in sightings})
  assert single.example_doc_ids == tuple(
      sorted({s.doc_id for s in sightings})[:4])


@pytest.mark.unit
def test_tally_by_hand():
  fn = TallyFn(max_examples=2)
  summary = fn.extract_output(
      tally(fn, [
          Sighting('f#1', 'doc-z', 0.5),
          Sighting('f#1', 'doc-z', 0.25),
          Sighting('f#2', 'doc-b', 1.0),
          Sighting('f#3', 'doc-a', 0.25),
      ]))
  assert (summary.mentions, summary.documents, summary.mean_score,
          summary.example_doc_ids) == (4, 3, 0.5, ('doc-a', 'doc-b'))
  none_kept = TallyFn(max_examples=0)
  assert none_kept.extract_output(
      tally(none_kept, [Sighting('f#1', 'a', 0.5)])).example_doc_ids == ()


@pytest.mark.unit
def test_sightings_normalise_text_and_label():
  sightings = list(
      entity_sightings(
          doc('f#0', 'd', ner=[ent(' PARIS', 'Location', 0.5),
                               ent('', 'location', 0.5)]), 'ner'))
  assert sightings == [(('paris', 'location'), Sighting('f#0', 'd', 0.5))]
  assert list(entity_sightings(doc('f#0', 'd'), 'ner')) == []


# -- pipelines --------------------------------------------------------------


def test_entity_index_equals_hand_count():
  with TestPipeline(runner='FnApiRunner') as p:
    tables = (p | beam.Create(CORPUS)
              | CorpusTables(LINEAGE, build_relations=False))
    assert set(tables) == {'entity_index'}
    rows = tables['entity_index']
    assert_that(rows | 'Key' >> beam.Map(entity_key),
                equal_to(EXPECTED_ENTITY_INDEX), label='Counts')
    assert_that(
        rows | 'Lineage' >> beam.Map(
            lambda r: (r['model_id'], r['run_id'], r['config_hash'])),
        equal_to([('model-x', 'run-1', 'cfg-1')] * 6), label='Lineage')


def test_example_ids_are_bounded_and_smallest():
  with TestPipeline(runner='FnApiRunner') as p:
    rows = (p | beam.Create(CORPUS)
            | CorpusTables(LINEAGE, build_relations=False,
                           max_examples=2))['entity_index']
    assert_that(
        rows | beam.Filter(lambda r: r['entity'] == 'paris' and
                           r['label'] == 'location')
        | beam.Map(lambda r: r['example_doc_ids']),
        equal_to([['doc-a', 'doc-b']]))


def test_relation_triples_equal_hand_count():
  with TestPipeline(runner='FnApiRunner') as p:
    tables = (p | beam.Create(RELATION_CORPUS + CORPUS)
              | CorpusTables(LINEAGE, build_entities=False))
    assert set(tables) == {'relation_triples'}
    assert_that(tables['relation_triples'] | beam.Map(triple_key),
                equal_to(EXPECTED_RELATION_TRIPLES))


def test_task_names_are_configurable():
  renamed = [
      EnrichedDocument(d.record_key, d.doc_id, 1, 1, 1,
                       outputs={'people': d.outputs.get('ner', ())})
      for d in CORPUS
  ]
  with TestPipeline(runner='FnApiRunner') as p:
    tables = (p | beam.Create(renamed)
              | CorpusTables(LINEAGE, entity_task_name='people',
                             relation_task_name='links'))
    assert_that(tables['entity_index'] | 'E' >> beam.Map(entity_key),
                equal_to(EXPECTED_ENTITY_INDEX), label='Entities')
    assert_that(tables['relation_triples'], equal_to([]), label='Relations')


def test_rows_fit_the_arrow_schemas(tmp_path):
  corpus = CORPUS + RELATION_CORPUS + [
      # A lone surrogate survives JSON input; it must not break the tables.
      doc('f#9', 'doc-\ud800', ner=[ent('bad\ud800', 'location', 0.5)]),
  ]
  with TestPipeline(runner='FnApiRunner') as p:
    tables = p | beam.Create(corpus) | CorpusTables(LINEAGE)
    for table, rows in tables.items():
      _ = (rows | f'Json{table}' >> beam.Map(json.dumps)
           | f'Text{table}' >> beam.io.WriteToText(
               str(tmp_path / 'json' / table), shard_name_template=''))
      _ = rows | f'Parquet{table}' >> WriteToParquet(
          str(tmp_path / 'beam' / table / 'part'), CORPUS_TABLES[table],
          file_name_suffix='.parquet')
  assert CORPUS_TABLES == {'entity_index': ENTITY_INDEX,
                           'relation_triples': RELATION_TRIPLES}
  for table, schema in CORPUS_TABLES.items():
    with open(tmp_path / 'json' / table, encoding='utf-8') as f:
      rows = [json.loads(line) for line in f]
    assert rows
    path = str(tmp_path / f'{table}.parquet')
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    back = pq.read_table(path)
    assert back.schema == schema
    key = lambda r: json.dumps(r, sort_keys=True)
    assert sorted(back.to_pylist(), key=key) == sorted(rows, key=key)
    # Beam's own Parquet sink writes the same rows under the same schema.
    files = glob.glob(os.path.join(tmp_path, 'beam', table, '*.parquet'))
    written = pa.concat_tables(pq.read_table(f) for f in files)
    assert written.schema == schema
    assert sorted(written.to_pylist(), key=key) == sorted(rows, key=key)
  entities = {r['entity'] for r in pq.read_table(
      str(tmp_path / 'entity_index.parquet')).to_pylist()}
  assert 'bad\\ud800' in entities


def test_one_set_of_rows_per_window():
  """Streaming writes per window: the same combine, windowed input."""
  def with_window(row, w=beam.DoFn.WindowParam):
    return (int(w.start), row['entity'], row['mentions'], row['documents'])

  with TestPipeline(runner='FnApiRunner') as p:
    stamped = (p | beam.Create(list(enumerate(CORPUS[:4])))
               | beam.MapTuple(lambda i, d: window.TimestampedValue(
                   d, 0 if i < 2 else 100))
               | beam.WindowInto(window.FixedWindows(60)))
    rows = (stamped | CorpusTables(LINEAGE, build_relations=False)
            )['entity_index']
    assert_that(
        rows | beam.Filter(lambda r: r['label'] == 'location' and
                           r['entity'] in ('paris', 'new york'))
        | beam.Map(with_window),
        equal_to([(0, 'paris', 3, 2), (0, 'new york', 1, 1),
                  (60, 'paris', 2, 2), (60, 'new york', 1, 1)]))
