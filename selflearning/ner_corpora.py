"""Open NER corpora for training, read with readable GLiNER label prompts.

GLiNER generalises to unseen entity types through the variety of the label
prompts it is trained on, so training mixes several openly licensed English
corpora (wikigold, WNUT17, BTC, SEC filings, re3d, GUM) whose tag sets differ,
and three with fine-grained types (MultiCoNER II: politician, band, written
work ...; StackOverflow NER: software; BioNLP13CG: biomedical). The CrossNER
domains stay held out: they measure zero-shot NER.

``COARSE`` links a fine type to its coarse parent (politician -> person), so
that training can ask both and teach that the fine type wins where it is
asked (`multitask_data.ner_examples`). No corpus here carries label
descriptions, so prompts are the type names only.

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
    'multiconer2': {
        'AerospaceManufacturer': 'aerospace manufacturer',
        'AnatomicalStructure': 'anatomical structure', 'ArtWork': 'artwork',
        'Artist': 'artist', 'Athlete': 'athlete',
        'CarManufacturer': 'car manufacturer', 'Cleric': 'cleric',
        'Clothing': 'clothing', 'Disease': 'disease', 'Drink': 'drink',
        'Facility': 'facility', 'Food': 'food',
        'HumanSettlement': 'city or country',
        'MedicalProcedure': 'medical procedure',
        'Medication/Vaccine': 'medication or vaccine', 'MusicalGRP': 'band',
        'MusicalWork': 'musical work', 'ORG': 'organization',
        'OtherLOC': 'location', 'OtherPER': 'person', 'OtherPROD': 'product',
        'Politician': 'politician', 'PrivateCorp': 'private company',
        'PublicCorp': 'public company', 'Scientist': 'scientist',
        'Software': 'software', 'SportsGRP': 'sports team',
        'SportsManager': 'sports manager', 'Station': 'station',
        'Symptom': 'symptom', 'Vehicle': 'vehicle',
        'VisualWork': 'film or television show', 'WrittenWork': 'written work',
    },
    'stackoverflow_ner': {
        'Algorithm': 'algorithm', 'Application': 'application',
        'Class_Name': 'class name', 'Code_Block': 'inline code',
        'Data_Structure': 'data structure', 'Data_Type': 'data type',
        'Device': 'device', 'Error_Name': 'error name',
        'File_Name': 'file name', 'File_Type': 'file type',
        'Function_Name': 'function name', 'HTML_XML_Tag': 'html or xml tag',
        'Keyboard_IP': 'keyboard input', 'Language': 'programming language',
        'Library': 'software library', 'Library_Class': 'library class',
        'Library_Function': 'library function',
        'Library_Variable': 'library variable', 'Licence': 'software licence',
        'Operating_System': 'operating system', 'Organization': 'organization',
        # pasted program output: no entity a user would ask for
        'Output_Block': None,
        'User_Interface_Element': 'user interface element',
        'User_Name': 'user name', 'Value': 'value',
        'Variable_Name': 'variable name', 'Version': 'version',
        'Website': 'website',
    },
    'bionlp13cg': {
        'Amino_acid': 'amino acid', 'Anatomical_system': 'anatomical system',
        'Cancer': 'cancer', 'Cell': 'cell',
        'Cellular_component': 'cellular component',
        'Developing_anatomical_structure': 'developing anatomical structure',
        'Gene_or_gene_product': 'gene or gene product',
        'Immaterial_anatomical_entity': 'immaterial anatomical entity',
        'Multi-tissue_structure': 'multi tissue structure', 'Organ': 'organ',
        'Organism': 'organism', 'Organism_subdivision': 'organism subdivision',
        'Organism_substance': 'organism substance',
        'Pathological_formation': 'pathological formation',
        'Simple_chemical': 'chemical', 'Tissue': 'tissue',
    },
}

# Fine type -> its coarse parent (chains allowed: application -> software ->
# product). Training asks a fine type and its parents together with the
# fine type as gold, and a parent without the fine type with the parent as
# gold.
COARSE: Dict[str, str] = {
    **{fine: 'person' for fine in (
        'politician', 'artist', 'athlete', 'cleric', 'scientist',
        'sports manager')},
    **{fine: 'organization' for fine in (
        'band', 'sports team', 'public company', 'private company',
        'aerospace manufacturer', 'car manufacturer')},
    **{fine: 'creative work' for fine in (
        'written work', 'musical work', 'film or television show', 'artwork')},
    **{fine: 'location' for fine in ('city or country', 'facility',
                                     'station')},
    **{fine: 'product' for fine in ('software', 'vehicle', 'clothing')},
    **{fine: 'software' for fine in ('application', 'software library',
                                     'operating system')},
    'library class': 'class name', 'library function': 'function name',
    'library variable': 'variable name',
    'cancer': 'disease', 'organ': 'anatomical structure',
    'tissue': 'anatomical structure', 'amino acid': 'chemical',
}


def corpus_types(corpus: str) -> List[str]:
  """The label prompts of one corpus, sorted, dropped tags left out."""
  return sorted({p for p in PROMPTS[corpus].values() if p is not None})


def ancestors(label: str) -> List[str]:
  """The coarse types above `label`, nearest first (application -> software
  -> product); [] for a type without a parent."""
  out: List[str] = []
  while label in COARSE and COARSE[label] not in out:
    label = COARSE[label]
    out.append(label)
  return out


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
