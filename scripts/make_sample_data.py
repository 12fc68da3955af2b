#!/usr/bin/env python
"""Write the bundled sample documents and their gold entity annotations.

This file is the single source of truth for ``data/sample/``. Every document
below is original text written for this project (fictional people and
organisations, real place names). Entities are marked inline as
``[[surface text|P]]`` (person), ``[[...|O]]`` (organization) and
``[[...|L]]`` (location); the markup is stripped here and the character
offsets of each marked string are computed programmatically and checked
(``text[start:end] == surface``).

Outputs (deterministic, byte-for-byte identical on every run):

* ``data/sample/documents.parquet`` -- columns ``id: string``, ``text: string``
  (nullable). 30 short documents, one long document (>= 3,000 words) and
  three deliberately bad rows (``bad-null``, ``bad-empty``, ``bad-blank``).
* ``data/sample/gold.jsonl`` -- one line per good document:
  ``{"id": ..., "entities": [{"start", "end", "label", "text"}]}``.

Usage::

    python scripts/make_sample_data.py [--out data/sample]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

LABELS = {'P': 'person', 'O': 'organization', 'L': 'location'}
MARKUP = re.compile(r'\[\[([^\[\]|]+)\|([POL])\]\]')

# --------------------------------------------------------------------------
# Short documents (news / encyclopedic style, 40-250 words each).
# --------------------------------------------------------------------------
DOCS: list[tuple[str, str]] = [
  (
    'doc-001',
    """\
[[Rotterdam|L]] port officials approved a plan on Tuesday to deepen two shipping channels, a project \
that [[Havenwerk Dredging|O]] estimates will take three years. [[Marieke van Dalen|P]], who chairs the \
port board, said larger container ships had been forced to wait for high tide before entering the \
[[Nieuwe Maas|L]]. The [[Dutch Ministry of Infrastructure|O]] will pay a third of the cost. \
Environmental groups, including [[North Sea Watch|O]], asked for sediment testing before work begins.""",
  ),
  (
    'doc-002',
    """\
[[Ayodele Bankole|P]] has been named chief executive of [[Kudi Systems|O]], a payments company \
based in [[Lagos|L]], replacing founder [[Tunde Okonjo|P]], who will remain on the board. [[Bankole|P]] \
previously ran the West African operations of [[Meridian Bank|O]] and studied economics at the \
[[University of Ibadan|O]]. The company processes transfers in [[Nigeria|L]], [[Ghana|L]] and \
[[Kenya|L]], and plans to open an office in [[Nairobi|L]] next spring.""",
  ),
  (
    'doc-003',
    """\
The [[Danube|L]] reached its lowest level in two decades this week, stranding cargo barges near \
[[Vidin|L]] and forcing ferry operators to suspend crossings to [[Romania|L]]. Hydrologist \
[[Petra Novakova|P]] of the [[Slovak Academy of Sciences|O]] said the drought had reduced flow from \
Alpine tributaries. River authorities in [[Serbia|L]] and [[Hungary|L]] are coordinating emergency \
dredging, and the [[International Commission for the Protection of the Danube River|O]] will meet in \
[[Vienna|L]] on Friday.""",
  ),
  (
    'doc-004',
    """\
