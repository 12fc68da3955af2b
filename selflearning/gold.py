"""Gold NER data: reading CoNLL/BIO, JSONL and Parquet annotations, exact-match
scoring, and mapping character spans to gliner word indices.

Everything here is plain Python (no Beam, no torch), so evaluation, pseudo-
labelling, fine-tuning and the model build share one definition of "a span".
Gold data outside the repository (the shared CrossNER copy) is read in place
from a path given on the command line, checked by `crossner_dir`.

* A gold document is an id, a text and character spans ``(start, end, label)``
  with ``end`` exclusive, the same convention as the job's ``entities`` table.
* CoNLL sentences become text by joining the tokens with single spaces; the
  character offsets of every token are computed while joining, so spans are
  exact.
* Scoring is exact span match: a prediction counts only when start, end and
  label all equal a gold span. Partial overlaps are a false positive plus a
  false negative.
"""
from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

Span = Tuple[int, int, str]  # (char start, char end exclusive, label)

# CrossNER label names -> natural-language prompts (the model is prompted with
# the description and reports the name). Names not listed are prompted as is.
CROSSNER_PROMPTS: Dict[str, str] = {
    'academicjournal': 'academic journal',
    'album': 'album',
    'algorithm': 'algorithm',
    'astronomicalobject': 'astronomical object',
    'award': 'award',
    'band': 'band',
    'book': 'book',
    'chemicalcompound': 'chemical compound',
    'chemicalelement': 'chemical element',
    'conference': 'conference',
    'country': 'country',
    'discipline': 'academic discipline',
    'election': 'election',
    'enzyme': 'enzyme',
    'event': 'event',
    'field': 'field of study',
    'literarygenre': 'literary genre',
    'location': 'location',
    'magazine': 'magazine',
    'metrics': 'metric',
    'misc': 'miscellaneous',
    'musicalartist': 'musical artist',
    'musicalinstrument': 'musical instrument',
    'musicgenre': 'music genre',
    'organisation': 'organization',
    'person': 'person',
    'poem': 'poem',
    'politicalparty': 'political party',
    'politician': 'politician',
    'product': 'product',
    'programlang': 'programming language',
    'protein': 'protein',
    'researcher': 'researcher',
    'scientist': 'scientist',
    'song': 'song',
    'task': 'task',
    'theory': 'theory',
    'university': 'university',
    'writer': 'writer',
}


class GoldFormatError(ValueError):
  """Malformed gold data; the message names the file and line/record."""


class DataPathError(ValueError):
  """A data path option that is unset or names nothing; the message starts
  with the option and names the path."""


@dataclass(frozen=True)
class GoldDoc:
  id: str
  text: str
  spans: Tuple[Span, ...] = ()
  tokens: Optional[Tuple[str, ...]] = None  # CoNLL tokens, when read from CoNLL


# ---------------------------------------------------------------------------
# CoNLL / BIO
# ---------------------------------------------------------------------------
def _split_line(line: str) -> Tuple[str, str]:
  """`token<TAB>tag` (a token may contain spaces); else the last whitespace-
  separated field is the tag and the first the token (CoNLL-2003 style)."""
  if '\t' in line:
    parts = line.split('\t')
    return parts[0], parts[-1].strip()
  parts = line.split()
  if len(parts) < 2:
    raise ValueError(f'expected "token<TAB>tag", got {line!r}')
  return parts[0], parts[-1]


def read_conll_lines(lines: Iterable[str],
                     source: str = '<conll>') -> List[Tuple[List[str], List[str]]]:
  """Lines -> sentences [(tokens, tags)].

  Blank lines separate sentences (any number of them, also at the start);
  a last sentence without a trailing blank line is kept; `-DOCSTART-` lines
  are skipped.
  """
  sentences: List[Tuple[List[str], List[str]]] = []
  tokens: List[str] = []
  tags: List[str] = []
  for number, raw in enumerate(lines, start=1):
    line = raw.rstrip('\r\n')
    if not line.strip():
      if tokens:
        sentences.append((tokens, tags))
      tokens, tags = [], []
      continue
    if line.startswith('-DOCSTART-'):
      continue
    try:
      token, tag = _split_line(line)
      check_tag(tag)
    except ValueError as exc:
      raise GoldFormatError(f'{source}:{number}: {exc}') from None
    if not token.strip():
      raise GoldFormatError(f'{source}:{number}: empty token')
    tokens.append(token)
    tags.append(tag)
  if tokens:
    sentences.append((tokens, tags))
  return sentences


