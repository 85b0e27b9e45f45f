"""The demo's cast: story texts and vocabulary, outlets, bylines. Data, not logic.

Every story's articles must match its own query and no other; filler must match none.
``tests/test_demo_cycle.py`` checks both with the real query language.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _v(words: str) -> tuple[str, ...]:
    """Vocabulary written as ``"a | b | c"`` (compact, and stable under the formatter)."""
    return tuple(w.strip() for w in words.split("|"))


@dataclass(frozen=True)
class StoryText:
    """Templates x vocabulary. ``{name}`` picks from ``slots`` or a number (see ``_fill``)."""

    titles: tuple[str, ...]
    summaries: tuple[str, ...]
    slots: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sections: tuple[str, ...] = ("news",)
    late_from: int | None = None  # from this hour on, the late_* templates are used
    late_titles: tuple[str, ...] = ()
    late_summaries: tuple[str, ...] = ()


@dataclass(frozen=True)
class StorySpec:
    slug: str
    title: str
    query: str
    shape: str
    text: StoryText


PORT_STRIKE = StoryText(
    titles=(
        "Port strike halts {cargo} at Porthaven",
        "Dockworkers walk out over {issue}",
        "Port strike: {n} ships wait at anchor off Porthaven",
        "Café owners on Quay Street count the cost of the port strike",
        "Dockworkers' union & employers trade blame over {issue}",
        "Port strike enters day {day} with no deal in sight",
        "{who} urges both sides to end the port strike",
        "Supermarkets warn of {cargo} shortages amid port strike",
        "What the port strike means for {group}",
        'Dockworkers rally at the harbour gates: "We won\'t back down"',
        "Port strike: exporters reroute {cargo} via Rotterdam & Antwerp",
        "Port strike costs Porthaven €{m} million a day, chamber says",
        "Port strike: {group} face {pct}% price rises",
        "Live: port strike – {clock} update",
        "Dockworkers reject {pct}% pay offer",
    ),
    summaries=(
        "Dockworkers at Porthaven harbour downed tools at {clock}, leaving {n} vessels at "
        "anchor and {cargo} stuck on the quays.",
        "The port strike, called by the Harbour & Dock Workers' Union over {issue}, is costing "
        "the regional economy an estimated €{m} million a day.",
        '{who} said the port strike had gone on "long enough" and called for talks to resume.',
        "Hauliers queued for hours as dockworkers kept the container terminal closed.",
        "Café and shop owners near the harbour say trade has halved since dockworkers walked "
        "out over {issue}.",
        "Exporters of {cargo} warn that the port strike is pushing contracts to rival ports.",
    ),
    late_from=30,
    late_titles=(
        "After the port strike: backlog of {k} containers clears slowly",
        "Dockworkers return to work after deal on {issue}",
        "Port strike deal: what dockworkers won – and lost",
        "Port strike over, but {group} still feel the pinch",
        "{who} calls for inquiry into handling of the port strike",
        "Port strike aftermath: {cargo} on the move again",
        "Lessons from the port strike for {group}",
        "Dockworkers' leader: \"We'd do it again\"",
        "Port strike left {k} tonnes of {cargo} to spoil, figures show",
    ),
    late_summaries=(
        "Dockworkers returned to Porthaven harbour after a deal on {issue}, but clearing the "
        "backlog of {k} containers will take weeks.",
        "The port strike is over, yet {group} say prices for {cargo} have not come down.",
        "{who} said the port strike had cost the region €{m} million and must not be repeated.",
    ),
    slots={
        "cargo": _v(
            "fruit imports | container traffic | car exports | grain shipments | "
            "fuel deliveries | timber cargo | fish landings | medical supplies"
        ),
        "issue": _v(
            "pay | shift patterns | automation plans | pension cuts | safety rules | "
            "night-shift bonuses"
        ),
        "who": _v(
            "The mayor | The transport minister | The Chamber of Commerce | "
            "The harbourmaster | Opposition leader Inès Duval | The prime minister"
        ),
        "group": _v("shoppers | exporters | hauliers | fishermen | ferry passengers | small firms"),
    },
    sections=("news", "business"),
)

ELDEN_FLOOD = StoryText(
    titles=(
        "River Elden rises {n} cm at {town} as rain continues",
        "Flood warnings extended along the River Elden to {town}",
        "Elden flooding: {n} streets in {town} told to prepare sandbags",
        "Are the Elden levees ready for a hundred-year flood?",
        "Farmers near {town} fear Elden flooding will ruin winter crops",
        "River Elden: emergency meeting on {town} flood defences",
        "Climate scientists link record River Elden levels to {pct}% wetter autumns",
        "Elden flood barrier at {town} 'years behind schedule', engineers say",
        "Evacuation plans drawn up for {n} households in {town} as the Elden swells",
        "Insurers brace for Elden flood claims worth €{m} million",
        "River Elden: schools in {town} close as water levels climb",
        "Photos: the River Elden bursts its banks at {town}",
        "Why the River Elden keeps flooding – and what could stop it",
        "Elden levee near {town} 'could fail within days'",
        "Volunteers & soldiers fill {k} sandbags along the River Elden",
        "{who}: River Elden could peak at {town} by {weekday}",
    ),
    summaries=(
        "Gauges on the River Elden at {town} rose {n} cm in six hours, and forecasters expect "
        "more rain before the weekend.",
        "The Environment Agency has issued {n} flood warnings along the River Elden, from "
        "{town} down to the estuary.",
        '{who} said the River Elden\'s levees were "being watched around the clock".',
        "Residents of {town} have been told to move valuables upstairs as the River Elden "
        "creeps towards its 1953 high-water mark.",
        "Climate researchers say autumns in the River Elden catchment are {pct}% wetter than "
        "in the 1990s.",
        "Engineers warned that an ageing levee on the River Elden near {town} could be overtopped.",
    ),
    slots={
        "town": _v(
            "Lower Ashby | Millbrook | Saint-Aubin-sur-Elden | Crowford | Wenham Marsh | "
            "Brêche | Oxley Mill | Fenwick"
        ),
        "who": _v(
            "The environment minister | The county's chief fire officer | "
            "Hydrologist Dr Ana Ferreira | The Met Office | Mayor Lucía Ortega"
        ),
        "weekday": _v("Monday | Tuesday | Wednesday | Thursday | Friday | Saturday | Sunday"),
    },
    sections=("news", "environment", "climate"),
)

CITY_BUDGET = StoryText(
    titles=(
        "Council debates {dept} cuts in Porthaven's city budget",
        "City budget: {n} libraries face shorter opening hours",
        "Councillors clash over {dept} spending plan in city budget",
        "City budget gap widens to €{m} million",
        "Council tax rise of {pct}% pencilled into city budget",
        "{k} residents & union members march against the city budget",
        "City budget hearing: {dept} chief defends spending plan",
        "Mayor's office publishes revised city budget: {dept} down {pct}%",
        "Opinion: the city budget forgets {group}",
        "City budget: what the {dept} cuts mean for {group}",
        'Council leader: "No easy choices" on {dept} in this year\'s budget',
        "Youth clubs & day centres fear the city budget axe",
        "City budget vote delayed after {dept} row",
        "Porthaven council borrows €{m} million to balance the budget",
        "Explainer: how Porthaven's city budget pays for {dept}",
        "Café owners on {street} say city budget parking charges will hurt trade",
    ),
    summaries=(
        "Councillors spent {n} hours on the {dept} section of the city budget, with a final "
        "vote due next month.",
        "The draft city budget cuts {dept} spending by {pct}% while raising parking charges.",
        "Opposition councillors say the city budget leaves {group} to pay for years of "
        "overspending.",
        "The council's finance chief said the budget must close a gap of €{m} million "
        "without closing front-line services.",
        "Campaigners handed a petition with {k} signatures against the city budget to the "
        "town hall.",
        "The city budget also sets aside €{m} million for road repairs and bus lanes.",
    ),
    slots={
        "dept": _v(
            "transport | parks | social care | schools | street-lighting | housing | library | "
            "waste collection"
        ),
        "group": _v(
            "pensioners | young families | renters | disabled residents | small businesses | "
            "students"
        ),
        "street": _v("Quay Street | Market Row | Rue Saint-Éloi | Chapel Lane | Harbour Road"),
    },
    sections=("news", "politics", "local"),
)

BANK_BREACH = StoryText(
    titles=(
        "Northmere Bank confirms data breach affecting {k} customers",
        "Hackers leaked Northmere customer records, bank admits",
        "Data breach: what Northmere Bank customers should do now",
        "Northmere Bank shares fall {pct}% after data breach",
        "Regulator opens inquiry into Northmere data breach",
        "Northmere's Zürich unit also hit by hackers",
        "Northmere data breach: {who} demands answers",
        "Customers queue at Northmere branches after leak",
        "Cybersecurity experts: Northmere data breach 'was preventable'",
        "Northmere Bank & its IT supplier blame each other for leak",
        "Northmere data breach: {k} card numbers on sale, researchers say",
        "Live: Northmere Bank data breach – {clock} update",
        "Was your account in the Northmere leak? How to check",
        "Northmere chief executive apologises for data breach",
        "Hackers demand €{m} million from Northmere Bank",
        "Northmere data breach: {n} days before customers were told",
    ),
    summaries=(
        "Northmere Bank said hackers had accessed names, addresses and account numbers of "
        "about {k} customers in a data breach discovered at {clock}.",
        "The data breach at Northmere Bank is the largest at a European lender this year, "
        "according to security researchers.",
        "{who} said Northmere must explain why the data breach went unreported for {n} hours.",
        "Northmere Bank urged customers to watch for phishing emails after records leaked online.",
        "Shares in Northmere fell {pct}% as analysts weighed the cost of the data breach.",
        "Staff at Northmere's branch in Zürich were told to reset passwords after the data breach.",
    ),
    slots={
        "who": _v(
            "The finance minister | Consumer group Fair Money | MP Søren Halvorsen | "
            "The data-protection authority | The bank workers' union"
        ),
    },
    sections=("business", "money", "technology"),
)

FOOTBALL_CLUB = StoryText(
    titles=(
        "Saltmarsh Rovers weigh move to a new stadium",
        "Saltmarsh Rovers fans split over Marsh Lane's future",
        "Rovers' stadium plan goes to planning committee",
        "Saltmarsh Rovers sign {player} on loan",
        "Saltmarsh Rovers draw {draw} at home to {opponent}",
        'Saltmarsh Rovers chairman: "The club can\'t stand still"',
        "Saltmarsh Rovers unveil designs for 8,000-seat stadium",
        "Supporters' trust questions Saltmarsh Rovers' finances",
        "Saltmarsh Rovers: {player} ruled out for {n} days",
    ),
    summaries=(
        "Saltmarsh Rovers say Marsh Lane needs €{m} million of repairs and a new stadium may "
        "be cheaper.",
        "{player} is the third signing of the season for Saltmarsh Rovers, who are chasing "
        "promotion.",
        "Fans of Saltmarsh Rovers packed a meeting at the Anchor & Crown to debate the move.",
        "The Rovers' stadium plan would put 8,000 seats on the old gasworks site by the ring road.",
    ),
    slots={
        "player": _v(
            "Kofi Mensah | Luís Carvalho | Jamie O'Brien | Mattéo Girard | Ryan McAllister | "
            "Bogdan Ilić"
        ),
        "opponent": _v("Ashby United | Crowford Town | Wenham FC | Oxley Athletic"),
        "draw": _v("0-0 | 1-1 | 2-2 | 3-3"),
    },
    sections=("sport", "football"),
)

STORIES = (
    StorySpec(
        "port-strike",
        "Porthaven port strike",
        '"port strike" OR (dockworkers AND (harbour OR terminal))',
        "spike",
        PORT_STRIKE,
    ),
    StorySpec(
        "elden-flood",
        "River Elden flood risk",
        '"River Elden" OR (Elden AND (flood OR flooding OR levee OR levees))',
        "slow_burn",
        ELDEN_FLOOD,
    ),
    StorySpec(
        "city-budget",
        "Porthaven city budget",
        '"city budget" OR (council AND (budget OR "spending plan"))',
        "steady",
        CITY_BUDGET,
    ),
    StorySpec(
        "northmere-breach",
        "Northmere Bank data breach",
        '"data breach" OR (Northmere AND (hackers OR leak OR leaked))',
        "late_breaker",
        BANK_BREACH,
    ),
    StorySpec(
        "saltmarsh-rovers",
        "Saltmarsh Rovers stadium move",
        '"Saltmarsh Rovers" OR (Rovers AND stadium)',
        "noise",
        FOOTBALL_CLUB,
    ),
)

# A story nobody configured (issue 14): its articles reach the store through the feeds like any
# other, match no story's query, and are what the Emerging tab should find. ``query`` is what an
# editor would write for it (the demo's tests check that only its articles match it); it is not
# in STORIES, so the demo never tracks it.
CHIP_BAN = StoryText(
    titles=(
        "Chip export ban: Halvard Semiconductors halts shipments to {market}",
        "Halvard Semiconductors shares slide {pct}% after chip export ban",
        "Chip export ban leaves {n} Porthaven suppliers of Halvard in limbo",
        "What the chip export ban on Halvard means for {group}",
        "Chipmakers scramble as the Halvard export ban takes effect",
        "Halvard Semiconductors warns of {k} job losses over chip export ban",
        "{who} seeks exemptions from the Halvard chip export ban",
        "Chip export ban: Halvard's customers in {market} look elsewhere",
        "Live: Halvard chip export ban – {clock} update",
        "Halvard chip plant idles lines as the export ban bites",
        "Chip export ban: {who} defends the Halvard decision",
        "Inside Halvard Semiconductors on day {day} of the chip export ban",
    ),
    summaries=(
        "Halvard Semiconductors stopped shipping {product} to {market} after the chip export ban "
        "took effect at {clock}.",
        "The chip export ban covers Halvard's {product}; the company says {k} orders are on hold.",
        "{who} said the export ban on Halvard's advanced chips would stay until a review ends.",
        "Suppliers to Halvard's Porthaven chip plant fear the export ban will cost them "
        "€{m} million.",
    ),
    slots={
        "market": _v("Asia | the Gulf | North America | South America | Kestrelia"),
        "group": _v(
            "electronics makers | car factories | phone retailers | Halvard's suppliers | "
            "chip designers"
        ),
        "who": _v(
            "The trade minister | Halvard's chief executive | An industry lobby | "
            "The foreign minister | Opposition leader Inès Duval"
        ),
        "product": _v("memory chips | AI accelerators | power chips | sensor chips"),
    },
    sections=("business", "news"),
)

UNTRACKED = (
    StorySpec(
        "halvard-chip-ban",
        "Halvard chip export ban",
        '"export ban" OR Halvard OR chipmakers',
        "emerging",
        CHIP_BAN,
    ),
)

CITIES = _v("Zürich | Malmö | Lisbon | Kraków | Reykjavík | São Paulo | Montréal | Porto")
# Everything else a newsroom publishes. None of it may match any story's query.
FILLER = (
    StoryText(
        titles=(
            "Weather: {weather} weekend ahead for the {region}",
            "Forecast: {weather} {weekday} with highs of {temp}°C",
        ),
        summaries=(
            "Forecasters expect {weather} conditions across the {region}, with highs of "
            "{temp}°C and a brisk {wind} wind.",
        ),
        slots={
            "weather": _v("bright | blustery | frosty | mild | foggy | showery"),
            "region": _v("west | north coast | uplands | south-east"),
            "weekday": _v("Monday | Tuesday | Wednesday | Thursday | Friday"),
            "wind": _v("northerly | westerly | south-westerly"),
        },
        sections=("weather",),
    ),
    StoryText(
        titles=("{home} beat {away} {win} in the {league}", "{home} & {away} share the points"),
        summaries=(
            "Goals either side of half-time settled it in front of {k} fans.",
            "A late penalty decided a scrappy {league} match on a heavy pitch.",
        ),
        slots={
            "home": _v(
                "Ashby United | Crowford Town | Wenham FC | Oxley Athletic | Fenwick Albion | "
                "Millbrook City"
            ),
            "away": _v(
                "Dunmore FC | Kestrel Park | St Bride's | Harrowgate Town | Lochan Thistle | "
                "FC Vallée"
            ),
            "win": _v("1-0 | 2-0 | 2-1 | 3-1 | 3-2 | 4-0 | 4-2 | 5-1"),
            "league": _v("Westmarch League | County Cup | Coastal Trophy"),
        },
        sections=("sport",),
    ),
    StoryText(
        titles=("Tennis: {tennis} reaches the {round} in {city}",),
        summaries=("{tennis} served {n} aces and next meets the second seed.",),
        slots={
            "tennis": _v("Élise Marchand | Niko Petrović | Hana Sato | Aleksander Berg"),
            "round": _v("quarter-finals | semi-finals | final"),
            "city": CITIES,
        },
        sections=("sport",),
    ),
    StoryText(
        titles=(
            "Théâtre Royal revives {play} for the winter season",
            "Review: {band} & the Westmarch Sinfonia at the Corn Exchange",
            "Books: {novelist}'s new novel is {adj}",
        ),
        summaries=(
            "Critics called it {adj}; the {n}-night run has seats for students & pensioners.",
        ),
        slots={
            "play": _v("'The Seagull' | 'Hedda Gabler' | 'Les Misérables' | 'Cyrano'"),
            "band": _v("The Lanterns | Mirela & the Owls | Kvartett Nord | Dúlamán"),
            "novelist": _v("Ines Calder | Joaquín Vidal | Margit Ólafsdóttir | Ola Mensah"),
            "adj": _v("a triumph | quietly devastating | uneven but brave | a delight"),
        },
        sections=("culture",),
    ),
    StoryText(
        titles=("Recipe: {dish}", "Café culture: the best new coffee spots in {city}"),
        summaries=("Our food writer picks {n} places and one dish worth the trip: {dish}.",),
        slots={
            "dish": _v(
                "crème brûlée with blood orange | smoked mackerel pâté | pear & almond tart | "
                "Zürcher Geschnetzeltes | pão de queijo"
            ),
            "city": CITIES,
        },
        sections=("food",),
    ),
    StoryText(
        titles=("Markets: {index} edges {direction} {pct}% as {sector} stocks {move}",),
        summaries=("The {index} closed {direction} {pct}%, with {sector} shares leading.",),
        slots={
            "index": _v("FTSE 250 | Euro Stoxx 50 | Nikkei | S&P 500"),
            "direction": _v("up | down"),
            "sector": _v("mining | retail | airline | pharma | energy | telecoms"),
            "move": _v("rally | slide | wobble"),
        },
        sections=("markets",),
    ),
    StoryText(
        titles=("Travel: {n} hours in {city}", "Why {city} is the weekend break of the year"),
        summaries=("From the old town to the waterfront: {city} without the crowds.",),
        slots={"city": CITIES},
        sections=("travel",),
    ),
    StoryText(
        titles=("Science: astronomers spot {astro}", "Study finds {finding}"),
        summaries=("Researchers at the University of Westmarch say it needs confirming.",),
        slots={
            "astro": _v(
                "a comet brighter than Venus | water ice on a distant moon | "
                "a pulsar in a tight orbit"
            ),
            "finding": _v(
                "cats prefer classical music | daily walks sharpen memory | bees can count to four"
            ),
        },
        sections=("science",),
    ),
    StoryText(
        titles=("Property: house prices in {place} up {pct}% on the year",),
        summaries=("Estate agents in {place} report {n} viewings per listing.",),
        slots={"place": _v("Lower Ashby | Millbrook | Crowford | Fenwick | Oxley Mill")},
        sections=("property",),
    ),
    StoryText(
        titles=("Obituary: {person}, {role}",),
        summaries=("{person} died at home, surrounded by family.",),
        slots={
            "person": _v("Margaret Ellery | Józef Adamczyk | Dr Amélie Roux | Desmond Achebe"),
            "role": _v("lifeboat volunteer | jazz pianist | headteacher | lighthouse keeper"),
        },
        sections=("obituaries",),
    ),
)


@dataclass(frozen=True)
class OutletProfile:
    slug: str
    name: str
    host: str
    format: str
    kind: str  # wire | national | local | blog | trade
    weight: float  # relative output
    staff: int  # bylines on the outlet's articles
    covers: dict[str, float]  # story slug, or "filler" -> affinity


COVER_CODES = {
    "x": "filler",
    "P": "port-strike",
    "F": "elden-flood",
    "B": "city-budget",
    "N": "northmere-breach",
    "R": "saltmarsh-rovers",
    "C": "halvard-chip-ban",  # UNTRACKED: covered, never configured
}
# slug | name | format | kind | weight | staff | coverage (story code + affinity)
# Bigger outlets (wires, nationals) cover every story; locals, blogs and trade titles a few.
HOSTS = {"pbn-news": "news.pbn.example"}  # else www.<slug>.example, or <slug>.example for blogs
OUTLET_TABLE = """
coastline-press      | Coastline Press       | atom | wire     | 10  | 6 | x1 P1 F1 B1 N1 R.3 C1
meridian-wire        | Meridian Wire         | rss  | wire     | 8   | 5 | x1 P1 F1 B1 N1 C1
agence-nord          | Agence Nord           | atom | wire     | 5   | 4 | x1 P1 F1 N1.5 C1
daily-ledger         | The Daily Ledger      | rss  | national | 7   | 5 | x1 P1 F1 B1 N1 R.3 C1
national-courier     | The National Courier  | atom | national | 7   | 5 | x1 P1 F1 B1 N1 R.3 C1
morning-standard     | Morning Standard      | rss  | national | 6   | 5 | x1 P1 F1 B1 N1
observer-post        | Observer & Post       | atom | national | 5   | 4 | x1 P1 F1 B1 N1 R.3
evening-chronicle    | Evening Chronicle     | rss  | national | 5   | 4 | x1 P1 F1 B1 N1 R.3
weekend-review       | The Weekend Review    | atom | national | 2   | 3 | x.6 P1 F1 N1
pbn-news             | PBN News              | rss  | national | 6   | 5 | x1 P1 F1 B1 N1 R.3 C1
harbour-herald       | Harbour Herald        | rss  | local    | 4   | 3 | x1 P2 F1 B1.5 N.5 R1
porthaven-today      | Porthaven Today       | atom | local    | 4   | 3 | x1 P2 F1 B2 N.5 R1 C.5
elden-valley-gazette | Elden Valley Gazette  | rss  | local    | 3   | 3 | x1 F2.5 B.5 R.5
westmarch-echo       | Westmarch Echo        | atom | local    | 3   | 3 | x1 P1 F1.5 B1 R.5
millbrook-mercury    | Millbrook Mercury     | rss  | local    | 2   | 2 | x1 F2 R.5
crowford-times       | Crowford Times        | atom | local    | 2   | 2 | x1 F2 B.5
ashby-advertiser     | Ashby Advertiser      | rss  | local    | 1.5 | 2 | x1 F1.5 R1
quayside-radio       | Quayside Radio        | atom | local    | 2   | 3 | x1 P2 B1
echo-saint-aubin     | L'Écho de Saint-Aubin | rss  | local    | 1.5 | 2 | x1 F2
wenham-weekly        | Wenham Weekly         | atom | local    | 1   | 2 | x1 F1 B.5
tidewatch            | Tidewatch             | rss  | blog     | 1   | 1 | P3 F2
ledger-lines         | Ledger Lines          | atom | blog     | .8  | 1 | B4
the-cyber-desk       | The Cyber Desk        | rss  | blog     | 1   | 1 | x.1 N5
terrace-talk         | Terrace Talk          | atom | blog     | .6  | 1 | R8
climate-notes        | Climate Notes         | rss  | blog     | .8  | 1 | F5
civic-hacks          | Civic Hacks           | atom | blog     | .5  | 1 | B2 N2
shipping-gazette     | Shipping Gazette      | rss  | trade    | 2   | 2 | x.3 P3
fintech-daily        | Fintech Daily         | atom | trade    | 2   | 2 | x.3 N3 C3
insurance-times      | Insurance Times       | rss  | trade    | 1.5 | 2 | x.2 F1 N1
kultur-und-co        | Kultur & Co           | atom | trade    | 1   | 2 | x1
"""


def parse_outlets(table: str) -> tuple[OutletProfile, ...]:
    profiles = []
    for line in table.strip().splitlines():
        slug, name, fmt, kind, weight, staff, covers = (c.strip() for c in line.split("|"))
        host = HOSTS.get(slug, f"{slug}.example" if kind == "blog" else f"www.{slug}.example")
        affinity = {COVER_CODES[c[0]]: float(c[1:]) for c in covers.split()}
        profiles.append(
            OutletProfile(slug, name, host, fmt, kind, float(weight), int(staff), affinity)
        )
    return tuple(profiles)


OUTLETS = parse_outlets(OUTLET_TABLE)

AUTHORS = _v(
    "Maren Holt | Siobhán O'Neill | Zoë Marchetti | Jörg Lindqvist | Amara Okafor | Tomás Reyes | "
    "Priya Raman | Declan Moore | Hélène Dubois | Kwame Asante | Ingrid Solberg | Matteo Rossi | "
    "Aoife Brennan | Rafael Domínguez | Fatima El Idrissi | Chen Wei | Ruth Abernethy | "
    "Oskar Nyström | Leila Haddad | Tom Pritchard | Nadia Kowalczyk | Ben Okoye | Élodie Martin | "
    "Sam Whitfield | Yusuf Demir | Grace Liang | Callum Fraser | Margarethe Vogel | Dev Patel | "
    "Ana Ferreira | Niamh Gallagher | Lukas Brandt | Sofia Esposito | Hamish Reid | Mei Tanaka | "
    "Olu Adeyemi | Clara Jiménez | Pieter de Vries | Rosa Lindgren | Imran Qureshi | "
    "Bethan Jones | Kasia Nowak | Jean-Luc Moreau | Harriet Cole | Émile Laurent | "
    "Tariq Hussain | Lena Schäfer | Felix Ward"
)
