"""Arrow schemas of every output table, in one place.

Sinks, tests and downstream users read the same definitions, so a column
cannot drift between writer and reader. Every row carries run lineage
(model id, run id, task-config hash) so a table row can be traced to the run
that produced it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterator

import pyarrow as pa

from transforms.records import DeadLetter, EnrichedDocument

SNIPPET_CHARS = 200

LINEAGE_FIELDS = [
    pa.field('model_id', pa.string(), nullable=False),
    pa.field('run_id', pa.string(), nullable=False),
    pa.field('config_hash', pa.string(), nullable=False),
]

ENTITIES = pa.schema([
    pa.field('doc_id', pa.string(), nullable=False),
    pa.field('start', pa.int64(), nullable=False),
    pa.field('end', pa.int64(), nullable=False),
    pa.field('text', pa.string(), nullable=False),
    pa.field('label', pa.string(), nullable=False),
    pa.field('score', pa.float64(), nullable=False),
    *LINEAGE_FIELDS,
])

DOCUMENTS = pa.schema([
    pa.field('doc_id', pa.string(), nullable=False),
    pa.field('source', pa.string(), nullable=False),
    pa.field('n_chars', pa.int64(), nullable=False),
    pa.field('n_words', pa.int64(), nullable=False),
    pa.field('n_windows', pa.int64(), nullable=False),
    pa.field('n_entities', pa.int64(), nullable=False),
    *LINEAGE_FIELDS,
])

RELATIONS = pa.schema([
    pa.field('doc_id', pa.string(), nullable=False),
    pa.field('source_text', pa.string(), nullable=False),
    pa.field('source_start', pa.int64(), nullable=False),
    pa.field('source_end', pa.int64(), nullable=False),
    pa.field('source_label', pa.string(), nullable=False),
    pa.field('relation', pa.string(), nullable=False),
    pa.field('target_text', pa.string(), nullable=False),
    pa.field('target_start', pa.int64(), nullable=False),
    pa.field('target_end', pa.int64(), nullable=False),
    pa.field('target_label', pa.string(), nullable=True),
    pa.field('score', pa.float64(), nullable=False),
    *LINEAGE_FIELDS,
])

ANSWERS = pa.schema([
    pa.field('doc_id', pa.string(), nullable=False),
    pa.field('question', pa.string(), nullable=False),
    pa.field('answer', pa.string(), nullable=False),
    pa.field('start', pa.int64(), nullable=False),
    pa.field('end', pa.int64(), nullable=False),
    pa.field('score', pa.float64(), nullable=False),
    pa.field('rank', pa.int64(), nullable=False),
    *LINEAGE_FIELDS,
])

SUMMARIES = pa.schema([
    pa.field('doc_id', pa.string(), nullable=False),
    pa.field('start', pa.int64(), nullable=False),
    pa.field('end', pa.int64(), nullable=False),
    pa.field('text', pa.string(), nullable=False),
    pa.field('score', pa.float64(), nullable=False),
    *LINEAGE_FIELDS,
])

CLASSIFICATIONS = pa.schema([
    pa.field('doc_id', pa.string(), nullable=False),
    pa.field('label', pa.string(), nullable=False),
    pa.field('score', pa.float64(), nullable=False),
    *LINEAGE_FIELDS,
])

EXTRACTIONS = pa.schema([
    pa.field('doc_id', pa.string(), nullable=False),
    pa.field('label', pa.string(), nullable=False),
    pa.field('start', pa.int64(), nullable=False),
    pa.field('end', pa.int64(), nullable=False),
    pa.field('text', pa.string(), nullable=False),
    pa.field('score', pa.float64(), nullable=False),
    *LINEAGE_FIELDS,
])

DEAD_LETTER = pa.schema([
    pa.field('doc_id', pa.string(), nullable=True),
    pa.field('source', pa.string(), nullable=False),
    pa.field('stage', pa.string(), nullable=False),
    # Null: the whole input row was rejected. A task name: only that task's
    # per-document input was bad; the document's other tasks still ran.
    pa.field('task', pa.string(), nullable=True),
    pa.field('reason', pa.string(), nullable=False),
    pa.field('payload_snippet', pa.string(), nullable=True),
    *LINEAGE_FIELDS,
])

TABLES: Dict[str, pa.Schema] = {
    'entities': ENTITIES,
    'relations': RELATIONS,
    'answers': ANSWERS,
    'summaries': SUMMARIES,
    'classifications': CLASSIFICATIONS,
    'extractions': EXTRACTIONS,
    'documents': DOCUMENTS,
    'dead_letter': DEAD_LETTER,
}
# The table each task writes; documents and dead_letter are always written.
TASK_TABLES = {
    'ner': 'entities',
    'relations': 'relations',
    'qa': 'answers',
    'summary': 'summaries',
    'classification': 'classifications',
    'open_extraction': 'extractions',
}


@dataclass(frozen=True)
class Lineage:
  """Identifies the run that wrote a row."""
  model_id: str
  run_id: str
  config_hash: str

  def as_dict(self) -> Dict[str, str]:
    return {
        'model_id': self.model_id,
        'run_id': self.run_id,
        'config_hash': self.config_hash,
    }


def snippet(payload: Any, limit: int = SNIPPET_CHARS) -> str | None:
  """A bounded, printable excerpt of a rejected payload (None stays None)."""
  if payload is None:
    return None
  if isinstance(payload, bytes):
    text = payload[:limit * 4].decode('utf-8', errors='backslashreplace')
  elif isinstance(payload, str):
    text = payload
  else:
    text = repr(payload)
  if len(text) > limit:
    return text[:limit] + f'... [{len(text) - limit} more chars]'
  return text


def entity_rows(doc: EnrichedDocument,
                lineage: Lineage) -> Iterator[Dict[str, Any]]:
  for entity in doc.entities:
    yield {
        'doc_id': doc.doc_id,
        'start': entity.start,
        'end': entity.end,
        'text': entity.text,
        'label': entity.label,
        'score': float(entity.score),
        **lineage.as_dict(),
    }


def relation_rows(doc: EnrichedDocument,
                  lineage: Lineage) -> Iterator[Dict[str, Any]]:
  for rel in doc.relations:
    yield {
        'doc_id': doc.doc_id,
        'source_text': rel.source.text,
        'source_start': rel.source.start,
        'source_end': rel.source.end,
        'source_label': rel.source.label,
        'relation': rel.relation,
        'target_text': rel.target.text,
        'target_start': rel.target.start,
        'target_end': rel.target.end,
        'target_label': rel.target.label or None,
        'score': float(rel.score),
        **lineage.as_dict(),
    }


def answer_rows(doc: EnrichedDocument,
                lineage: Lineage) -> Iterator[Dict[str, Any]]:
  for answer in doc.answers:
    yield {
        'doc_id': doc.doc_id,
        'question': answer.question,
        'answer': answer.answer.text,
        'start': answer.answer.start,
        'end': answer.answer.end,
        'score': float(answer.answer.score),
        'rank': answer.rank,
        **lineage.as_dict(),
    }


def summary_rows(doc: EnrichedDocument,
                 lineage: Lineage) -> Iterator[Dict[str, Any]]:
  for span in doc.summaries:
    yield {
        'doc_id': doc.doc_id,
        'start': span.start,
        'end': span.end,
        'text': span.text,
        'score': float(span.score),
        **lineage.as_dict(),
    }


def classification_rows(doc: EnrichedDocument,
                        lineage: Lineage) -> Iterator[Dict[str, Any]]:
  for item in doc.classifications:
    yield {
        'doc_id': doc.doc_id,
        'label': item.label,
        'score': float(item.score),
        **lineage.as_dict(),
    }


def extraction_rows(doc: EnrichedDocument,
                    lineage: Lineage) -> Iterator[Dict[str, Any]]:
  for span in doc.extractions:
    yield {
        'doc_id': doc.doc_id,
        'label': span.label,
        'start': span.start,
        'end': span.end,
        'text': span.text,
        'score': float(span.score),
        **lineage.as_dict(),
    }


# Table name -> function from an enriched document to that table's rows.
TASK_ROWS = {
    'entities': entity_rows,
    'relations': relation_rows,
    'answers': answer_rows,
    'summaries': summary_rows,
    'classifications': classification_rows,
    'extractions': extraction_rows,
}


def document_row(doc: EnrichedDocument, lineage: Lineage) -> Dict[str, Any]:
  return {
      'doc_id': doc.doc_id,
      'source': doc.record_key,
      'n_chars': doc.n_chars,
      'n_words': doc.n_words,
      'n_windows': doc.n_windows,
      'n_entities': len(doc.entities),
      **lineage.as_dict(),
  }


def dead_letter_row(letter: DeadLetter, lineage: Lineage) -> Dict[str, Any]:
  return {
      'doc_id': letter.doc_id,
      'source': letter.record_key,
      'stage': letter.stage,
      'task': letter.task,
      'reason': letter.reason,
      'payload_snippet': snippet(letter.payload),
      **lineage.as_dict(),
  }
