"""Re-DocRED as sentence-level relation data: many relation types beside FewRel.

FewRel's val_wiki holds 16 relation types, too few for the relation stage to
learn that the relation name in the label matters. Re-DocRED (MIT, texts
from English Wikipedia, read in place from ``../shared/data/redocred``)
annotates every entity mention of 1,000 documents and 96 Wikidata relation
types between entities. The job extracts relations per window, so only
triples whose head and tail are mentioned in the same sentence are used,
one sentence at a time.

What is used for what (`split`):

* ``train``: the dev split minus its last `CALIBRATION_DOCS` documents, with
  the triples of `HELDOUT_TYPES` removed (their names never appear in a
  training label).
* ``calibration``: dev's last `CALIBRATION_DOCS` documents, for
  `selflearning.calibrate` only (neither trained on nor measured).
* ``test``: the whole test split, for `selflearning.evaluate_tasks`.

`HELDOUT_TYPES` are never trained: FewRel's zero-shot types P40 (child) and
P206 (located in or next to body of water), which Re-DocRED has too, and
four more Re-DocRED types to measure zero-shot relations on.

Stage-2 examples use the job's relation prompt (`relations.PREFIX`,
`relation_label`), as `multitask_data.relation_examples` does for FewRel;
stage-1 examples ask for every mention as 'named entity' (the relation
task's default stage-1 label) or by Re-DocRED's coarse entity types.
"""
from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from model_handler.tasks import relations as relation_prompts
from model_handler.tasks.ner import NerTask
from selflearning.gold import join_tokens
from selflearning.multitask_data import (NAMED_ENTITY, Prompt, job_prompt,
                                         prompted)

DEFAULT_ROOT = '../shared/data/redocred'
FILES = {'dev': 'dev_revised.json.gz', 'test': 'test_revised.json.gz'}
NAMES_FILE = 'rel_info.json.gz'
CALIBRATION_DOCS = 50
# P40 child, P206 located in or next to body of water (FewRel's zero-shot
# types), P69 educated at, P264 record label, P36 capital, P140 religion.
HELDOUT_TYPES = ('P40', 'P206', 'P69', 'P264', 'P36', 'P140')
PARTS = ('train', 'calibration', 'test')
# Re-DocRED's entity types as stage-1 prompts (MISC is too vague to ask).
ENTITY_PROMPTS = {'PER': 'person', 'ORG': 'organization', 'LOC': 'location',
                  'TIME': 'date or time', 'NUM': 'number', 'MISC': None}
MAX_LABELS = 30  # the default model's max_types

Span = Tuple[int, int]


@dataclass(frozen=True)
class Mention:
  entity: int
  span: Span  # character span in the sentence text
  text: str
  type: str


@dataclass(frozen=True)
class Triple:
  relation_id: str
  relation: str
  head: Mention
  tail: Mention


@dataclass(frozen=True)
class Sentence:
  doc: str
  index: int
  text: str
  mentions: Tuple[Mention, ...]
  triples: Tuple[Triple, ...]

  @property
  def doc_id(self) -> str:
    return f'{self.doc}#{self.index}'


def data_files(root=DEFAULT_ROOT) -> List[Path]:
  """Every file this module reads (for the build record)."""
  return [Path(root) / FILES['dev'], Path(root) / FILES['test'],
          Path(root) / NAMES_FILE]


def relation_names(root=DEFAULT_ROOT) -> Dict[str, str]:
  with gzip.open(Path(root) / NAMES_FILE, 'rt', encoding='utf-8') as handle:
    return json.load(handle)


def load_documents(root=DEFAULT_ROOT, split: str = 'dev') -> List[Dict]:
  with gzip.open(Path(root) / FILES[split], 'rt', encoding='utf-8') as handle:
    return json.load(handle)


def document_sentences(doc: Dict, names: Dict[str, str],
                       skip_types: Sequence[str] = ()) -> List[Sentence]:
  """A document's sentences with their mentions and the triples whose head
  and tail are both mentioned in the sentence (first mention of each),
  triples of `skip_types` left out."""
  out = []
  for index, tokens in enumerate(doc['sents']):
    text, offsets = join_tokens(tokens)
    first: Dict[int, Mention] = {}
    mentions = []
    for entity, vertex in enumerate(doc['vertexSet']):
      for m in vertex:
        if m['sent_id'] != index:
          continue
        start, end = m['pos'][0], m['pos'][1] - 1
        span = (offsets[start][0], offsets[end][1])
        mention = Mention(entity, span, text[span[0]:span[1]], m['type'])
        mentions.append(mention)
        first.setdefault(entity, mention)
    triples = []
    for label in doc['labels']:
      if label['r'] in skip_types:
        continue
      head, tail = first.get(label['h']), first.get(label['t'])
      if head and tail and head.text != tail.text:
        triples.append(Triple(label['r'], names[label['r']], head, tail))
    triples.sort(key=lambda t: (t.head.span, t.relation_id, t.tail.span))
    mentions.sort(key=lambda m: (m.span, m.entity))
    out.append(Sentence(doc['title'], index, text, tuple(mentions),
                        tuple(triples)))
  return out


def split(root=DEFAULT_ROOT, part: str = 'train') -> List[Sentence]:
  """The sentences of one part (see the module docstring); `train` has the
  held-out types' triples removed, the others keep every triple."""
  if part not in PARTS:
    raise ValueError(f'part must be one of {PARTS}, not {part!r}')
  names = relation_names(root)
  if part == 'test':
    docs = load_documents(root, 'test')
  else:
    dev = load_documents(root, 'dev')
    docs = (dev[:-CALIBRATION_DOCS] if part == 'train'
            else dev[-CALIBRATION_DOCS:])
  skip = HELDOUT_TYPES if part == 'train' else ()
  return [s for doc in docs for s in document_sentences(doc, names, skip)]


