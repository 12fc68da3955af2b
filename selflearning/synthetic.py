"""Synthetic English news sentences with exact entity spans, for the demo
model's build.

Templates are filled from name pools, so every entity's character span is
known without annotation; a fifth of every pool and a separate set of
templates are held out, so evaluation sees names and sentence shapes the
model was not trained on. Each example's prompt (`ner_labels`) mixes the
types present with absent ones, so the model learns to follow the prompt and
to say "no". Plain Python and seeded `random.Random`s: the same seed gives
the same examples on every machine.
"""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

from common.text import words_with_offsets
from selflearning.gold import char_spans_to_words

# The demo model's prompt (and the labels of data/sample's gold).
MAIN_LABELS = ['person', 'organization', 'location']

# ---------------------------------------------------------------------------
# Name lists. None of these strings occurs as an entity in data/sample
# (checked by --check-overlap); split_half holds out a fifth of each list.
# ---------------------------------------------------------------------------
FIRST = """Amara Bilal Chen Dmitri Eun-ji Fatima Gabriel Hana Ibrahim Jonas
Keiko Leila Mateo Nia Oskar Paulina Quentin Rosa Samir Tove Umar Valentina Wei
Ximena Yusuf Zanele Adebayo Bogdan Carmen Darius Elif Farid Greta Hiroshi Ingrid
Javier Kavya Lorenzo Magdalena Nikolai Olga Pedro Ravi Sanne Tariq Ulrike Viktor
Wanjiru Yara Zoltan Aisha Björn Chiara Diego Emeka Freya Goran Helena Isabel
Jamal Kofi Laila Marco Noor Orla Pavel Rania Stefan Tomoko Uriel Vera Wiremu
Xavier Yuki Arjun Beatriz Cormac Dalia Esteban Femi Gunnar Hoang Ilse Jorge
Katarzyna Luca Mei Nasser Ophelia Rahel Sigrid""".split()
LAST = """Abara Bergström Castellanos Demir Eriksen Fonseca Gutiérrez Haddad
Ivanova Jovanović Kapoor Larsen Mbeki Nakamura Okafor Petrov Quispe Rahman
Schulz Takahashi Urquhart Vasquez Wójcik Yamamoto Zhang Adeleke Bianchi Cohen
Dimitriou Ekström Farouk Gallo Hoffmann Iyer Jensen Kuznetsov Lopez Moreau
Nguyen Oyelaran Papadopoulos Rossi Santos Tanaka Umeh Vogel Wagner Yilmaz
Zielińska Achebe Brennan Chaudhry Dufresne Esposito Fischer Grünewald Horvath
Ibsen Kaminski Lindgren Mensah Novak Obi Pereira Rasmussen Silva Tran Varga
Weber Xu Yoon Zapata Ali Baptiste Costa Duarte Kim Murphy""".split()
CITIES = """Lisbon Porto Madrid Seville Barcelona Marseilles Nantes Bordeaux
Hamburg Munich Cologne Leipzig Dresden Zurich Basel Milan Naples Florence
Bologna Athens Thessaloniki Sofia Bucharest Belgrade Zagreb Ljubljana Budapest
Bratislava Warsaw Gdansk Wroclaw Vilnius Riga Helsinki Tampere Uppsala Malmo
Aarhus Trondheim Stavanger Edinburgh Glasgow Manchester Leeds Bristol Cardiff
Belfast Limerick Boston Chicago Denver Houston Atlanta Phoenix Ottawa Winnipeg
Halifax Lima Quito Bogota Caracas Montevideo Cordoba Rosario Recife Salvador
Curitiba Manaus Havana Kingston Dakar Abuja Kano Ibadan Kumasi Lusaka Harare
Kigali Mombasa Addis Ababa Cairo Alexandria Tunis Casablanca Rabat Istanbul
Ankara Izmir Tbilisi Yerevan Baku Almaty Tashkent Tehran Dubai Doha Riyadh Amman
Beirut Mumbai Delhi Chennai Kolkata Bangalore Hyderabad Dhaka Colombo Kathmandu
Yangon Hanoi Manila Jakarta Surabaya Singapore Busan Seoul Incheon Sapporo
Nagoya Fukuoka Taipei Chengdu Wuhan Nanjing Xiamen Perth Adelaide Brisbane
Melbourne Hobart Wellington Christchurch Dunedin Suva""".split()
CITIES = [c.replace('Addis', 'Addis Ababa') for c in CITIES if c != 'Ababa']
COUNTRIES = """Portugal Germany Switzerland Luxembourg Denmark Sweden Latvia
Lithuania Czechia Slovenia Albania Greece Turkey Georgia Armenia Egypt Tunisia
Algeria Senegal Mali Niger Cameroon Uganda Rwanda Tanzania Zambia Malawi Angola
Madagascar India Nepal Bangladesh Vietnam Indonesia Malaysia Philippines
Mongolia Australia Fiji Ecuador Venezuela Uruguay Paraguay Cuba Jamaica Honduras
Guatemala Panama Qatar Jordan Oman Iran Kazakhstan Uzbekistan""".split()
COUNTRIES += [
    'Sri Lanka', 'Costa Rica', 'Saudi Arabia', 'United Arab Emirates',
    'New Caledonia', 'the Netherlands', 'the United States',
    'the Czech Republic', 'Ivory Coast', 'Burkina Faso',
]
RIVER_NAMES = """Rhine Elbe Loire Rhone Tagus Ebro Po Vistula Oder Dnieper Volga
Thames Severn Shannon Nile Niger Congo Zambezi Limpopo Orange Ganges Indus
Irrawaddy Yangtze Murray Darling Orinoco Uruguay Mississippi Missouri Ohio
Hudson Fraser Yukon Colorado""".split()
REGIONS = [
    'Tuscany', 'Andalusia', 'Catalonia', 'Brittany', 'Normandy', 'Saxony',
    'Flanders', 'Lapland', 'Transylvania', 'Silesia', 'Yorkshire', 'Cornwall',
    'Texas', 'Quebec City', 'Alberta', 'Manitoba', 'the Sahara', 'the Balkans',
    'the Alps', 'the Pyrenees', 'the Himalayas', 'Siberia', 'Kerala', 'Bengal',
    'Sichuan', 'Bali', 'Tasmania', 'Yucatan', 'Lake Victoria', 'Lake Geneva',
    'the Baltic Sea', 'the Black Sea', 'the Atlantic', 'Mount Kilimanjaro',
    'the Rocky Mountains', 'the Carpathians', 'Gran Canaria', 'Sardinia',
    'Crete', 'Sicily',
]
ORG_WORDS = """Apex Borealis Cobalt Delta Evergreen Falcon Granite Harbor Ionic
Juniper Keystone Lumen Meridianus Northgate Orion Pinnacle Quarry Redwood
Silverline Tidewater Unity Vantage Westbrook Zenith Amberly Bluestone Crestview
Driftwood Emberline Foxglove Goldcrest Highland Ironbridge Kestrel Lakeshore
Moorland Nimbus Oakhurst Pioneer Riverside Summit Thornbury Upland
Valeport""".split()
ORG_SUFFIX = [
    'Industries', 'Holdings', 'Group', 'Motors', 'Bank', 'Capital', 'Labs',
    'Energy', 'Foods', 'Airlines', 'Logistics', 'Pharmaceuticals', 'Telecom',
    'Media', 'Insurance', 'Steel', 'Software', 'Systems', 'Partners',
    'Shipping', 'Mining', 'Textiles', 'Brewery', 'Semiconductors', 'Health',
    'Consulting', 'Publishing', 'Railways', 'Solar', 'Chemicals',
]
NAME_PARTICLES = ['de', 'van der', 'al-', 'von', 'da']
CITY_ORG_KINDS = [
    'University', 'Institute of Technology', 'City Council', 'Football Club',
    'Symphony Orchestra', 'Chamber of Commerce',
]
AGENCY_KINDS = ['Agency', 'Authority', 'Institute', 'Council', 'Service']
SOCIETY_KINDS = ['Foundation', 'Trust', 'Society', 'Association', 'Union']
AGENCY_TOPICS = [
    'Health', 'Education', 'Transport', 'Finance', 'Agriculture', 'Energy',
    'Defence', 'Environment', 'Justice', 'Culture', 'Labour', 'Trade',
    'Water Resources', 'Fisheries',
]
ORG_FIXED = [
    'United Nations', 'World Food Programme', 'International Monetary Fund',
    'UNESCO', 'NATO', 'Amnesty International', 'Doctors Without Borders',
    'Greenpeace', 'OPEC', 'African Union', 'Interpol', 'Siemens', 'Nokia',
    'Toyota', 'Samsung', 'Unilever', 'Volkswagen', 'Ericsson', 'Airbus',
    'Philips', 'BBC', 'Al Jazeera', 'Associated Press', 'FIFA',
    'Olympic Committee', 'Stanford University', 'Sorbonne', 'ETH Zurich',
    'Karolinska Institute', 'Harvard University', 'Peking University',
    'Seoul National University', 'University of Nairobi', 'Makerere University',
    'World Health Organization', 'Oxfam',
]
PRODUCTS = [
    'Galaxy Note', 'Model Y', 'PlayStation', 'Kindle', 'Aero X5 drone',
    'Nimbus 3 phone', 'Falcon tablet', 'Orbit smartwatch', 'Vortex vacuum',
    'Lumen e-reader', 'Titan X2 tractor', 'Breeze heat pump',
    'Quantum 7 laptop', 'Echo speaker', 'Pulse fitness tracker',
]
EVENTS = [
    'the Olympic Games', 'the World Cup', 'the Tour de France',
    'the Venice Biennale', 'the Cannes Film Festival', 'the Paris Air Show',
    'the Frankfurt Book Fair', 'Expo 2030', 'the Climate Summit',
    'the Monaco Grand Prix', 'the Edinburgh Festival', 'Carnival',
    'the Eurovision Song Contest', 'the Chelsea Flower Show', 'the Davos forum',
]
MONTHS = [
    'January', 'February', 'March', 'April', 'May', 'June', 'July', 'August',
    'September', 'October', 'November', 'December',
]
WEEKDAYS = [
    'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday',
    'Sunday',
]
ROLES = [
    'chief executive', 'finance minister', 'professor', 'spokesperson', 'mayor',
    'coach', 'director', 'senator', 'economist', 'engineer', 'researcher',
    'chairman', 'ambassador', 'head coach', 'president', 'editor', 'lawyer',
    'historian', 'architect', 'surgeon',
]
TOPICS = [
    'rising food prices', 'the new budget', 'water shortages', 'the merger',
    'a cyberattack', 'flooding', 'the election results', 'job cuts',
    'the vaccine programme', 'a rail strike', 'the drought', 'housing costs',
    'the trade deal', 'a data breach', 'plastic waste',
]
OTHER_NEG = [
    'date', 'product', 'event', 'nationality', 'language', 'money', 'time',
    'vehicle', 'food', 'disease', 'law', 'religion', 'sport', 'animal', 'plant',
    'job title', 'musical instrument', 'book', 'film', 'award', 'ship',
    'building', 'currency', 'medication', 'software', 'chemical compound',
    'programming language', 'planet',
]
NATIONALITIES = [
    'German', 'Brazilian', 'Japanese', 'Nigerian', 'Swedish', 'Mexican',
    'Indian', 'Italian', 'Canadian', 'Egyptian', 'Polish', 'Vietnamese',
    'Turkish', 'Australian',
]

