"""Deterministic benchmark corpora built from CrossNER sentences.

CrossNER files (``token\\tBIO`` lines, blank line between sentences) are read
in place from ``/work/shared/data/crossner`` (or ``$CROSSNER_DIR``) and never
copied. Sentences are detokenised (no space before closing punctuation),
shuffled with a fixed seed and joined into documents:

* uniform: N documents of ~W words (sentences appended until >= W words);
* mixed: lengths 10 to 2,000 words, log-uniform, paragraphs of 3-8 sentences
  separated by blank lines;
* long: documents of exactly-about 1k / 5k / 10k words; the 10k document is
  the ten 1k documents joined (same words), so time(10k) can be compared with
  time(10 x 1k) on identical text;
* planted: a 5k-word document with short natural sentences naming known
  entities inserted every ~60 words (P3b recall by position).

Word counts use gliner's splitter (``common.text.WORD_PATTERN``).
"""
from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from common.text import count_words, words_with_offsets

DOMAINS = ('ai', 'literature', 'science')
SPLITS = ('train', 'dev', 'test')
_NO_SPACE_BEFORE = {'.', ',', ';', ':', '!', '?', ')', ']', '}', "'s", "n't",
                    '%', "'"}
_NO_SPACE_AFTER = {'(', '[', '{', '$'}


def crossner_dir() -> Path:
  env = os.environ.get('CROSSNER_DIR')
  if env:
    return Path(env)
  repo = Path(__file__).resolve().parent.parent
  local = repo.parent / 'shared' / 'data' / 'crossner'
  return local if local.is_dir() else Path('/work/shared/data/crossner')


def detokenize(tokens: Sequence[str]) -> str:
  out: List[str] = []
  glue = True
  previous = ''
  for token in tokens:
    if previous == "'" and token in ('s', 't', 'll', 're', 've', 'd', 'm'):
      glue = True  # CrossNER splits "Honda's" as "Honda ' s"
    if out and not glue and token not in _NO_SPACE_BEFORE:
      out.append(' ')
    out.append(token)
    glue = token in _NO_SPACE_AFTER
    previous = token
  return ''.join(out)


def read_sentences(root: Path = None) -> List[str]:
  """All CrossNER sentences, in a fixed order (domain, split, file order).

  `$BENCH_SENTENCES` names a file of already-detokenised sentences, one per
  line (gzip if it ends in .gz), written by `write_sentences`: the GPU
  machine has no CrossNER copy, so bench/gpu/fetch_wheels.sh carries one."""
  if root is None and os.environ.get('BENCH_SENTENCES'):
    import gzip
    path = os.environ['BENCH_SENTENCES']
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rt', encoding='utf-8') as handle:
      return [line.rstrip('\n') for line in handle if line.strip()]
  root = Path(root) if root else crossner_dir()
  sentences: List[str] = []
  for domain in DOMAINS:
    for split in SPLITS:
      path = root / domain / f'{split}.txt'
      if not path.is_file():
        continue
      tokens: List[str] = []
      for line in path.read_text(encoding='utf-8').splitlines() + ['']:
        line = line.strip()
        if not line:
          if tokens:
            sentences.append(detokenize(tokens))
          tokens = []
          continue
        tokens.append(line.split('\t')[0].split(' ')[0])
  if not sentences:
    raise FileNotFoundError(f'no CrossNER sentences under {root}')
  return sentences


def write_sentences(path: Path) -> int:
  """Every CrossNER sentence to `path` (gzip), one per line, for
  `$BENCH_SENTENCES`; returns how many."""
  import gzip
  sentences = read_sentences(crossner_dir())
  with gzip.open(path, 'wt', encoding='utf-8', compresslevel=9) as handle:
    for sentence in sentences:
      handle.write(sentence.replace('\n', ' ') + '\n')
  return len(sentences)