[[Lindqvist Robotics|O]], a warehouse automation start-up from [[Gothenburg|L]], said it had raised \
forty million euros from investors led by [[Nordvik Capital|O]]. Co-founder [[Elsa Lindqvist|P]] said \
the money would fund a factory in [[Poland|L]] and a research team in [[Stockholm|L]]. The company's \
picking robots are already used by [[Hallberg Foods|O]] and by several grocery chains in \
[[Finland|L]].""",
  ),
  (
    'doc-005',
    """\
[[Rafael Quintero|P]] (born 1961) is a Chilean geologist known for his studies of volcanic lakes in \
the [[Andes|L]]. He taught at the [[University of Concepcion|O]] for thirty years and later directed \
the [[National Geology and Mining Service|O]]. His fieldwork took him from [[Patagonia|L]] to the \
[[Atacama Desert|L]], and his textbook on crater chemistry is still used in [[Argentina|L]] and \
[[Peru|L]]. In 2015 he received a medal from the [[Geological Society of London|O]].""",
  ),
  (
    'doc-006',
    """\
Striking dockworkers in [[Marseille|L]] returned to work on Monday after the [[Union of Port \
Workers|O]] accepted a revised pay offer. Union spokesperson [[Nadia Belkacem|P]] said members had \
voted narrowly in favour. Shipping line [[Azur Maritime|O]] said it would clear the backlog of \
containers within ten days. The dispute had delayed fruit imports from [[Morocco|L]] and \
[[Spain|L]].""",
  ),
  (
    'doc-007',
    """\
The city council of [[Portland|L]] voted to extend its light rail line across the [[Willamette \
River|L]] to the eastern suburbs. Mayor [[Diane Kowalczyk|P]] called the vote historic. The \
[[Federal Transit Administration|O]] is expected to fund half of the two-billion-dollar project, \
with the rest coming from [[Oregon|L]] and regional taxes. Construction firm [[Bridgeline \
Partners|O]] has been selected to build the new crossing.""",
  ),
  (
    'doc-008',
    """\
Researchers at [[Kyoto University|O]] and the [[Riken Institute|O]] have built a sensor that \
detects spoiled fish by measuring gases released from the skin. Lead author [[Haruto Saito|P]] \
said the device costs less than a dollar to make. Fish markets in [[Osaka|L]] will test it this \
summer, and a seafood distributor in [[Hokkaido|L]] has expressed interest. The work was funded by \
the [[Japan Science and Technology Agency|O]].""",
  ),
  (
    'doc-009',
    """\
[[Grace Mwangi|P]] won the women's marathon in [[Berlin|L]] on Sunday, finishing more than a minute \
ahead of [[Selam Tesfaye|P]] of [[Ethiopia|L]]. [[Mwangi|P]], who trains in [[Iten|L]] in western \
[[Kenya|L]], said the cool weather helped. Her coach, [[Peter Rotich|P]], said she would now focus on \
the world championships. Race organiser [[Berlin Sports Events|O]] reported a record forty-eight \
thousand entrants.""",
  ),
  (
    'doc-010',
    """\
The [[European Space Agency|O]] confirmed that its [[Darmstadt|L]] control centre had regained \
contact with a weather satellite after a fault lasting eleven hours. Flight director [[Tomasz \
Wierzbicki|P]] said a software update had triggered a safe mode. The satellite, built by \
[[Orbital Dynamics|O]] in [[Toulouse|L]], provides cloud images for forecasters across \
[[Europe|L]] and [[North Africa|L]].""",
  ),
  (
    'doc-011',
    """\
[[Cerro Verde Coffee|O]], a cooperative of eight hundred farmers in [[Huila|L]], [[Colombia|L]], has \
signed a supply agreement with the Canadian roaster [[Maple Ridge Roasters|O]]. Cooperative president \
[[Luz Marina Cardenas|P]] said the deal guarantees a price above the market for five years. Beans will \
be shipped from [[Cartagena|L]] to [[Montreal|L]], where the roaster operates its main plant.""",
  ),
  (
    'doc-012',
    """\
[[Imran Siddiqui|P]], a data scientist at [[Crescent Analytics|O]], has published an open dataset of \
air quality readings collected by volunteers in [[Karachi|L]] and [[Lahore|L]]. The project was \
supported by the [[Pakistan Meteorological Department|O]] and by [[Habib University|O]], where \
[[Siddiqui|P]] teaches part time. He said the readings showed pollution peaks that official monitors in \
[[Punjab|L]] had missed.""",
  ),
  (
    'doc-013',
    """\
The [[Mekong River Commission|O]] warned that new dams on the upper [[Mekong|L]] could reduce the fish catch in \
[[Cambodia|L]] by a quarter within a decade. Fisheries expert [[Sokha Chea|P]] said families around \
the [[Tonle Sap|L]] lake depend on the annual flood. The commission has asked \
[[Laos|L]] and [[Thailand|L]] to share water release schedules. A meeting is planned in \
[[Phnom Penh|L]] in November.""",
  ),
  (
    'doc-014',
    """\
[[Brightwater Pharmaceuticals|O]] said its experimental asthma inhaler performed better than a \
placebo in a trial of six hundred patients in [[Canada|L]] and [[Ireland|L]]. Chief medical officer \
[[Siobhan Gallagher|P]] said the company would seek approval from [[Health Canada|O]] next year. \
Shares of the company, which is based in [[Dublin|L]], rose nine percent. Analysts at [[Corrib Securities|O]] \
called the results encouraging but cautioned that the trial was short.""",
  ),
  (
    'doc-015',
    """\
Wildfires forced the evacuation of three villages on the Greek island of [[Evia|L]] overnight. \
Firefighting aircraft from [[Italy|L]] and [[Croatia|L]] joined local crews, according to the \
[[Hellenic Fire Service|O]]. Regional governor [[Nikos Papadakis|P]] said no injuries had been \
reported. Residents were taken by ferry to [[Chalkida|L]], and the [[Red Cross|O]] set up shelters \
in two schools.""",
  ),
  (
    'doc-016',
    """\
[[Zhou Meilin|P]] is a Chinese materials scientist who developed a low-cost coating that keeps \
solar panels free of dust. After a doctorate at [[Tsinghua University|O]], she joined [[Sunridge \
Energy|O]] in [[Shenzhen|L]], where she now leads a laboratory of forty researchers. The coating has \
been tested at desert solar farms in [[Xinjiang|L]] and [[Inner Mongolia|L]]. In 2021 she was elected \
to the [[Chinese Academy of Engineering|O]].""",
  ),
  (
    'doc-017',
    """\
The [[Amazon|L]] basin lost less forest this year than last, according to satellite estimates \
released by the [[National Institute for Space Research|O]] in [[Brazil|L]]. Ecologist [[Joana \
Ribeiro|P]] said stronger enforcement in [[Para|L]] explained most of the decline. However, clearing \
increased in [[Bolivia|L]], where environmental group [[Bosque Vivo|O]] documented new cattle \
ranches along the [[Beni River|L]].""",
  ),
  (
    'doc-018',
    """\
Former defence minister [[Henrik Sorensen|P]] has been appointed ambassador to [[Iceland|L]], the \
government in [[Copenhagen|L]] announced. [[Sorensen|P]], 63, led the [[Danish Social Democrats|O]] group in \
parliament for six years. He will take up the post in [[Reykjavik|L]] in January, succeeding \
[[Karen Holm|P]], who is retiring after a career with the [[Ministry of Foreign Affairs|O]].""",
  ),
  (
    'doc-019',
    """\
[[Tessaro Motors|O]] will close its engine plant in [[Turin|L]] by the end of next year, affecting \
about one thousand workers. Chief executive [[Giulia Ferrante|P]] said production would move to a \
newer site in [[Slovakia|L]]. The metalworkers' union [[FIOM|O]] called a four-hour strike, and \
regional president [[Alberto Cirio|P]] asked the company to keep research jobs in [[Piedmont|L]].""",
  ),
  (
    'doc-020',
    """\
[[Owen Pritchard|P]] has restored a nineteenth-century slate quarry railway in [[Snowdonia|L]], \
reopening four miles of narrow-gauge track to visitors. The volunteer group he leads, [[Llanberis \
Heritage Trust|O]], spent eleven years on the project with grants from the [[National Lottery \
Heritage Fund|O]]. Trains will run from [[Llanberis|L]] to the foot of [[Mount Snowdon|L]] three times \
a day during the summer.""",
  ),
  (
    'doc-021',
    """\
Police in [[Toronto|L]] arrested two men suspected of stealing copper cable from rail yards \
operated by [[Canadian National Railway|O]]. Detective [[Priya Raman|P]] said the thefts had caused \
signal failures on commuter lines run by [[Metrolinx|O]] for several weeks. The suspects will appear \
in court in [[Brampton|L]] on Thursday.""",
  ),
  (
    'doc-022',
    """\
The [[University of Cape Town|O]] has opened a centre for ocean research funded by a grant from \
the [[Moyo Foundation|O]]. Its first director, [[Thandiwe Dlamini|P]], studies how warming water \
affects kelp forests along the coast of [[South Africa|L]] and [[Namibia|L]]. The centre will operate \
a research vessel from [[Simon's Town|L]] and share data with scientists in [[Mozambique|L]].""",
  ),
  (
    'doc-023',
    """\
Software company [[Fjordline Data|O]] agreed to buy [[Pixelwise|O]], a small image-recognition \
firm from [[Tallinn|L]], for an undisclosed sum. [[Kristjan Tamm|P]], who founded [[Pixelwise|O]] after \
leaving [[Skype|O]], will join the buyer's management team in [[Oslo|L]]. The deal still needs \
approval from competition authorities in [[Norway|L]] and [[Estonia|L]].""",
  ),
  (
    'doc-024',
    """\
Heavy rain caused the [[Brahmaputra|L]] to burst its banks in [[Assam|L]], flooding more than two \
hundred villages. The [[National Disaster Response Force|O]] moved teams by boat to [[Dhubri|L]] \
and [[Goalpara|L]]. Chief minister [[Anjali Borah|P]] said relief camps were sheltering forty \
thousand people. Forecasters at the [[India Meteorological Department|O]] expect more rain over the \
weekend.""",
  ),
  (
    'doc-025',
    """\
[[Camille Dubois|P]], a violinist from [[Lyon|L]], won first prize at the international music \
competition in [[Brussels|L]] on Saturday. She studied at the [[Paris Conservatoire|O]] and now plays \
with the [[Lyon National Orchestra|O]]. The jury, chaired by conductor [[Matthias Keller|P]], praised \
her performance of a Finnish violin concerto. The prize includes a recording contract with [[Aurora \
Classics|O]].""",
  ),
  (
    'doc-026',
    """\
[[Mexico City|L]] will introduce congestion charges for private cars entering the historic centre \
from March, the city government said. Transport secretary [[Andres Villalobos|P]] said revenue would \
fund new electric buses built by [[Autobuses del Valle|O]]. Business groups, including the \
[[National Chamber of Commerce|O]], warned that shops near the [[Zocalo|L]] could lose customers.""",
  ),
  (
    'doc-027',
    """\
[[Liam O'Connell|P]] founded [[Harbourlight Energy|O]] in [[Cork|L]] in 2009 to build small tidal \
turbines. The company later moved its headquarters to [[Galway|L]] and installed test units in \
[[Strangford Lough|L]] with support from [[Queen's University Belfast|O]]. In 2019 it was acquired by \
the Norwegian group [[Statvik|O]]. [[O'Connell|P]] now advises the [[Sustainable Energy Authority of \
Ireland|O]].""",
  ),
  (
    'doc-028',
    """\
A rare white rhinoceros calf was born at a wildlife reserve near [[Kruger National Park|L]], \
according to conservation charity [[Save the Rhino Trust|O]]. Ranger [[Sipho Khumalo|P]] said the \
calf and its mother were healthy. The reserve works with the [[South African National Parks|O]] \
agency to move animals to safer areas in [[Botswana|L]] and [[Zimbabwe|L]].""",
  ),
  (
    'doc-029',
    """\
[[Anna Kowalska|P]] was elected rector of the [[Jagiellonian University|O]] in [[Krakow|L]], the \
first woman to hold the post. A physicist, she spent a decade at [[CERN|O]] near [[Geneva|L]] before \
returning to [[Poland|L]]. Her predecessor, [[Jan Wozniak|P]], congratulated her and said the \
university would continue its partnership with the [[Max Planck Society|O]].""",
  ),
  (
    'doc-030',
    """\
Airline [[Pacific Crest Airways|O]] will start direct flights between [[Auckland|L]] and \
[[Vancouver|L]] in December, using new long-range aircraft. Chief executive [[Rawiri Parata|P]] said \
demand from tourists and students justified three flights a week. The [[Civil Aviation Authority of \
New Zealand|O]] approved the route last month. Tourism operators in [[Queenstown|L]] and \
[[Rotorua|L]] welcomed the announcement, and [[Air Canada|O]] said it would sell connecting tickets \
to [[Calgary|L]] and [[Edmonton|L]].""",
  ),
]