def check_tag(tag: str) -> None:
  if tag == 'O':
    return
  if len(tag) > 2 and tag[1] == '-' and tag[0] in 'BIES' and tag[2:].strip():
    return
  raise ValueError(f'bad tag {tag!r} (expected O, B-X, I-X, E-X or S-X)')


def bio_to_spans(tags: Sequence[str]) -> List[Tuple[int, int, str]]:
  """BIO (or BIOES) tags -> token spans (first, last inclusive, label).

  Lenient like conlleval: an I- that does not continue an open span of the
  same label starts a new one; a B- always starts a new span; E-/S- close it.
  """
  spans: List[Tuple[int, int, str]] = []
  start: Optional[int] = None
  label: Optional[str] = None

  def close(end: int) -> None:
    nonlocal start, label
    if start is not None:
      spans.append((start, end, label))
    start, label = None, None

  for i, tag in enumerate(tags):
    if tag == 'O':
      close(i - 1)
      continue
    prefix, name = tag[0], tag[2:]
    if prefix in 'BS' or start is None or name != label:
      close(i - 1)
      start, label = i, name
    if prefix in 'ES':
      close(i)
  close(len(tags) - 1)
  return spans


def join_tokens(tokens: Sequence[str]) -> Tuple[str, List[Tuple[int, int]]]:
  """Tokens joined with single spaces, and each token's character span."""
  offsets, pos = [], 0
  for token in tokens:
    offsets.append((pos, pos + len(token)))
    pos += len(token) + 1
  return ' '.join(tokens), offsets


def sentence_doc(doc_id: str, tokens: Sequence[str],
                 tags: Sequence[str]) -> GoldDoc:
  text, offsets = join_tokens(tokens)
  spans = tuple((offsets[s][0], offsets[e][1], label)
                for s, e, label in bio_to_spans(tags))
  return GoldDoc(doc_id, text, spans, tuple(tokens))


def conll_docs(path: str) -> List[GoldDoc]:
  """One gold document per sentence, id `<file name>#<sentence index>`."""
  with open(path, encoding='utf-8') as handle:
    sentences = read_conll_lines(handle, path)
  name = os.path.basename(os.path.dirname(os.path.abspath(path)))
  base = f'{name}/{os.path.basename(path)}'
  return [sentence_doc(f'{base}#{i}', toks, tags)
          for i, (toks, tags) in enumerate(sentences)]


# ---------------------------------------------------------------------------
# JSONL / Parquet with character spans
# ---------------------------------------------------------------------------
def record_doc(record: Mapping, where: str, id_key: str = 'id',
               text_key: str = 'text') -> GoldDoc:
  if not isinstance(record, Mapping):
    raise GoldFormatError(f'{where}: expected an object')
  text = record.get(text_key)
  if not isinstance(text, str):
    raise GoldFormatError(f'{where}: {text_key!r} must be a string')
  doc_id = record.get(id_key)
  if doc_id is None:
    raise GoldFormatError(f'{where}: {id_key!r} missing')
  spans = []
  for j, ent in enumerate(record.get('entities') or []):
    try:
      start, end, label = int(ent['start']), int(ent['end']), str(ent['label'])
    except (KeyError, TypeError, ValueError):
      raise GoldFormatError(
          f'{where}: entities[{j}] needs integer start/end and a label') from None
    if not 0 <= start < end <= len(text):
      raise GoldFormatError(
          f'{where}: entities[{j}] span [{start}, {end}) outside the text '
          f'({len(text)} characters)')
    spans.append((start, end, label))
  return GoldDoc(str(doc_id), text, tuple(sorted(set(spans))))