# Templates. Slots: {P} person, {O} organization, {L} location, {D} date,
# {PR} product, {E} event, {R} role (not an entity), {T} topic (not an
# entity), {N} nationality (not tagged unless "nationality" is asked), {X} a
# number.
TEMPLATES = [
    '{P}, {R} of {O}, said on {D} that the company would open a new office in {L}.',
    '{O} announced that {P} will lead its operations in {L} from {D}.',
    'The {N} {R} {P} arrived in {L} on {D} for talks with {O}.',
    '{P} was born in {L} and studied law at {O} before joining {O}.',
    'Police in {L} said {P}, {X}, had been arrested after a protest outside the offices of {O}.',
    'Heavy rain flooded parts of {L} and {L} on {D}, according to {O}.',
    '{O} and {O} agreed to merge, creating the largest {N} lender, {P} said.',
    '{P} told reporters in {L} that {T} would dominate the meeting.',
    'The {L} River burst its banks near {L}, forcing {X} families from their homes.',
    'In {D}, {P} became the first woman to run {O}.',
    'Speaking at {E} in {L}, {P} praised the work of {O}.',
    '{O} unveiled the {PR} at a launch event in {L} on {D}.',
    'Shares in {O} fell {X} percent after {P} resigned as {R}.',
    '{P} and {P} will represent {L} at {E} in {L}.',
    'A report by {O} found that {T} had hit farmers in {L} hardest.',
    '{P}, who grew up in {L}, now teaches at {O}.',
    'The ministry said {P} would travel to {L} and {L} next week.',
    'Founded in {L} in {X}, {O} now employs thousands of people across {L}.',
    '{O} has appointed {P} as its new {R}, the company said in a statement.',
    'Flights between {L} and {L} were cancelled because of a strike by staff at {O}.',
    'According to {P} of {O}, {T} will cost the region millions.',
    '{P} scored twice as {O} beat {O} in {L} on {D}.',
    'The agreement was signed in {L} by {P} and representatives of {O}.',
    'Researchers at {O} in {L} say the discovery could change how {T} is handled.',
    'Residents of {L} blamed {O} for {T}, but {P} rejected the criticism.',
    '{P} ({X}) is a {N} {R} best known for her work with {O}.',
    '{P} ({X}) is a {N} {R} who spent most of his career in {L}.',
    '{O} will build a factory near {L}, creating {X} jobs, {R} {P} said.',
    'Tourists crowded the streets of {L} ahead of {E}.',
    'On {D}, {O} reported record profits from its business in {L}.',
    '{R} {P} met {P} in {L} to discuss {T}.',
    'Ships waiting to enter {L} were delayed after the {L} froze earlier than usual.',
    'The exhibition, organised by {O}, moves to {L} in {D}.',
    '"We are very proud," said {P}, whose team at {O} built the {PR}.',
    '{O} said the outage affected customers in {L}, {L} and {L}.',
    'Mr {P} denied the allegations, his lawyer told a court in {L}.',
    'Ms {P} thanked {O} for its support during {E}.',
    'Dr {P}, a {R} at {O}, warned that {T} was getting worse.',
    'Born in {L}, {P} moved to {L} as a child and later joined {O}.',
    'The {N} government has asked {O} to investigate {T} in {L}.',
    'Volunteers from {O} distributed food in {L} after the storm.',
    '{P} will step down on {D}, {O} said.',
    'The {L} and the {L} both run through the region, which borders {L}.',
    '{O}, based in {L}, sells the {PR} in more than {X} countries.',
    'Prosecutors in {L} charged {P} with fraud linked to {O}.',
    'The capital, {L}, hosted {E} for the first time.',
    '{P}, the daughter of {R} {P}, runs a bakery in {L}.',
    'Students at {O} marched through {L} to protest {T}.',
    '{O} won a contract worth {X} million dollars to upgrade railways in {L}.',
    'The festival ended on {D} with a concert by {P} in {L}.',
]
# held-out templates (evaluation only: checks generalisation beyond the
# training templates)
EVAL_TEMPLATES = [
    'Last year {P} left {O} to found a start-up in {L}.',
    '{O} confirmed on {D} that {P} had been hired to run its branch in {L}.',
    'Farmers near {L} say {O} has not paid them since {D}.',
    'The visit by {P} to {L} was organised by {O}.',
    '{P}, an adviser to {O}, grew up on a farm outside {L}.',
    'Water from the {L} is shared by {L} and {L} under a treaty brokered by {O}.',
    "A spokesperson for {O} in {L} declined to comment on {P}'s remarks.",
    '{P} and her brother {P} opened a hotel in {L} with a loan from {O}.',
]