# --------------------------------------------------------------------------
# Long document: an original "year in review" digest (>= 3,000 words).
# Paragraphs are separated by blank lines.
# --------------------------------------------------------------------------
LONG_INTRO = [
  """\
THE REGIONAL REVIEW: A YEAR OF RIVERS, RAILWAYS AND RESEARCH

This digest collects the stories our correspondents filed over the past twelve months. It was \
edited by [[Miriam Achterberg|P]] in [[Utrecht|L]] with help from [[Kwame Asante|P]] in [[Accra|L]] \
and [[Lucia Fernandez|P]] in [[Valencia|L]]. Where a story has developed since it first appeared, a \
short update follows the original report.""",
]

LONG_EXTRA = [
  """\
Update on the river story. Since the spring, engineers from [[Rijkswaterstaat|O]] have measured \
silt levels at twelve points between [[Dordrecht|L]] and the sea. Their report, presented by \
[[Joost Verhagen|P]], found that the channels refill faster than expected after storms. The \
[[Port of Antwerp|O]] has asked to see the data, because ships bound for [[Belgium|L]] use the \
same approaches.""",
  """\
Update on the payments story. [[Kudi Systems|O]] has since hired [[Chiamaka Eze|P]] from \
[[Flutterwave|O]] to run its compliance team, and regulators at the [[Central Bank of Kenya|O]] \
granted the company a licence in October. The office in [[Nairobi|L]] now employs sixty people, \
and a second office is planned in [[Kampala|L]].""",
  """\
Update on the drought. Autumn rain in [[Bavaria|L]] and [[Austria|L]] lifted the [[Danube|L]] \
back to normal levels by late October. Barge operator [[Donau Cargo|O]] said it had lost about \
six weeks of trade. Hydrologist [[Petra Novakova|P]] warned that low water would become more \
common, and the [[European Commission|O]] has promised money for studies of river transport in \
[[Bulgaria|L]] and [[Romania|L]].""",
  """\
Update on the satellite. An inquiry led by [[Helga Brandt|P]] of the [[German Aerospace \
Center|O]] concluded that the fault was caused by a timing error in an update prepared in \
[[Toulouse|L]]. [[Orbital Dynamics|O]] has changed its testing procedures, and the [[European Space \
Agency|O]] says no data were permanently lost.""",
  """\
Update on the coffee agreement. The first containers from [[Cerro Verde Coffee|O]] arrived in \
[[Montreal|L]] in September. [[Maple Ridge Roasters|O]] says sales of the new blend have exceeded \
its forecasts, and buyer [[Genevieve Tremblay|P]] travelled to [[Huila|L]] to discuss a second \
harvest. A similar cooperative in [[Nariño|L]] has asked to join the scheme.""",
  """\
Update on the flood. The water in [[Assam|L]] receded in August, but officials estimate that \
crops on eighty thousand hectares were destroyed. The [[World Bank|O]] approved a loan to rebuild \
embankments along the [[Brahmaputra|L]], and engineer [[Rahul Baruah|P]] of [[IIT Guwahati|O]] \
has been asked to review the designs. Villages around [[Dhubri|L]] are still without reliable \
power.""",
  """\
Update on the orchestra. [[Camille Dubois|P]] has recorded her first album for [[Aurora \
Classics|O]], made in a church outside [[Lyon|L]]. She will tour [[Japan|L]] and [[South Korea|L]] \
next year, appearing with the [[Seoul Philharmonic Orchestra|O]] in a programme of French music.""",
  """\
Update on the tidal turbines. [[Harbourlight Energy|O]] has installed its largest turbine so far \
in the [[Shannon Estuary|L]]. Engineers from [[Statvik|O]] flew in from [[Bergen|L]] to supervise, \
and [[Liam O'Connell|P]] said the unit was producing power within a day. The [[Electricity Supply \
Board|O]] will buy the output under a ten-year contract.""",
  """\
Update on the rector. In her first months, [[Anna Kowalska|P]] signed exchange agreements with \
[[Charles University|O]] in [[Prague|L]] and with [[Leiden University|O]]. She also invited \
[[Marek Zielinski|P]], a former student now working at [[Oxford|L]], to lead a new quantum \
computing group in [[Krakow|L]].""",
  """\
Update on the flights. The first [[Pacific Crest Airways|O]] flight from [[Auckland|L]] landed in \
[[Vancouver|L]] on the second of December with every seat sold. Chief executive [[Rawiri \
Parata|P]] was on board, as was the tourism minister of [[New Zealand|L]]. The airline has since \
applied for permission to fly to [[Seattle|L]].""",
  """\
Feature: the bridge builders. Few people outside engineering have heard of [[Bridgeline \
Partners|O]], but the firm has built crossings on four continents. Its chief engineer, [[Ruth \
Adeyemi|P]], trained at [[Imperial College London|O]] and worked on a cable-stayed bridge over the \
[[Parana River|L]] before moving to [[Portland|L]]. She says the hardest part of the new light rail \
crossing is not the river itself but the old industrial soil on the eastern bank, which must be \
cleaned before any piles are driven. The [[Oregon Department of Environmental Quality|O]] is \
overseeing that work.""",
  """\
Feature: a week on the lake. Our reporter spent seven days with fishing families on the \
[[Tonle Sap|L]]. In the floating village of [[Chong Kneas|L]], fisherman [[Vannak Sok|P]] showed \
how the catch has changed: fewer large fish, more small ones, and longer trips to find them. A \
school run by the charity [[Lake Children Fund|O]] teaches in the mornings so that older pupils can \
help their parents in the afternoons. Scientists from [[Royal University of Phnom Penh|O]] visit \
every month to weigh and measure fish at the market in [[Siem Reap|L]].""",
  """\
Feature: the quiet rise of tidal power. Tidal energy has been promised for decades, yet only a \
handful of machines produce electricity today. Researchers at the [[University of Edinburgh|O]] \
argue that costs are now falling quickly. [[Fiona Macleod|P]], who runs a test site in the \
[[Orkney Islands|L]] for the [[European Marine Energy Centre|O]], says turbines built in \
[[Scotland|L]] now last three times longer than the first prototypes. Companies in [[France|L]] and \
[[Canada|L]] are watching closely, and a demonstration project is planned for the [[Bay of \
Fundy|L]].""",
  """\
Feature: inside a seed bank. Near [[Longyearbyen|L]] on the island of [[Spitsbergen|L]], a tunnel \
cut into the mountain holds more than a million packets of seeds. The store is run by the \
[[Norwegian Ministry of Agriculture and Food|O]] together with the [[Crop Trust|O]]. Curator \
[[Solveig Berg|P]] explained that deposits arrive from gene banks in [[Ethiopia|L]], \
[[Syria|L]] and [[Mexico|L]], and that each box stays sealed unless the depositor asks for it back. \
Only once has a withdrawal been made, when researchers in [[Lebanon|L]] needed to rebuild a \
collection.""",
  """\
Feature: the cable thieves. The arrests in [[Toronto|L]] were not isolated. Across [[North \
America|L]], rising copper prices have made rail and telephone cable a target. [[Union Pacific|O]] \
says it lost millions of dollars to theft last year, and the telephone company [[Bell Canada|O]] \
now marks its cable with invisible dye. Criminologist [[Marcus Hale|P]] of [[McGill \
University|O]] says scrap yards in [[Quebec|L]] and [[Ontario|L]] should be required to record the \
identity of every seller.""",
  """\
Feature: learning the violin in a small town. Before [[Camille Dubois|P]] won in [[Brussels|L]], \
she was one of twelve pupils at a music school in [[Villeurbanne|L]] run by her first teacher, \
[[Odile Marchand|P]]. The school survives on a grant from the [[Auvergne-Rhone-Alpes Regional \
Council|O]] and on the fees of parents who can afford them. [[Marchand|P]] says the prize has brought \
new pupils from as far away as [[Grenoble|L]] and [[Geneva|L]], and a piano maker from [[Vienna|L]] \
has offered an instrument for the concert hall.""",
  """\
Feature: a museum of slate. Next to the restored railway in [[Llanberis|L]], a museum tells the \
story of the quarrymen who worked the hills of north [[Wales|L]]. Curator [[Bethan Hughes|P]] says \
that many visitors are descendants of workers who emigrated to [[Pennsylvania|L]] and [[Patagonia|L]] \
when the quarries closed. The museum is supported by [[Cadw|O]], the Welsh heritage service, and by \
a partnership with [[Bangor University|O]], whose students record interviews with former \
workers.""",
  """\
Feature: a new ferry for the islands. The shipyard [[Ferguson Marine|O]] on the [[Clyde|L]] has \
delivered a hybrid ferry to [[Caledonian MacBrayne|O]], which serves the islands off the west \
coast of [[Scotland|L]]. Captain [[Alasdair Munro|P]] took the vessel on its first run from \
[[Oban|L]] to [[Mull|L]] in calm weather. Islanders welcomed the ship but said they would judge it \
by how it copes with winter storms.""",
  """\
A closing note. Our correspondent in [[Santiago|L]], [[Ignacio Morales|P]], retires this month \
after twenty-five years of reporting from [[Chile|L]], [[Bolivia|L]] and [[Peru|L]]. He began his \
career at the newspaper [[El Mercurio|O]] and joined us after a spell at [[Reuters|O]]. We thank him \
for his patience, his maps and his many stories about rivers that flow from the [[Andes|L]] to the \
[[Pacific Ocean|L]].""",
]


