"""Open NER corpora for training, read with readable GLiNER label prompts.

GLiNER generalises to unseen entity types through the variety of the label
prompts it is trained on, so training mixes several openly licensed English
corpora (wikigold, WNUT17, BTC, SEC filings, re3d, GUM) whose tag sets differ.
The CrossNER domains stay held out: they measure zero-shot NER.

The corpora are third-party data, so they are read in place (like the shared
CrossNER copy) from one folder per corpus under ``root``: ``data.jsonl.gz``,
one sentence a line, ``{"tokens": [...], "spans": [[start, end, tag]],
"split": "train"|"test"}`` with word indices and ``end`` inclusive, the raw
tags of the source. Each folder's README.md names its source and licence.

``PROMPTS`` is the one place where raw tags become natural-language prompts
('PER' -> 'person', 'creative-work' -> 'creative work'); a tag mapped to None
is dropped (vague catch-alls such as MISC), and a tag missing from the table
is an error, so a new corpus cannot slip codes into the prompts.
"""
from __future__ import annotations

import gzip
import json
import os
from typing import Dict, List, Mapping, Optional

# Sibling of the project root, like ../shared/data/crossner.
DEFAULT_ROOT = os.environ.get('NER_CORPORA_DIR', '../shared/data/ner')
DATA_FILE = 'data.jsonl.gz'
SPLITS = ('train', 'test')

_CONLL = {'PER': 'person', 'ORG': 'organization', 'LOC': 'location',
          'MISC': None}

PROMPTS: Dict[str, Dict[str, Optional[str]]] = {
    'wikigold': dict(_CONLL),
    'sec_filings': dict(_CONLL),
    'btc': {'PER': 'person', 'ORG': 'organization', 'LOC': 'location'},
    'wnut17': {
        'person': 'person', 'location': 'location',
        'corporation': 'corporation', 'product': 'product',
        'creative-work': 'creative work', 'group': 'group',
    },
    're3d': {
        'Person': 'person', 'Organisation': 'organization',
        'Location': 'location', 'Nationality': 'nationality',
        'Temporal': 'date or time', 'Quantity': 'quantity', 'Money': 'money',
        'Weapon': 'weapon', 'MilitaryPlatform': 'military platform',
        'DocumentReference': 'document reference',
    },
    'gum': {
        'person': 'person', 'place': 'place', 'organization': 'organization',
        'object': 'object', 'event': 'event', 'time': 'time',
        'abstract': 'abstract concept', 'substance': 'substance',
        'quantity': 'quantity', 'animal': 'animal', 'plant': 'plant',
    },
}


def corpus_types(corpus: str) -> List[str]:
  """The label prompts of one corpus, sorted, dropped tags left out."""
  return sorted({p for p in PROMPTS[corpus].values() if p is not None})


def prompt(corpus: str, tag: str) -> Optional[str]:
  """The prompt for a raw tag; KeyError names a tag missing from PROMPTS."""
  table = PROMPTS[corpus]
  if tag not in table:
    raise KeyError(f'{corpus}: tag {tag!r} has no entry in PROMPTS')
  return table[tag]


def corpora(root: str = DEFAULT_ROOT) -> List[str]:
  """Corpora present under root that PROMPTS knows, sorted."""
  if not os.path.isdir(root):
    return []
  return sorted(
      c for c in os.listdir(root)
      if c in PROMPTS and os.path.isfile(os.path.join(root, c, DATA_FILE)))


def load(root: str = DEFAULT_ROOT, split: str = 'train',
         names: Optional[List[str]] = None) -> List[Mapping]:
  """Sentences of one split of every corpus (or of ``names``) under root.

  Each is ``{'corpus', 'tokens', 'spans': [[start, end, prompt]], 'types'}``
  with word indices, ``end`` inclusive, and ``types`` every prompt of that
  corpus (GLiNER's negatives for the sentence).
  """
  if split not in SPLITS:
    raise ValueError(f'split must be one of {SPLITS}, not {split!r}')
  names = corpora(root) if names is None else names
  out = []
  for corpus in names:
    types = corpus_types(corpus)
    with gzip.open(os.path.join(root, corpus, DATA_FILE), 'rt',
                   encoding='utf-8') as f:
      for line in f:
        row = json.loads(line)
        if row['split'] != split:
          continue
        spans = []
        for start, end, tag in row['spans']:
          label = prompt(corpus, tag)
          if label is not None:
            spans.append([start, end, label])
        out.append({'corpus': corpus, 'tokens': row['tokens'],
                    'spans': spans, 'types': types})
  return out