SLOT_RE = re.compile(r'\{(P|O|L|D|PR|E|R|T|N|X)\}')



def split_half(items, seed):
  """Deterministically split a list into (train, eval) with ~80/20."""
  items = sorted(set(items))
  rng = random.Random(seed)
  rng.shuffle(items)
  k = max(1, len(items) // 5)
  return items[k:], items[:k]


class NamePools:
  """The training or the held-out part of every name list; each method
  draws one entity string."""

  def __init__(self, held_out: bool):
    i = 1 if held_out else 0
    self.first = split_half(FIRST, 1)[i]
    self.last = split_half(LAST, 2)[i]
    self.cities = split_half(CITIES, 3)[i]
    self.countries = split_half(COUNTRIES, 4)[i]
    self.rivers = split_half(RIVER_NAMES, 5)[i]
    self.regions = split_half(REGIONS, 6)[i]
    self.org_words = split_half(ORG_WORDS, 7)[i]
    self.org_fixed = split_half(ORG_FIXED, 8)[i]

  def person(self, rng):
    r = rng.random()
    first, last = rng.choice(self.first), rng.choice(self.last)
    if r < 0.65:
      return f'{first} {last}'
    if r < 0.75:
      return f"{first} {rng.choice('ABCDEFGHJKLMNPRSTW')}. {last}"
    if r < 0.85:
      return f'{first} {rng.choice(self.last)}-{last}'
    if r < 0.93:
      return last
    particle = rng.choice(NAME_PARTICLES)
    return f'{first} {particle} {last}'.replace('al- ', 'al-')

  def organization(self, rng):
    r = rng.random()
    w = rng.choice(self.org_words)
    if r < 0.35:
      return f'{w} {rng.choice(ORG_SUFFIX)}'
    if r < 0.45:
      return f'{rng.choice(self.last)} {rng.choice(ORG_SUFFIX)}'
    if r < 0.55:
      return f'University of {rng.choice(self.cities)}'
    if r < 0.62:
      city = rng.choice(self.cities)
      return f'{city} {rng.choice(CITY_ORG_KINDS)}'
    if r < 0.72:
      return f'Ministry of {rng.choice(AGENCY_TOPICS)}'
    if r < 0.80:
      topic = rng.choice(AGENCY_TOPICS)
      return f'National {topic} {rng.choice(AGENCY_KINDS)}'
    if r < 0.86:
      return f'{w} {rng.choice(SOCIETY_KINDS)}'
    return rng.choice(self.org_fixed)

  def location(self, rng):
    r = rng.random()
    if r < 0.5:
      return rng.choice(self.cities)
    if r < 0.8:
      return rng.choice(self.countries)
    if r < 0.9:
      return rng.choice(self.regions)
    return rng.choice(self.rivers) + ' River'



def word_spans(text, spans):
  """Text and character spans -> (gliner's words, ner [first word, last word
  inclusive, label]); spans not on word boundaries are left out."""
  words = words_with_offsets(text)
  ner, _ = char_spans_to_words(words, spans)
  return [w for w, _, _ in words], ner


def fill_template(tmpl, pools, rng):
  """Fill a template; return (text, [(start, end, type)]).

  A leading "the " of a location ("the Alps", "the Netherlands") stays
  outside the entity span, as in the sample gold ("the [[Andes]]").
  """
  out, spans, pos, length = [], [], 0, 0
  for m in SLOT_RE.finditer(tmpl):
    lit = tmpl[pos:m.start()]
    out.append(lit)
    length += len(lit)
    pos = m.end()
    slot = m.group(1)
    typ, prefix = None, ''
    following = tmpl[m.end():]
    if slot == 'P':
      val, typ = pools.person(rng), 'person'
    elif slot == 'O':
      val, typ = pools.organization(rng), 'organization'
    elif slot == 'L':
      typ = 'location'
      if following.startswith(' River'):
        val = rng.choice(pools.rivers) + ' River'
        pos += len(' River')
      elif lit.lower().endswith('the '):
        val = rng.choice(pools.rivers)
      else:
        val = pools.location(rng)
    elif slot == 'D':
      r = rng.random()
      if r < 0.4:
        val = f'{rng.randint(1, 28)} {rng.choice(MONTHS)}'
      elif r < 0.7:
        val = f'{rng.choice(MONTHS)} {rng.randint(1990, 2031)}'
      else:
        val = rng.choice(WEEKDAYS)
      typ = 'date'
    elif slot == 'PR':
      val, typ = rng.choice(PRODUCTS), 'product'
    elif slot == 'E':
      val, typ = rng.choice(EVENTS), 'event'
      if val.startswith('the '):
        prefix, val = 'the ', val[4:]
    elif slot == 'R':
      val = rng.choice(ROLES)
    elif slot == 'T':
      val = rng.choice(TOPICS)
    elif slot == 'N':
      val, typ = rng.choice(NATIONALITIES), 'nationality'
    else:
      val = str(rng.randint(2, 90))
    if val.startswith('the '):
      prefix, val = 'the ', val[4:]
    if length == 0:  # sentence start
      if prefix:
        prefix = 'The '
      else:
        val = val[0].upper() + val[1:]
    out.append(prefix)
    length += len(prefix)
    if typ is not None:
      spans.append((length, length + len(val), typ))
    out.append(val)
    length += len(val)
  out.append(tmpl[pos:])
  return ''.join(out), spans


def synthetic_examples(n, held_out, seed):
  """`n` paragraphs of one to three filled templates: [(text, [(start, end,
  type)])], from the held-out names and templates when `held_out`."""
  rng = random.Random(seed)
  pools = NamePools(held_out)
  templates = EVAL_TEMPLATES if held_out else TEMPLATES
  examples = []
  for _ in range(n):
    k = rng.choice([1, 1, 2, 2, 3])  # sentences per example: short paragraphs
    text_parts, spans, offset = [], [], 0
    for j in range(k):
      t, sp = fill_template(rng.choice(templates), pools, rng)
      if j:
        text_parts.append(' ')
        offset += 1
      spans += [(s + offset, e + offset, lab) for s, e, lab in sp]
      text_parts.append(t)
      offset += len(t)
    text = ''.join(text_parts)
    examples.append((text, spans))
  return examples


def to_training_example(text, spans, rng):
  """Build a GLiNER training dict with an explicit, shuffled prompt list.

  The prompt always contains the types present, except that sometimes one
  present type is dropped (with its entities) so that the model learns to
  follow the prompt; negatives (absent types) are added so that it learns to
  say "no".
  """
  tokens, ner = word_spans(text, spans)
  present = sorted({lab for _, _, lab in ner})
  optional = {'date', 'product', 'event', 'nationality'}
  labels = []
  for lab in present:
    if lab in optional and rng.random() < 0.5:
      continue  # often not asked for: model must not tag it
    if lab in MAIN_LABELS and len(present) > 1 and rng.random() < 0.1:
      continue
    labels.append(lab)
  negs = [x for x in MAIN_LABELS + OTHER_NEG
          if x not in labels and x not in present]
  labels += rng.sample(negs, rng.randint(0, 3))
  for lab in MAIN_LABELS:  # the demo prompt: main labels usually all present
    if lab not in labels and lab not in present and rng.random() < 0.6:
      labels.append(lab)
  if not labels:
    labels = ['person']
  rng.shuffle(labels)
  ner = [x for x in ner if x[2] in labels]
  return {'tokenized_text': tokens, 'ner': ner, 'ner_labels': labels}



def heldout_examples(n=200, seed=777):
  """The demo prompt on held-out names and held-out templates."""
  examples = []
  for text, spans in synthetic_examples(n, True, seed):
    tokens, ner = word_spans(text, spans)
    examples.append({'tokenized_text': tokens,
                     'ner': [x for x in ner if x[2] in MAIN_LABELS],
                     'ner_labels': MAIN_LABELS})
  return examples


def sample_overlap(sample_dir):
  """(sample-gold entities equal to a synthetic name, person-name words
  shared with the name lists): both should stay empty."""
  names = set()
  for line in open(Path(sample_dir) / 'gold.jsonl', encoding='utf-8'):
    for e in json.loads(line)['entities']:
      names.add(e['text'])
  vocab = (set(FIRST) | set(LAST) | set(CITIES) | set(COUNTRIES)
           | set(RIVER_NAMES) | set(REGIONS) | set(ORG_WORDS) | set(ORG_FIXED))
  hits = sorted(n for n in names
                if n in vocab or any(n == f'the {r}' for r in RIVER_NAMES))
  parts = sorted({w for n in names for w in n.split()}
                 & (set(FIRST) | set(LAST)))
  return hits, parts