def parse_markup(marked: str) -> tuple[str, list[dict]]:
  """Strip ``[[surface|X]]`` markup; return plain text and gold spans.

  Offsets are found by searching for each surface string in the plain text,
  starting at the position where the markup placed it, and asserted.
  """
  plain_parts: list[str] = []
  annotations: list[
    tuple[str, str, int]
  ] = []  # (surface, label, approx position)
  pos = 0
  length = 0
  for m in MARKUP.finditer(marked):
    before = marked[pos : m.start()]
    plain_parts.append(before)
    length += len(before)
    surface, tag = m.group(1), m.group(2)
    annotations.append((surface, LABELS[tag], length))
    plain_parts.append(surface)
    length += len(surface)
    pos = m.end()
  plain_parts.append(marked[pos:])
  text = ''.join(plain_parts)
  assert '[[' not in text and ']]' not in text, 'unparsed markup left in text'

  entities = []
  cursor = 0
  for surface, label, approx in annotations:
    start = text.find(surface, cursor)
    assert start == approx, (surface, start, approx)
    end = start + len(surface)
    assert text[start:end] == surface
    entities.append(
      {'start': start, 'end': end, 'label': label, 'text': surface}
    )
    cursor = end
  return text, entities


def build_long_document() -> str:
  """Join original intro, every short story and the updates into one digest."""
  paragraphs = list(LONG_INTRO)
  for i, (_doc_id, body) in enumerate(DOCS):
    paragraphs.append(body)
    # interleave the updates after the stories they follow up
    if i % 3 == 2 and LONG_EXTRA[i // 3 : i // 3 + 1]:
      paragraphs.append(LONG_EXTRA[i // 3])
  for extra in LONG_EXTRA[len(DOCS) // 3 :]:
    paragraphs.append(extra)
  return '\n\n'.join(paragraphs)


def all_documents() -> list[tuple[str, str, list[dict]]]:
  out = []
  for doc_id, marked in DOCS:
    text, ents = parse_markup(marked)
    out.append((doc_id, text, ents))
  text, ents = parse_markup(build_long_document())
  out.append(('doc-long-001', text, ents))
  return out


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  ap.add_argument(
    '--out',
    default=str(Path(__file__).resolve().parents[1] / 'data' / 'sample'),
  )
  args = ap.parse_args()

  import pyarrow as pa
  import pyarrow.parquet as pq

  out = Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  docs = all_documents()

  for doc_id, text, _ in docs:
    n = len(text.split())
    if doc_id.startswith('doc-long'):
      assert n >= 3000, (doc_id, n)
    else:
      assert 40 <= n <= 250, (doc_id, n)

  ids = [d[0] for d in docs] + ['bad-null', 'bad-empty', 'bad-blank']
  texts = [d[1] for d in docs] + [None, '', '   \n\t  ']
  schema = pa.schema(
    [pa.field('id', pa.string()), pa.field('text', pa.string(), nullable=True)]
  )
  table = pa.Table.from_pydict({'id': ids, 'text': texts}, schema=schema)
  pq.write_table(
    table,
    out / 'documents.parquet',
    compression='zstd',
    use_dictionary=False,
    write_statistics=False,
  )

  with open(out / 'gold.jsonl', 'w', encoding='utf-8', newline='\n') as f:
    for doc_id, _text, ents in docs:
      f.write(
        json.dumps({'id': doc_id, 'entities': ents}, ensure_ascii=False) + '\n'
      )

  n_ents = sum(len(d[2]) for d in docs)
  n_words = {d[0]: len(d[1].split()) for d in docs}
  print(
    f'wrote {len(ids)} rows ({len(docs)} good, 3 bad) and {n_ents} gold entities to {out}'
  )
  print(
    f'short docs: {min(v for k, v in n_words.items() if "long" not in k)}-'
    f'{max(v for k, v in n_words.items() if "long" not in k)} words; '
    f'long doc: {n_words["doc-long-001"]} words'
  )


if __name__ == '__main__':
  main()