class SentenceStream:
  """Endless deterministic stream of shuffled sentences (reshuffled per pass)."""

  def __init__(self, sentences: Sequence[str], seed: int):
    self._sentences = list(sentences)
    self._rng = random.Random(seed)
    self._order: List[int] = []

  def next(self) -> str:
    if not self._order:
      self._order = list(range(len(self._sentences)))
      self._rng.shuffle(self._order)
    return self._sentences[self._order.pop()]


def make_doc(stream: SentenceStream, words: int, rng: random.Random,
             paragraphs: bool = False) -> str:
  """Sentences appended until the document has >= `words` words (a single
  sentence is cut at `words` words when the target is below one sentence)."""
  parts: List[str] = []
  count = 0
  in_paragraph = 0
  paragraph_len = rng.randint(3, 8)
  while count < words:
    sentence = stream.next()
    sentence_words = count_words(sentence)
    if not parts and sentence_words > words:
      # Short target: cut the sentence at a word boundary.
      return sentence[:words_with_offsets(sentence)[words - 1][2]]
    if parts:
      if paragraphs and in_paragraph >= paragraph_len:
        parts.append('\n\n')
        in_paragraph = 0
        paragraph_len = rng.randint(3, 8)
      else:
        parts.append(' ')
    parts.append(sentence)
    in_paragraph += 1
    count += sentence_words
  return ''.join(parts)


@dataclass
class Corpus:
  name: str
  ids: List[str]
  texts: List[str]

  @property
  def words(self) -> List[int]:
    return [count_words(t) for t in self.texts]

  def describe(self) -> Dict:
    words = self.words
    return {
        'docs': len(self.texts),
        'words_total': sum(words),
        'words_min': min(words),
        'words_max': max(words),
        'words_mean': round(sum(words) / len(words), 1),
    }


def uniform_corpus(sentences, n_docs: int, words: int, seed: int = 1) -> Corpus:
  stream, rng = SentenceStream(sentences, seed), random.Random(seed)
  texts = [make_doc(stream, words, rng) for _ in range(n_docs)]
  return Corpus(f'uniform-{n_docs}x{words}w', [f'u{i:04d}' for i in range(n_docs)],
                texts)


def mixed_lengths(n_docs: int, low: int, high: int, seed: int) -> List[int]:
  """Log-uniform lengths in [low, high], always including both ends."""
  rng = random.Random(seed)
  lengths = [low, high] + [
      int(round(math.exp(rng.uniform(math.log(low), math.log(high)))))
      for _ in range(max(0, n_docs - 2))
  ]
  rng.shuffle(lengths)
  return lengths[:n_docs]


def mixed_corpus(sentences, n_docs: int, low: int = 10, high: int = 2000,
                 seed: int = 2) -> Corpus:
  stream, rng = SentenceStream(sentences, seed), random.Random(seed)
  texts = [make_doc(stream, w, rng, paragraphs=True)
           for w in mixed_lengths(n_docs, low, high, seed)]
  return Corpus(f'mixed-{n_docs}docs-{low}-{high}w',
                [f'm{i:04d}' for i in range(n_docs)], texts)


def long_corpora(sentences, unit_words: int = 1000, mid_units: int = 5,
                 big_units: int = 10, seed: int = 3) -> Dict[str, Corpus]:
  """{'unit': 10 docs of ~1k words, 'big': those joined (1 doc, ~10k),
  'mid': one doc of ~5k words}."""
  stream, rng = SentenceStream(sentences, seed), random.Random(seed)
  units = [make_doc(stream, unit_words, rng, paragraphs=True)
           for _ in range(big_units)]
  mid = '\n\n'.join(units[:mid_units])
  big = '\n\n'.join(units)
  return {
      'unit': Corpus(f'long-{big_units}x{unit_words}w',
                     [f'l1k{i:02d}' for i in range(big_units)], units),
      'mid': Corpus(f'long-1x{count_words(mid)}w', ['l5k'], [mid]),
      'big': Corpus(f'long-1x{count_words(big)}w', ['l10k'], [big]),
  }


