"""Arrow schemas of every output table, in one place.

Sinks, tests and downstream users read the same definitions, so a column
cannot drift between writer and reader. Every row carries run lineage
(model id, run id, task-config hash) so a table row can be traced to the run
that produced it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator

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

DEAD_LETTER = pa.schema([
    pa.field('doc_id', pa.string(), nullable=True),
    pa.field('source', pa.string(), nullable=False),
    pa.field('stage', pa.string(), nullable=False),
    pa.field('reason', pa.string(), nullable=False),
    pa.field('payload_snippet', pa.string(), nullable=True),
    *LINEAGE_FIELDS,
])

TABLES: Dict[str, pa.Schema] = {
    'entities': ENTITIES,
    'documents': DOCUMENTS,
    'dead_letter': DEAD_LETTER,
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
      'reason': letter.reason,
      'payload_snippet': snippet(letter.payload),
      **lineage.as_dict(),
  }


def table_columns(name: str) -> Iterable[str]:
  return TABLES[name].names
