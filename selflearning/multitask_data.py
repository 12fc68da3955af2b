"""Training examples and held-out gold for every task, prompted by the job's
own task classes.

One source of truth for prompts: every example asks the model exactly what
the job will ask it -- the prefix and labels come from each task's
`prompts()` (and, for relation stage 2, from `relations.PREFIX` and
`relation_label`, the functions stage 2 is built with) -- so training and
inference cannot drift. A change to an instruction changes the training data
with it.

Sources (read in place, never copied into the repository):

* QA: SQuAD 2.0 (10 articles, CC BY-SA 4.0). Two articles are held out
  (`QA_HELDOUT_ARTICLES`), and the last paragraphs of the others are kept
  for calibration (`calibration_articles`); unanswerable questions and questions paired with
  another paragraph of the same article (that does not hold the answer) teach
  "no answer".
* Relations: FewRel 1.0 val_wiki (16 relations x 700, MIT). Four relation
  types are held out entirely (`RE_HELDOUT_TYPES`) and the last
  `RE_HELDOUT_PER_TYPE` sentences of every other type too.
* Classification: which of a few relation names a FewRel sentence expresses,
  and which topic a SQuAD paragraph is about (topics by hand, one per
  article, `SQUAD_TOPICS`).
* Summaries: SQuAD paragraphs; the reference is the sentence(s) holding the
  most answers to the crowd's questions about the paragraph -- the sentence
  people asked most about (a derived, extractive reference, not a human
  summary).
* Open extraction: instruction-phrased NER ("Find every <type> in the
  text.") on the NER corpora.
* NER: the openly licensed corpora in ../shared/data/ner
  (`selflearning.ner_corpora`), fine types beside their coarse parents, and
  the synthetic news sentences; also with the one label 'named entity', the
  relation task's stage-1 prompt. No CrossNER domain is trained on: all
  three measure zero-shot NER.
* Relations and their stage 1 from Re-DocRED too: `selflearning.redocred`.

Plain Python and seeded `random.Random`s: the same seed gives the same
examples on every machine.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from common.records import Document
from common.text import words_with_offsets
from model_handler.tasks import relations as relation_prompts
from model_handler.tasks.classification import INSTRUCTION as CLASS_INSTRUCTION
from model_handler.tasks.classification import ClassificationTask
from model_handler.tasks.ner import NerTask
from model_handler.tasks.open_extraction import OpenExtractionTask
from model_handler.tasks.qa import QaTask
from model_handler.tasks.summary import SummaryTask
from selflearning import ner_corpora
from selflearning.gold import char_spans_to_words, join_tokens

CharSpan = Tuple[int, int, str]

QA_HELDOUT_ARTICLES = ('Spectre_(2015_film)', 'Solar_energy')
QA_CALIBRATION_PARAGRAPHS = 4
RE_HELDOUT_TYPES = ('P40', 'P206', 'P412', 'P921')
RE_HELDOUT_PER_TYPE = 100
# One topic per SQuAD article, chosen by hand from its title.
SQUAD_TOPICS = {
    'Beyoncé': 'music',
    'Frédéric_Chopin': 'music',
    'Sino-Tibetan_relations_during_the_Ming_dynasty': 'history',
    'IPod': 'technology',
    'The_Legend_of_Zelda:_Twilight_Princess': 'video games',
    'Spectre_(2015_film)': 'film',
    '2008_Sichuan_earthquake': 'natural disaster',
    'New_York_City': 'city',
    'To_Kill_a_Mockingbird': 'literature',
    'Solar_energy': 'energy',
}
OPEN_TEMPLATES = ('Find every {} in the text.', 'Extract all {} mentions.',
                  'List each {} mentioned in the text.')
NAMED_ENTITY = 'named entity'
# Words an example may have (gliner's max_len for the default model).
MAX_WORDS = 384
_SENTENCE_END = re.compile(r'(?<=[.!?])(["\')\]]?)\s+(?=["“(\[]?[A-Z0-9])')


@dataclass(frozen=True)
class Prompt:
  """What the job puts in front of the model: a prefix and label prompts."""
  prefix: str
  labels: Tuple[str, ...]


def job_prompt(task) -> Prompt:
  """The (single) stage-1 prompt `task` builds for a document."""
  specs, dead = task.prompts(Document('train', 'train', 'x'))
  if dead or len(specs) != 1:
    raise ValueError(f'{task.name}: expected one prompt, got {specs} {dead}')
  spec = specs[0]
  return Prompt(spec.prefix, tuple(prompt for _, prompt in spec.labels))


def prompted(prompt: Prompt, text: str, spans: Sequence[CharSpan],
             task: str, prefix_spans: Sequence[CharSpan] = ()) -> Optional[Dict]:
  """A gliner training example for `prompt.prefix + text`: `spans` in text
  offsets, `prefix_spans` in prefix offsets (classification). None when the
  example is longer than MAX_WORDS or a span is not on word boundaries (the
  model could not represent it)."""
  full = prompt.prefix + text
  words = words_with_offsets(full)
  if len(words) > MAX_WORDS:
    return None
  shift = len(prompt.prefix)
  char_spans = list(prefix_spans) + [(s + shift, e + shift, lab)
                                     for s, e, lab in spans]
  ner, dropped = char_spans_to_words(words, char_spans)
  if dropped:
    return None
  return {'tokenized_text': [w for w, _, _ in words], 'ner': ner,
          'ner_labels': list(prompt.labels), 'task': task}


# ---------------------------------------------------------------------------
# SQuAD: QA, summaries, topic classification
# ---------------------------------------------------------------------------
def squad_articles(squad_dir) -> List[Dict]:
  path = Path(squad_dir) / 'train-v2.0-10-articles.json'
  with open(path, encoding='utf-8') as handle:
    return json.load(handle)['data']


def split_articles(articles, held_out: bool) -> List[Dict]:
  return [a for a in articles
          if (a['title'] in QA_HELDOUT_ARTICLES) == held_out]


def training_articles(articles) -> List[Dict]:
  """The articles trained on: not held out, each without its last
  QA_CALIBRATION_PARAGRAPHS paragraphs (`calibration_articles`)."""
  return [{**a, 'paragraphs': a['paragraphs'][:-QA_CALIBRATION_PARAGRAPHS]}
          for a in split_articles(articles, False)]


def calibration_articles(articles) -> List[Dict]:
  """The last QA_CALIBRATION_PARAGRAPHS paragraphs of every trained
  article: neither trained on nor measured, for threshold calibration."""
  return [{**a, 'paragraphs': a['paragraphs'][-QA_CALIBRATION_PARAGRAPHS:]}
          for a in split_articles(articles, False)]


def qa_examples(articles, rng: random.Random,
                other_context_ratio: float = 0.3) -> List[Dict]:
  """Every question on its paragraph (no spans when unanswerable), plus a
  share of questions asked of another paragraph of the article that does not
  contain the answer (no spans)."""
  out = []
  for article in articles:
    paragraphs = article['paragraphs']
    for p_index, para in enumerate(paragraphs):
      context = para['context']
      for qa in para['qas']:
        prompt = job_prompt(QaTask(questions=(qa['question'].strip(), )))
        spans = [] if qa['is_impossible'] else sorted({
            (a['answer_start'], a['answer_start'] + len(a['text']), 'answer')
            for a in qa['answers']})
        example = prompted(prompt, context, spans[:1], 'qa')
        if example:
          out.append(example)
        if len(paragraphs) > 1 and rng.random() < other_context_ratio:
          other = paragraphs[rng.choice(
              [i for i in range(len(paragraphs)) if i != p_index])]['context']
          answers = [a['text'] for a in qa['answers']]
          if not any(a and a in other for a in answers):
            example = prompted(prompt, other, [], 'qa')
            if example:
              out.append(example)
  return out


def sentences(text: str) -> List[Tuple[int, int]]:
  """Character spans of the sentences of `text` (a simple rule: end mark,
  optional closing quote or bracket, space, capital or digit)."""
  spans, start = [], 0
  for match in _SENTENCE_END.finditer(text):
    spans.append((start, match.start() + len(match.group(1))))
    start = match.end()
  spans.append((start, len(text)))
  out = []
  for s, e in spans:
    piece = text[s:e]
    s += len(piece) - len(piece.lstrip())
    e -= len(piece) - len(piece.rstrip())
    if e > s:
      out.append((s, e))
  return out


def summary_reference(para) -> List[Tuple[int, int]]:
  """The sentence(s) holding the most answer starts of the paragraph's
  answerable questions; [] when no question has an answer."""
  sents = sentences(para['context'])
  counts = [0] * len(sents)
  for qa in para['qas']:
    for answer in qa['answers'][:1]:
      for i, (s, e) in enumerate(sents):
        if s <= answer['answer_start'] < e:
          counts[i] += 1
  if not any(counts):
    return []
  best = max(counts)
  return [sents[i] for i, c in enumerate(counts) if c == best][:2]


def summary_examples(articles) -> List[Dict]:
  prompt = job_prompt(SummaryTask())
  out = []
  for article in articles:
    for para in article['paragraphs']:
      ref = summary_reference(para)
      if ref:
        example = prompted(prompt, para['context'],
                           [(s, e, 'summary') for s, e in ref], 'summary')
        if example:
          out.append(example)
  return out


def class_example(text: str, true_class: str, candidates: Sequence[str],
                  task: str = 'classification') -> Optional[Dict]:
  """The job's classification prompt over `candidates`; the answer is the
  true class's name inside the instruction (label 'match'), located as the
  job lists the classes (joined with ', '), not by searching the text."""
  prompt = job_prompt(ClassificationTask(classes=tuple(candidates)))
  index = list(candidates).index(true_class)
  start = (len(CLASS_INSTRUCTION.split('{}')[0])
           + len(', '.join(list(candidates)[:index]))
           + (len(', ') if index else 0))
  assert prompt.prefix[start:start + len(true_class)] == true_class
  return prompted(prompt, text, [], task,
                  prefix_spans=[(start, start + len(true_class), 'match')])


def topic_examples(articles, rng: random.Random, per_article: int = 40
                   ) -> List[Dict]:
  topics = sorted(set(SQUAD_TOPICS.values()))
  out = []
  for article in articles:
    topic = SQUAD_TOPICS[article['title']]
    paras = list(article['paragraphs'])
    rng.shuffle(paras)
    for para in paras[:per_article]:
      others = rng.sample([t for t in topics if t != topic], rng.randint(2, 5))
      candidates = others + [topic]
      rng.shuffle(candidates)
      example = class_example(para['context'], topic, candidates)
      if example:
        out.append(example)
  return out


# ---------------------------------------------------------------------------
# FewRel: relations (stage 2), relation-type classification
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RelationSentence:
  relation_id: str
  relation: str
  text: str
  head: Tuple[int, int]  # character span
  tail: Tuple[int, int]

  @property
  def head_text(self) -> str:
    return self.text[self.head[0]:self.head[1]]

  @property
  def tail_text(self) -> str:
    return self.text[self.tail[0]:self.tail[1]]


def _token_span(offsets, indices) -> Tuple[int, int]:
  return offsets[min(indices)][0], offsets[max(indices)][1]


def fewrel_sentences(fewrel_dir) -> Dict[str, List[RelationSentence]]:
  """relation id -> its sentences, in file order."""
  root = Path(fewrel_dir)
  with open(root / 'pid2name.json', encoding='utf-8') as handle:
    names = {k: v[0] for k, v in json.load(handle).items()}
  with open(root / 'val_wiki.json', encoding='utf-8') as handle:
    data = json.load(handle)
  out = {}
  for rid in sorted(data):
    items = []
    for item in data[rid]:
      text, offsets = join_tokens(item['tokens'])
      items.append(RelationSentence(
          rid, names[rid], text, _token_span(offsets, item['h'][2][0]),
          _token_span(offsets, item['t'][2][0])))
    out[rid] = items
  return out


def split_relations(by_type, part: str) -> List[RelationSentence]:
  """'train': seen types minus their held-out tail; 'heldout_sentences':
  that tail; 'heldout_types': every sentence of the held-out types."""
  out = []
  for rid, items in by_type.items():
    if rid in RE_HELDOUT_TYPES:
      if part == 'heldout_types':
        out.extend(items)
    elif part == 'train':
      out.extend(items[:-RE_HELDOUT_PER_TYPE])
    elif part == 'heldout_sentences':
      out.extend(items[-RE_HELDOUT_PER_TYPE:])
  return out


def relation_examples(items: Sequence[RelationSentence], rng: random.Random,
                      ) -> List[Dict]:
  """Stage-2 examples: the relation instruction, labels `"{source} <>
  {relation}"` for the true relation and 2-6 others; the tail is the target.
  A third also ask from the tail as source (no target for the true
  relation), so that direction matters."""
  names = sorted({s.relation for s in items})
  out = []
  for sent in items:
    others = rng.sample([n for n in names if n != sent.relation],
                        rng.randint(2, 6))
    sources = [sent.head_text]
    if rng.random() < 0.33 and sent.tail_text != sent.head_text:
      sources.append(sent.tail_text)
    labels = [relation_prompts.relation_label(src, rel)
              for src in sources for rel in others + [sent.relation]]
    rng.shuffle(labels)
    prompt = Prompt(relation_prompts.PREFIX, tuple(labels))
    gold = relation_prompts.relation_label(sent.head_text, sent.relation)
    example = prompted(prompt, sent.text, [(*sent.tail, gold)], 'relations')
    if example:
      out.append(example)
  return out


def relation_class_examples(items: Sequence[RelationSentence],
                            rng: random.Random, share: float = 0.25
                            ) -> List[Dict]:
  names = sorted({s.relation for s in items})
  out = []
  for sent in items:
    if rng.random() >= share:
      continue
    candidates = rng.sample([n for n in names if n != sent.relation],
                            rng.randint(2, 5)) + [sent.relation]
    rng.shuffle(candidates)
    example = class_example(sent.text, sent.relation, candidates)
    if example:
      out.append(example)
  return out


# Entity types implied by a FewRel relation, (head type, tail type): only
# types specific enough that a sentence rarely holds another, unannotated
# mention of them (FewRel marks just the head and the tail).
RELATION_ENTITY_TYPES = {
    'P364': ('film or television show', 'language'),
    'P2094': (None, 'competition class'),
    'P641': (None, 'sport'),
    'P59': ('astronomical object', 'constellation'),
    'P413': (None, 'sports position'),
    'P410': (None, 'military rank'),
}


def relation_typed_docs(items: Sequence[RelationSentence]) -> List[Dict]:
  """FewRel sentences as NER documents (selflearning.ner_corpora's shape)
  typed by RELATION_ENTITY_TYPES."""
  types = sorted({t for pair in RELATION_ENTITY_TYPES.values() for t in pair
                  if t})
  out = []
  for sent in items:
    pair = RELATION_ENTITY_TYPES.get(sent.relation_id)
    if not pair:
      continue
    words = words_with_offsets(sent.text)
    char_spans = [(*span, label) for span, label in zip(
        (sent.head, sent.tail), pair) if label]
    ner, dropped = char_spans_to_words(words, char_spans)
    if ner and not dropped:
      out.append({'corpus': 'fewrel', 'tokens': [w for w, _, _ in words],
                  'spans': ner, 'types': types})
  return out


# ---------------------------------------------------------------------------
# NER corpora: typed NER, 'named entity' (relation stage 1), open extraction
# ---------------------------------------------------------------------------
def typed_prompt(present: Sequence[str], types: Sequence[str],
                 rng: random.Random, keep: float = 0.9,
                 keep_fine: float = 0.75, ask_parent: float = 0.5
                 ) -> Tuple[List[str], Dict[str, Optional[str]]]:
  """The labels of a typed NER example and the gold label of each present
  type (None: not asked, its spans are not gold).

  Each present type is asked with probability `keep` (`keep_fine` for a fine
  type with coarse parents, `ner_corpora.COARSE`), each coarse parent of a
  present type with `ask_parent`; a span's gold is the most specific asked
  type on its chain (politician, else person). So fine and coarse are often
  asked together with the fine type as gold, and the coarse type alone takes
  the fine type's spans. Negatives: 1-6 of the corpus's other types (never a
  parent of a present type: that would be a wrong "no")."""
  chains = {lab: ner_corpora.ancestors(lab) for lab in present}
  asked = [lab for lab in present
           if rng.random() < (keep_fine if chains[lab] else keep)]
  parents = sorted({p for chain in chains.values() for p in chain}
                   - set(present))
  asked += [p for p in parents if rng.random() < ask_parent]
  if not asked:
    asked = list(present)
  gold = {lab: next((t for t in [lab] + chains[lab] if t in asked), None)
          for lab in present}
  negatives = [t for t in types
               if t not in asked and t not in present and t not in parents]
  labels = asked + rng.sample(negatives, min(len(negatives),
                                             rng.randint(1, 6)))
  rng.shuffle(labels)
  return labels, gold


def ner_examples(docs: Sequence[Dict], rng: random.Random,
                 named_entity_share: float = 0.2,
                 open_share: float = 0.15) -> List[Dict]:
  """`docs`: {'tokens', 'spans' [[first, last, label prompt]], 'types'}.

  Most become NER examples over the corpus's types and the coarse parents
  of its fine types (`typed_prompt`: a random subset, so the model learns to
  follow the prompt, fine beside coarse, and negatives); some ask for every
  entity as 'named entity'; some ask for one type through an instruction
  (open extraction, label 'match').
  """
  any_entity = job_prompt(NerTask(labels=((NAMED_ENTITY, NAMED_ENTITY), )))
  out = []
  for doc in docs:
    text, offsets = join_tokens(doc['tokens'])
    spans = [(offsets[s][0], offsets[e][1], lab) for s, e, lab in doc['spans']]
    draw = rng.random()
    if draw < named_entity_share:
      example = prompted(any_entity, text, [(s, e, NAMED_ENTITY)
                                        for s, e, _ in spans], 'ner')
    elif draw < named_entity_share + open_share and spans:
      wanted = rng.choice(sorted({lab for _, _, lab in spans}))
      instruction = rng.choice(OPEN_TEMPLATES).format(wanted)
      prompt = job_prompt(OpenExtractionTask(prompt=instruction))
      example = prompted(prompt, text, [(s, e, 'match') for s, e, lab in spans
                                        if lab == wanted], 'open_extraction')
    else:
      labels, gold = typed_prompt(sorted({lab for _, _, lab in spans}),
                                  doc['types'], rng)
      if not labels:
        continue
      prompt = job_prompt(NerTask(labels=tuple((t, t) for t in labels)))
      example = prompted(prompt, text, [(s, e, gold[lab]) for s, e, lab in spans
                                        if gold[lab]], 'ner')
    if example:
      out.append(example)
  return out


# ---------------------------------------------------------------------------
# The mixture
# ---------------------------------------------------------------------------
# Relations got more weight with Re-DocRED's many types (was 0.2; QA 0.22,
# classification 0.08, summary 0.06, open extraction 0.08, NER 0.36).
TASK_WEIGHTS = {'ner': 0.38, 'relations': 0.26, 'qa': 0.18,
                'classification': 0.07, 'summary': 0.04,
                'open_extraction': 0.07}


def mixture(pools: Dict[str, List[Dict]], batch_size: int,
            rng: random.Random, weights: Dict[str, float] = TASK_WEIGHTS,
            one_task_per_batch: bool = True) -> Iterator[List[Dict]]:
  """Endless batches drawn from task pools with the tasks' weights
  (renormalised over non-empty pools), each pool walked in a seeded shuffled
  order. By default a whole batch comes from one task: a batch pads to its
  longest example and widest label set, so mixing short NER sentences with
  SQuAD paragraphs and long relation labels made every CPU step pay for the
  longest; otherwise each example draws its own task."""
  tasks = [t for t in sorted(weights) if pools.get(t)]
  if not tasks:
    raise ValueError('no training examples')
  total = sum(weights[t] for t in tasks)
  cumulative, acc = [], 0.0
  for task in tasks:
    acc += weights[task] / total
    cumulative.append(acc)
  orders = {t: [] for t in tasks}

  def pick():
    r = rng.random()
    return next((t for t, c in zip(tasks, cumulative) if r < c), tasks[-1])

  def draw(task):
    if not orders[task]:
      order = list(range(len(pools[task])))
      rng.shuffle(order)
      orders[task] = order
    return pools[task][orders[task].pop()]

  while True:
    if one_task_per_batch:
      task = pick()
      yield [draw(task) for _ in range(batch_size)]
    else:
      yield [draw(pick()) for _ in range(batch_size)]


def strip_task(batch: List[Dict]) -> List[Dict]:
  return [{k: v for k, v in ex.items() if k != 'task'} for ex in batch]