def jsonl_docs(path: str) -> List[GoldDoc]:
  docs = []
  with open(path, encoding='utf-8') as handle:
    for number, line in enumerate(handle, start=1):
      if not line.strip():
        continue
      try:
        record = json.loads(line)
      except ValueError as exc:
        raise GoldFormatError(f'{path}:{number}: not JSON: {exc}') from None
      docs.append(record_doc(record, f'{path}:{number}'))
  return docs


def parquet_docs(path: str) -> List[GoldDoc]:
  import pyarrow.parquet as pq
  rows = pq.read_table(path).to_pylist()
  return [record_doc(r, f'{path}#{i}') for i, r in enumerate(rows)]


READERS = {'conll': conll_docs, 'jsonl': jsonl_docs, 'parquet': parquet_docs}


def guess_format(path: str) -> str:
  lower = path.lower()
  if lower.endswith('.parquet'):
    return 'parquet'
  if lower.endswith(('.jsonl', '.json', '.ndjson')):
    return 'jsonl'
  return 'conll'


def load_gold(pattern: str, fmt: Optional[str] = None,
              limit: Optional[int] = None) -> List[GoldDoc]:
  """All documents of the files matching `pattern` (sorted), ids unique."""
  paths = sorted(glob.glob(pattern)) or ([pattern] if os.path.exists(pattern) else [])
  if not paths:
    raise GoldFormatError(f'no files match {pattern!r}')
  docs: List[GoldDoc] = []
  for path in paths:
    reader = READERS[fmt or guess_format(path)]
    docs.extend(reader(path))
  seen = set()
  for doc in docs:
    if doc.id in seen:
      raise GoldFormatError(f'duplicate document id {doc.id!r}')
    seen.add(doc.id)
  return subsample(docs, limit)


def crossner_dir(path: Optional[str], domains: Sequence[str] = (),
                 splits: Sequence[str] = (),
                 option: str = '--crossner_dir') -> Path:
  """The CrossNER directory given as `option`, checked: it exists and holds
  `<domain>/<split>.txt` for every domain and split asked for."""
  if not path:
    raise DataPathError(
        f'{option}: required: the CrossNER directory holding '
        '<domain>/train.txt, dev.txt and test.txt '
        '(e.g. ../shared/data/crossner)')
  root = Path(path)
  if not root.is_dir():
    raise DataPathError(f'{option}: {path} is not a directory')
  for domain in domains:
    for split in splits:
      if not (root / domain / f'{split}.txt').is_file():
        raise DataPathError(
            f'{option}: {root / domain / f"{split}.txt"} not found')
  return root


def subsample(docs: Sequence, limit: Optional[int]) -> List:
  """The first `limit` documents (deterministic; None or 0 keeps all)."""
  return list(docs[:limit]) if limit else list(docs)


def gold_labels(docs: Iterable[GoldDoc]) -> List[str]:
  return sorted({label for d in docs for _, _, label in d.spans})


# ---------------------------------------------------------------------------
# Labels and prompts
# ---------------------------------------------------------------------------
def parse_label_map(raw: Optional[str]) -> Dict[str, str]:
  """`a="some prompt",b=other` -> {a: 'some prompt', b: 'other'}."""
  import csv
  out: Dict[str, str] = {}
  if not raw:
    return out
  for item in next(csv.reader([raw], skipinitialspace=True)):
    if not item.strip():
      continue
    if '=' not in item:
      raise ValueError(f'--label_map: {item!r} is not name=prompt')
    name, prompt = item.split('=', 1)
    name, prompt = name.strip(), ' '.join(prompt.strip().strip('"\'').split())
    if not name or not prompt:
      raise ValueError(f'--label_map: {item!r} is not name=prompt')
    out[name] = prompt
  return out


def label_prompts(names: Sequence[str],
                  overrides: Optional[Mapping[str, str]] = None,
                  builtin: bool = True) -> Tuple[Tuple[str, str], ...]:
  """(name, prompt) pairs: override, else built-in CrossNER prompt, else the
  name itself."""
  overrides = overrides or {}
  pairs = []
  for name in names:
    prompt = overrides.get(name) or (CROSSNER_PROMPTS.get(name) if builtin else None)
    pairs.append((name, prompt or name))
  return tuple(pairs)