def trained_names(root=DEFAULT_ROOT) -> List[str]:
  """Relation names that training may put in a label, sorted."""
  return sorted(name for rid, name in relation_names(root).items()
                if rid not in HELDOUT_TYPES)


# ---------------------------------------------------------------------------
# Training examples
# ---------------------------------------------------------------------------
def _source_labels(sentence: Sentence, source: Mention, names: Sequence[str],
                   rng: random.Random) -> Tuple[List[str], List]:
  """Labels for one source: its true relations in the sentence and 2-6
  distractors; gold spans (tail span, label) for the true ones."""
  true = sorted({t.relation for t in sentence.triples
                 if t.head.entity == source.entity})
  distractors = rng.sample([n for n in names if n not in true],
                           rng.randint(2, 6))
  labels = [relation_prompts.relation_label(source.text, r)
            for r in true + distractors]
  gold = [(*t.tail.span, relation_prompts.relation_label(source.text,
                                                          t.relation))
          for t in sentence.triples if t.head.entity == source.entity]
  return labels, gold


def relation_examples(sentences: Sequence[Sentence], names: Sequence[str],
                      rng: random.Random, second_source: float = 0.35,
                      empty_share: float = 0.1) -> List[Dict]:
  """Stage-2 examples: per sentence and head entity, the relation
  instruction with labels `"{head} <> {relation}"` for its true relations
  and 2-6 distractors, the tails as targets. A share also ask from a second
  mention of the sentence (often a tail: both directions, so that direction
  matters); a share of sentences without triples ask from one mention and
  find nothing. At most MAX_LABELS labels."""
  out = []
  for sentence in sentences:
    heads = sorted({t.head for t in sentence.triples},
                   key=lambda m: (m.span, m.entity))
    if not heads:
      if sentence.mentions and rng.random() < empty_share:
        heads = [rng.choice(sentence.mentions)]
      else:
        continue
    for head in heads:
      labels, gold = _source_labels(sentence, head, names, rng)
      others = [m for m in sentence.mentions
                if m.entity != head.entity and m.text != head.text]
      if others and rng.random() < second_source:
        tails = [t.tail for t in sentence.triples if t.head == head]
        second = rng.choice(tails or others)
        more, more_gold = _source_labels(sentence, second, names, rng)
        labels += [x for x in more if x not in labels]
        gold += more_gold
      labels = labels[:MAX_LABELS]
      gold = sorted({g for g in gold if g[2] in labels})
      rng.shuffle(labels)
      example = prompted(Prompt(relation_prompts.PREFIX, tuple(labels)),
                         sentence.text, gold, 'relations')
      if example:
        out.append(example)
  return out


def mention_examples(sentences: Sequence[Sentence], rng: random.Random,
                     named_entity_share: float = 0.5) -> List[Dict]:
  """Stage-1 examples: every mention of a sentence as 'named entity' (what
  the relation stage asks first), or by Re-DocRED's entity types (those
  present, and absent ones as negatives)."""
  any_entity = job_prompt(NerTask(labels=((NAMED_ENTITY, NAMED_ENTITY), )))
  typed = sorted({p for p in ENTITY_PROMPTS.values() if p})
  out = []
  for sentence in sentences:
    if not sentence.mentions:
      continue
    spans = sorted({m.span for m in sentence.mentions})
    if rng.random() < named_entity_share:
      example = prompted(any_entity, sentence.text,
                         [(*s, NAMED_ENTITY) for s in spans], 'ner')
    else:
      typed_spans = sorted({(*m.span, ENTITY_PROMPTS[m.type])
                            for m in sentence.mentions
                            if ENTITY_PROMPTS.get(m.type)})
      labels = list(typed)
      rng.shuffle(labels)
      example = prompted(job_prompt(NerTask(labels=tuple(
          (t, t) for t in labels))), sentence.text, typed_spans, 'ner')
    if example:
      out.append(example)
  return out


# ---------------------------------------------------------------------------
# Held-out gold
# ---------------------------------------------------------------------------
def gold_triples(sentence: Sentence, relation_ids: Optional[Sequence[str]]
                 = None) -> set:
  """(head text, relation name, tail text) of the sentence, optionally only
  of `relation_ids`."""
  return {(t.head.text, t.relation, t.tail.text) for t in sentence.triples
          if relation_ids is None or t.relation_id in relation_ids}


def evaluation_set(sentences: Sequence[Sentence], relation_ids: Sequence[str],
                   limit: int) -> List[Sentence]:
  """The first `limit` sentences (in file order) that hold a triple of
  `relation_ids`."""
  wanted = set(relation_ids)
  return [s for s in sentences
          if any(t.relation_id in wanted for t in s.triples)][:limit]


def frequent_types(sentences: Sequence[Sentence], n: int,
                   exclude: Sequence[str] = HELDOUT_TYPES) -> List[str]:
  """The `n` relation ids with the most sentence-level triples (ties by
  id), `exclude` left out."""
  counts: Dict[str, int] = {}
  for s in sentences:
    for t in s.triples:
      if t.relation_id not in exclude:
        counts[t.relation_id] = counts.get(t.relation_id, 0) + 1
  return [rid for rid, _ in sorted(counts.items(),
                                   key=lambda kv: (-kv[1], kv[0]))[:n]]