# Short natural sentences with one entity each; (template, entity, label).
# Only templates the embedded model finds on the sentence alone are planted
# (checked at run time with bare inference: see bench.scenarios.verify_plants).
PLANT_TEMPLATES: Tuple[Tuple[str, str, str], ...] = (
    ('Angela Merkel gave a short speech.', 'Angela Merkel', 'person'),
    ('We flew to Lisbon in May.', 'Lisbon', 'location'),
    ('Microsoft Corporation reported higher profits.', 'Microsoft Corporation',
     'organization'),
    ('Barack Obama visited the school.', 'Barack Obama', 'person'),
    ('The conference was held in Tokyo.', 'Tokyo', 'location'),
    ('She works for Siemens AG in Munich.', 'Siemens AG', 'organization'),
    ('Emmanuel Macron met the farmers.', 'Emmanuel Macron', 'person'),
    ('The train to Madrid was late.', 'Madrid', 'location'),
    ('Toyota Motor Corporation opened a new plant.', 'Toyota Motor Corporation',
     'organization'),
    ('Serena Williams won the final.', 'Serena Williams', 'person'),
)


@dataclass
class PlantedDoc:
  text: str
  # (start, end, label, word index of the entity's first word)
  plants: List[Tuple[int, int, str, int]]
  n_words: int


def planted_document(sentences, templates, words: int = 5000, every: int = 60,
                     seed: int = 4) -> PlantedDoc:
  """~`words` words of CrossNER text with a template sentence inserted after
  roughly every `every` words (cycling through `templates`)."""
  stream = SentenceStream(sentences, seed)
  parts: List[str] = []
  plants: List[Tuple[int, int, str, int]] = []
  length = 0
  count = 0
  since = 0
  k = 0
  while count < words:
    if since >= every:
      template, entity, label = templates[k % len(templates)]
      k += 1
      piece = template
      offset = piece.index(entity)
      start = length + (1 if parts else 0) + offset
      first_word = count + count_words(template[:offset])
      plants.append((start, start + len(entity), label, first_word))
      since = 0
    else:
      piece = stream.next()
      since += count_words(piece)
    if parts:
      parts.append(' ')
      length += 1
    parts.append(piece)
    length += len(piece)
    count += count_words(piece)
  text = ''.join(parts)
  for start, end, _, _ in plants:
    assert text[start:end] in {t[1] for t in templates}, text[start:end]
  return PlantedDoc(text, plants, count_words(text))


def write_parquet(corpus: Corpus, path: Path, row_group_size: int = 8) -> Path:
  """One Parquet file; small row groups so that the job's per-row-group read
  can spread documents over several workers (one row group = one element)."""
  import pyarrow as pa
  import pyarrow.parquet as pq
  path.parent.mkdir(parents=True, exist_ok=True)
  pq.write_table(pa.table({'id': corpus.ids, 'text': corpus.texts}), path,
                 row_group_size=row_group_size)
  return path


def many_labels(n: int) -> List[str]:
  """`n` distinct plausible entity-type labels (deterministic)."""
  heads = ('person', 'organization', 'location', 'event', 'product', 'work',
           'disease', 'chemical', 'software', 'algorithm', 'field', 'award',
           'language', 'country', 'city', 'company', 'team', 'vehicle',
           'instrument', 'species')
  mods = ('', 'famous ', 'historical ', 'modern ', 'local ', 'foreign ',
          'public ', 'private ', 'scientific ', 'fictional ', 'major ',
          'minor ', 'early ', 'late ', 'national ', 'regional ', 'small ',
          'large ', 'new ', 'old ', 'rare ', 'common ', 'digital ', 'musical ',
          'medical ')
  out = [f'{m}{h}' for m in mods for h in heads]
  return out[:n]