# ---------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------
def prf(tp: int, fp: int, fn: int) -> Dict[str, float]:
  p = tp / (tp + fp) if tp + fp else 0.0
  r = tp / (tp + fn) if tp + fn else 0.0
  f = 2 * p * r / (p + r) if p + r else 0.0
  return {'precision': p, 'recall': r, 'f1': f, 'tp': tp, 'fp': fp, 'fn': fn,
          'support': tp + fn}


@dataclass
class Score:
  counts: Dict[str, List[int]] = field(default_factory=dict)  # label -> tp, fp, fn

  def add(self, gold: Iterable[Span], predicted: Iterable[Span]) -> None:
    gold, predicted = set(gold), set(predicted)
    for label in {s[2] for s in gold | predicted}:
      g = {s for s in gold if s[2] == label}
      p = {s for s in predicted if s[2] == label}
      c = self.counts.setdefault(label, [0, 0, 0])
      c[0] += len(g & p)
      c[1] += len(p - g)
      c[2] += len(g - p)

  def report(self, labels: Optional[Sequence[str]] = None) -> Dict:
    labels = sorted(set(labels or ()) | set(self.counts))
    per_label = {name: prf(*self.counts.get(name, [0, 0, 0]))
                 for name in labels}
    totals = [sum(c[i] for c in self.counts.values()) for i in range(3)]
    with_support = [v for v in per_label.values() if v['support']]
    macro = (sum(v['f1'] for v in with_support) / len(with_support)
             if with_support else 0.0)
    return {'micro': prf(*totals), 'macro_f1': macro, 'per_label': per_label}


def score_documents(docs: Sequence[GoldDoc],
                    predictions: Mapping[str, Iterable[Span]],
                    labels: Optional[Sequence[str]] = None) -> Dict:
  score = Score()
  for doc in docs:
    score.add(doc.spans, predictions.get(doc.id, ()))
  return score.report(labels)


def format_table(report: Dict) -> str:
  rows = [('label', 'P', 'R', 'F1', 'support', 'tp', 'fp', 'fn')]
  for name, v in report['per_label'].items():
    rows.append((name, f"{v['precision']:.3f}", f"{v['recall']:.3f}",
                 f"{v['f1']:.3f}", str(v['support']), str(v['tp']),
                 str(v['fp']), str(v['fn'])))
  m = report['micro']
  rows.append(('MICRO', f"{m['precision']:.3f}", f"{m['recall']:.3f}",
               f"{m['f1']:.3f}", str(m['support']), str(m['tp']), str(m['fp']),
               str(m['fn'])))
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
  lines = ['  '.join(c.ljust(w) if i == 0 else c.rjust(w)
                     for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
  lines.insert(1, '-' * len(lines[0]))
  lines.insert(len(lines) - 1, '-' * len(lines[0]))
  lines.append(f"macro F1 {report['macro_f1']:.3f}")
  return '\n'.join(lines)


# ---------------------------------------------------------------------------
# Character spans -> gliner words (training format)
# ---------------------------------------------------------------------------
def gliner_words(text: str, splitter_type: str = 'whitespace') -> List[Tuple[str, int, int]]:
  from gliner.data_processing import WordsSplitter
  return list(WordsSplitter(splitter_type)(text))


def char_spans_to_words(
    words: Sequence[Tuple[str, int, int]],
    spans: Iterable[Span]) -> Tuple[List[List], List[Span]]:
  """Spans -> gliner `ner` entries [first word, last word inclusive, label]
  and the spans that do not start and end on word boundaries (dropped)."""
  starts = {s: i for i, (_, s, _) in enumerate(words)}
  ends = {e: i for i, (_, _, e) in enumerate(words)}
  ner, dropped = [], []
  for start, end, label in spans:
    if start in starts and end in ends and starts[start] <= ends[end]:
      ner.append([starts[start], ends[end], label])
    else:
      dropped.append((start, end, label))
  return ner, dropped
