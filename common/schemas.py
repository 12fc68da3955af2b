"""Arrow schemas of the shared output tables, and the frame of every task table.

`documents` and `dead_letter` are declared here; each task declares its own
columns in its module (model_handler.tasks) and `task_table_schema` adds the
shared ones, so sinks, tests and downstream users read the same definitions
and a column cannot drift between writer and reader. Every row carries run lineage
(model id, run id, task-config hash) so a table row can be traced to the run
that produced it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Sequence

import pyarrow as pa

from common.records import DEAD_LETTER as DEAD_LETTER_TABLE
from common.records import DeadLetter, EnrichedDocument

SNIPPET_CHARS = 200

LINEAGE_FIELDS = [
    pa.field('model_id', pa.string(), nullable=False),
    pa.field('run_id', pa.string(), nullable=False),
    pa.field('config_hash', pa.string(), nullable=False),
]


def task_table_schema(fields: Sequence[pa.Field]) -> pa.Schema:
  """A task table: `doc_id` and `source` (the input row: two rows that share
  an id stay apart), the task's own columns, then lineage.

  Tasks declare only their own columns (see model_handler.tasks); the keys
  and lineage every task table shares are added here, once.
  """
  return pa.schema([
      pa.field('doc_id', pa.string(), nullable=False),
      pa.field('source', pa.string(), nullable=False),
      *fields,
      *LINEAGE_FIELDS,
  ])


DOCUMENTS = pa.schema([
    pa.field('doc_id', pa.string(), nullable=False),
    pa.field('source', pa.string(), nullable=False),
    pa.field('n_chars', pa.int64(), nullable=False),
    pa.field('n_words', pa.int64(), nullable=False),
    pa.field('n_windows', pa.int64(), nullable=False),
    pa.field('n_entities', pa.int64(), nullable=False),
    # sha256 of the row's text and task inputs: with `source`, what an
    # incremental run compares to skip rows it already enriched.
    pa.field('content_hash', pa.string(), nullable=False),
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

# Tables every run writes, whatever its tasks; task tables come from the
# task classes.
SHARED_TABLES: Dict[str, pa.Schema] = {
    'documents': DOCUMENTS,
    DEAD_LETTER_TABLE: DEAD_LETTER,
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


def task_row(doc: EnrichedDocument, columns: Dict[str, Any],
             lineage: Lineage) -> Dict[str, Any]:
  """A task's own columns of one row, completed with the shared ones."""
  return {
      'doc_id': doc.doc_id,
      'source': doc.record_key,
      **columns,
      **lineage.as_dict()
  }


def document_row(doc: EnrichedDocument, lineage: Lineage) -> Dict[str, Any]:
  return {
      'doc_id': doc.doc_id,
      'source': doc.record_key,
      'n_chars': doc.n_chars,
      'n_words': doc.n_words,
      'n_windows': doc.n_windows,
      'n_entities': len(doc.entities),
      'content_hash': doc.content_hash,
      **lineage.as_dict(),
  }


def writable(value: Any) -> Any:
  """A string Arrow can write: text that is not valid Unicode (a lone
  surrogate from JSON) is escaped instead of failing the whole file."""
  if isinstance(value, str):
    try:
      value.encode('utf-8')
    except UnicodeEncodeError:
      return value.encode('utf-8', 'backslashreplace').decode('utf-8')
  return value


def dead_letter_row(letter: DeadLetter, lineage: Lineage,
                    snippet_chars: int = SNIPPET_CHARS) -> Dict[str, Any]:
  """A dead-letter row; `snippet_chars` 0 keeps no document text (personal
  data stays out of the table)."""
  return {
      'doc_id': writable(letter.doc_id),
      'source': writable(letter.record_key),
      'stage': letter.stage,
      'task': letter.task,
      'reason': writable(letter.reason),
      'payload_snippet': writable(snippet(letter.payload, snippet_chars))
                         if snippet_chars > 0 else None,
      **lineage.as_dict(),
  }
