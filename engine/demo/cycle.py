"""A simulated news cycle, rendered as real RSS 2.0 and Atom 1.0 documents.

Pure: no I/O, no clock (``start`` and ``now`` are arguments), one seeded ``random.Random``.
The same ``(start, hours, seed)`` always gives the same articles, guids and feed bytes.

Each story has an expected hourly mention rate that draws its life cycle (``shape``). The
number of original articles in an hour is Poisson with that rate, and each goes to an outlet
that covers the story, in proportion to the outlet's output. Wire articles are sometimes
re-published by 1-3 other outlets minutes later under the same title (their own guid and URL,
``canonical_url`` pointing at the wire's). Original titles are unique across the cycle, so two
articles share a title only when one is a syndicated copy of the other.

The setting is fictional: the port city of Porthaven on the River Elden, its council, its
bank (Northmere) and its football club (Saltmarsh Rovers). Hosts end in ``.example``.
"""

from __future__ import annotations

import bisect
import html
import math
import random
import re
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import cached_property
from urllib.parse import urlsplit

__all__ = [
    "SHAPES",
    "DemoArticle",
    "DemoOutlet",
    "DemoStory",
    "NewsCycle",
    "generate_cycle",
    "render_feed",
]

SHAPES = ("spike", "slow_burn", "steady", "late_breaker", "noise")
FILLER_RATE = 16.0  # expected filler articles (weather, sport, culture...) per hour, all outlets
SYNDICATION_P = 0.4  # chance that a wire article is re-published by other outlets
_DC = "http://purl.org/dc/elements/1.1/"
_ATOM = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True)
class DemoStory:
    slug: str
    title: str
    query: str
    shape: str  # one of SHAPES


@dataclass(frozen=True)
class DemoOutlet:
    slug: str
    name: str
    host: str
    format: str  # "rss" | "atom"


@dataclass(frozen=True)
class DemoArticle:
    """One article at one outlet. ``summary`` is an HTML fragment, as in an RSS description."""

    outlet: str  # DemoOutlet.slug
    story: str | None  # DemoStory.slug; None for filler that matches no story
    guid: str
    url: str
    title: str
    summary: str
    author: str
    published: datetime  # UTC, whole seconds
    canonical_url: str | None = None  # for a syndicated copy: the wire original's URL


@dataclass(frozen=True)
class NewsCycle:
    start: datetime
    hours: int
    stories: tuple[DemoStory, ...]
    outlets: tuple[DemoOutlet, ...]
    articles: tuple[DemoArticle, ...]  # sorted by published

    @cached_property
    def _by_outlet(self) -> dict[str, tuple[list[datetime], list[DemoArticle]]]:
        index: dict[str, tuple[list[datetime], list[DemoArticle]]] = {
            o.slug: ([], []) for o in self.outlets
        }
        for article in self.articles:
            times, items = index[article.outlet]
            times.append(article.published)
            items.append(article)
        return index

    def outlet(self, slug: str) -> DemoOutlet:
        for outlet in self.outlets:
            if outlet.slug == slug:
                return outlet
        raise KeyError(f"unknown demo outlet {slug!r}; known: {[o.slug for o in self.outlets]}")

    def visible(self, outlet: str, now: datetime, limit: int = 30) -> list[DemoArticle]:
        """The outlet's newest ``limit`` articles published at or before ``now``, newest first.

        What a real feed shows at ``now``: a sliding window, so older articles drop off.
        """
        if outlet not in self._by_outlet:
            raise KeyError(f"unknown demo outlet {outlet!r}; see NewsCycle.outlets")
        times, items = self._by_outlet[outlet]
        end = bisect.bisect_right(times, now)
        return items[max(0, end - limit) : end][::-1]


# --- catalogue --------------------------------------------------------------------------------


def _v(words: str) -> tuple[str, ...]:
    """Vocabulary written as ``"a | b | c"`` (compact, and stable under the formatter)."""
    return tuple(w.strip() for w in words.split("|"))


@dataclass(frozen=True)
class _StoryText:
    """Templates x vocabulary. ``{name}`` picks from ``slots`` or a number (see ``_fill``)."""

    titles: tuple[str, ...]
    summaries: tuple[str, ...]
    slots: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sections: tuple[str, ...] = ("news",)
    late_from: int | None = None  # from this hour on, the late_* templates are used
    late_titles: tuple[str, ...] = ()
    late_summaries: tuple[str, ...] = ()


@dataclass(frozen=True)
class _StorySpec:
    slug: str
    title: str
    query: str
    shape: str
    text: _StoryText


_PORT_STRIKE = _StoryText(
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

_ELDEN_FLOOD = _StoryText(
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

_CITY_BUDGET = _StoryText(
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

_BANK_BREACH = _StoryText(
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

_FOOTBALL_CLUB = _StoryText(
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

_STORIES = (
    _StorySpec(
        "port-strike",
        "Porthaven port strike",
        '"port strike" OR (dockworkers AND (harbour OR terminal))',
        "spike",
        _PORT_STRIKE,
    ),
    _StorySpec(
        "elden-flood",
        "River Elden flood risk",
        '"River Elden" OR (Elden AND (flood OR flooding OR levee OR levees))',
        "slow_burn",
        _ELDEN_FLOOD,
    ),
    _StorySpec(
        "city-budget",
        "Porthaven city budget",
        '"city budget" OR (council AND (budget OR "spending plan"))',
        "steady",
        _CITY_BUDGET,
    ),
    _StorySpec(
        "northmere-breach",
        "Northmere Bank data breach",
        '"data breach" OR (Northmere AND (hackers OR leak OR leaked))',
        "late_breaker",
        _BANK_BREACH,
    ),
    _StorySpec(
        "saltmarsh-rovers",
        "Saltmarsh Rovers stadium move",
        '"Saltmarsh Rovers" OR (Rovers AND stadium)',
        "noise",
        _FOOTBALL_CLUB,
    ),
)

_CITIES = _v("Zürich | Malmö | Lisbon | Kraków | Reykjavík | São Paulo | Montréal | Porto")
# Everything else a newsroom publishes. None of it may match any story's query.
_FILLER = (
    _StoryText(
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
    _StoryText(
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
    _StoryText(
        titles=("Tennis: {tennis} reaches the {round} in {city}",),
        summaries=("{tennis} served {n} aces and next meets the second seed.",),
        slots={
            "tennis": _v("Élise Marchand | Niko Petrović | Hana Sato | Aleksander Berg"),
            "round": _v("quarter-finals | semi-finals | final"),
            "city": _CITIES,
        },
        sections=("sport",),
    ),
    _StoryText(
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
    _StoryText(
        titles=("Recipe: {dish}", "Café culture: the best new coffee spots in {city}"),
        summaries=("Our food writer picks {n} places and one dish worth the trip: {dish}.",),
        slots={
            "dish": _v(
                "crème brûlée with blood orange | smoked mackerel pâté | pear & almond tart | "
                "Zürcher Geschnetzeltes | pão de queijo"
            ),
            "city": _CITIES,
        },
        sections=("food",),
    ),
    _StoryText(
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
    _StoryText(
        titles=("Travel: {n} hours in {city}", "Why {city} is the weekend break of the year"),
        summaries=("From the old town to the waterfront: {city} without the crowds.",),
        slots={"city": _CITIES},
        sections=("travel",),
    ),
    _StoryText(
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
    _StoryText(
        titles=("Property: house prices in {place} up {pct}% on the year",),
        summaries=("Estate agents in {place} report {n} viewings per listing.",),
        slots={"place": _v("Lower Ashby | Millbrook | Crowford | Fenwick | Oxley Mill")},
        sections=("property",),
    ),
    _StoryText(
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
class _OutletProfile:
    slug: str
    name: str
    host: str
    format: str
    kind: str  # wire | national | local | blog | trade
    weight: float  # relative output
    staff: int  # bylines on the outlet's articles
    covers: dict[str, float]  # story slug, or "filler" -> affinity


_COVER_CODES = {
    "x": "filler",
    "P": "port-strike",
    "F": "elden-flood",
    "B": "city-budget",
    "N": "northmere-breach",
    "R": "saltmarsh-rovers",
}
# slug | name | format | kind | weight | staff | coverage (story code + affinity)
# Bigger outlets (wires, nationals) cover every story; locals, blogs and trade titles a few.
_HOSTS = {"pbn-news": "news.pbn.example"}  # else www.<slug>.example, or <slug>.example for blogs
_OUTLET_TABLE = """
coastline-press      | Coastline Press       | atom | wire     | 10  | 6 | x1 P1 F1 B1 N1 R.3
meridian-wire        | Meridian Wire         | rss  | wire     | 8   | 5 | x1 P1 F1 B1 N1
agence-nord          | Agence Nord           | atom | wire     | 5   | 4 | x1 P1 F1 N1.5
daily-ledger         | The Daily Ledger      | rss  | national | 7   | 5 | x1 P1 F1 B1 N1 R.3
national-courier     | The National Courier  | atom | national | 7   | 5 | x1 P1 F1 B1 N1 R.3
morning-standard     | Morning Standard      | rss  | national | 6   | 5 | x1 P1 F1 B1 N1
observer-post        | Observer & Post       | atom | national | 5   | 4 | x1 P1 F1 B1 N1 R.3
evening-chronicle    | Evening Chronicle     | rss  | national | 5   | 4 | x1 P1 F1 B1 N1 R.3
weekend-review       | The Weekend Review    | atom | national | 2   | 3 | x.6 P1 F1 N1
pbn-news             | PBN News              | rss  | national | 6   | 5 | x1 P1 F1 B1 N1 R.3
harbour-herald       | Harbour Herald        | rss  | local    | 4   | 3 | x1 P2 F1 B1.5 N.5 R1
porthaven-today      | Porthaven Today       | atom | local    | 4   | 3 | x1 P2 F1 B2 N.5 R1
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
fintech-daily        | Fintech Daily         | atom | trade    | 2   | 2 | x.3 N3
insurance-times      | Insurance Times       | rss  | trade    | 1.5 | 2 | x.2 F1 N1
kultur-und-co        | Kultur & Co           | atom | trade    | 1   | 2 | x1
"""


def _parse_outlets(table: str) -> tuple[_OutletProfile, ...]:
    profiles = []
    for line in table.strip().splitlines():
        slug, name, fmt, kind, weight, staff, covers = (c.strip() for c in line.split("|"))
        host = _HOSTS.get(slug, f"{slug}.example" if kind == "blog" else f"www.{slug}.example")
        affinity = {_COVER_CODES[c[0]]: float(c[1:]) for c in covers.split()}
        profiles.append(
            _OutletProfile(slug, name, host, fmt, kind, float(weight), int(staff), affinity)
        )
    return tuple(profiles)


_OUTLETS = _parse_outlets(_OUTLET_TABLE)

_AUTHORS = _v(
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


# --- generation -------------------------------------------------------------------------------


def _rate(shape: str, h: float, when: datetime) -> float:
    """Expected original articles per hour, all outlets together, ``h`` hours into the cycle."""
    if shape == "spike":  # port strike: rumours, a burst peaking at hour 10, then decay
        if h < 7:
            return 0.3
        if h < 10:
            return 42.0 * ((h - 7) / 3) ** 2 + 0.3
        return 42.0 * math.exp(-(h - 10) / 7) + 0.8
    if shape == "slow_burn":  # river flood: slow, accelerating
        return 0.6 * math.exp(h / 21)
    if shape == "steady":  # city budget: flat, with the newsroom's daily rhythm
        return 7.5 * _daily(when, 0.6)
    if shape == "late_breaker":  # bank breach: nothing until hour 54, then a sharp rise
        return 0.0 if h < 54 else 3.0 + 2.0 * (h - 54)
    if shape == "filler":
        return FILLER_RATE * _daily(when, 0.5)
    raise ValueError(f"unknown story shape {shape!r}; use one of {SHAPES}")


def _daily(when: datetime, amplitude: float) -> float:
    """A newsroom's day: busiest mid-afternoon (UTC), quietest before dawn. Mean 1."""
    hour = when.hour + when.minute / 60
    return 1.0 + amplitude * math.sin(2 * math.pi * (hour - 9) / 24)


def _rates(shape: str, start: datetime, hours: int, rng: random.Random) -> list[float]:
    if shape == "noise":  # a bursty trickle: gamma-mixed Poisson, mean 0.5 an hour
        return [0.5 * rng.gammavariate(0.4, 2.5) for _ in range(hours)]
    return [_rate(shape, h + 0.5, start + timedelta(hours=h, minutes=30)) for h in range(hours)]


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's multiplication method; exact, and quick for the rates used here (< 60)."""
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _fill(template: str, slots: dict[str, tuple[str, ...]], rng: random.Random, day: int) -> str:
    """Fill ``{name}`` placeholders: a slot's vocabulary, or one of the built-in numbers."""

    def pick(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in slots:
            return rng.choice(slots[name])
        if name == "day":
            return str(day)
        if name == "n":
            return str(rng.randint(3, 60))
        if name == "k":
            return f"{rng.randint(2, 95) * 1000:,}"
        if name == "m":
            return str(rng.randint(2, 40))
        if name == "pct":
            return f"{rng.randint(1, 14)}.{rng.randint(0, 9)}"
        if name == "temp":
            return str(rng.randint(-3, 16))
        if name == "clock":
            return f"{rng.randint(5, 22):02d}:{rng.choice(('00', '15', '30', '45'))}"
        raise KeyError(f"demo template {template!r} uses unknown slot {{{name}}}")

    return re.sub(r"\{(\w+)\}", pick, template)


def _write(
    texts: tuple[_StoryText, ...], rng: random.Random, hour: int, seen: set[str]
) -> tuple[str, str, str]:
    """(title, summary HTML, section) for an article at ``hour``; the title is new to the cycle."""
    day = hour // 24 + 1
    for _ in range(200):
        text = rng.choice(texts)
        late = text.late_from is not None and hour >= text.late_from
        title = _fill(rng.choice(text.late_titles if late else text.titles), text.slots, rng, day)
        if title not in seen:
            break
    else:  # vocabulary nearly exhausted: number the edition, as live pages do
        base, edition = title, 2
        while (title := f"{base} – update {edition}") in seen:
            edition += 1
    seen.add(title)
    template = rng.choice(text.late_summaries if late else text.summaries)
    summary = html.escape(_fill(template, text.slots, rng, day), quote=False)
    if rng.random() < 0.15:
        label = rng.choice(("Update:", "Breaking:", "Analysis:", "Exclusive:"))
        summary = f"<b>{label}</b> {summary}"
    return title, summary, rng.choice(text.sections)


def _slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60]


@dataclass
class _Draft:
    outlet: str
    story: str | None
    title: str
    summary: str
    author: str
    published: datetime
    section: str
    original: _Draft | None = None  # set on syndicated copies
    url: str = ""  # assigned once all drafts are in time order


def generate_cycle(start: datetime, hours: int = 72, seed: int = 20261126) -> NewsCycle:
    """Simulate ``hours`` hours of news from ``start`` (timezone-aware), deterministic per seed.

    ``start`` is converted to UTC and truncated to whole seconds.
    """
    if start.tzinfo is None:
        raise ValueError("generate_cycle needs an aware start, e.g. datetime(..., tzinfo=UTC)")
    if hours < 1:
        raise ValueError(f"generate_cycle needs hours >= 1, got {hours}")
    start = start.astimezone(UTC).replace(microsecond=0)
    end = start + timedelta(hours=hours)
    rng = random.Random(seed)
    staff = {p.slug: rng.sample(_AUTHORS, p.staff) for p in _OUTLETS}

    drafts: list[_Draft] = []
    seen_titles: set[str] = set()
    topics: list[tuple[str | None, str, tuple[_StoryText, ...]]] = [
        (s.slug, s.shape, (s.text,)) for s in _STORIES
    ]
    topics.append((None, "filler", _FILLER))
    for story, shape, texts in topics:
        covering = [p for p in _OUTLETS if p.covers.get(story or "filler", 0.0) > 0]
        weights = [p.weight * p.covers[story or "filler"] for p in covering]
        for h, lam in enumerate(_rates(shape, start, hours, rng)):
            for _ in range(_poisson(rng, lam)):
                outlet = rng.choices(covering, weights)[0]
                published = start + timedelta(hours=h, seconds=rng.randrange(3600))
                title, summary, section = _write(texts, rng, h, seen_titles)
                author = rng.choice(staff[outlet.slug])
                draft = _Draft(outlet.slug, story, title, summary, author, published, section)
                drafts.append(draft)
                if outlet.kind == "wire" and rng.random() < SYNDICATION_P:
                    drafts.extend(_syndicate(draft, outlet, covering, rng, end))

    drafts.sort(key=lambda d: (d.published, d.outlet, d.title))
    profiles = {p.slug: p for p in _OUTLETS}
    last_id = {p.slug: rng.randrange(100_000, 9_000_000) for p in _OUTLETS}  # CMS-style ids
    articles = []
    for d in drafts:
        profile = profiles[d.outlet]
        last_id[d.outlet] += rng.randint(1, 37)
        article_id = last_id[d.outlet]
        d.url = (
            f"https://{profile.host}/{d.section}/{d.published:%Y/%m/%d}/"
            f"{_slugify(d.title)}-{article_id}"
        )
        if profile.format == "rss":
            guid = f"https://{profile.host}/?p={article_id}"
        else:
            guid = f"tag:{profile.host},{start:%Y-%m-%d}:article-{article_id}"
        canonical = d.original.url if d.original else None  # originals sort first: url is set
        articles.append(
            DemoArticle(
                d.outlet, d.story, guid, d.url, d.title, d.summary, d.author, d.published, canonical
            )
        )
    stories = tuple(DemoStory(s.slug, s.title, s.query, s.shape) for s in _STORIES)
    outlets = tuple(DemoOutlet(p.slug, p.name, p.host, p.format) for p in _OUTLETS)
    return NewsCycle(start, hours, stories, outlets, tuple(articles))


def _syndicate(
    draft: _Draft,
    wire: _OutletProfile,
    covering: list[_OutletProfile],
    rng: random.Random,
    end: datetime,
) -> list[_Draft]:
    """1-3 papers or stations re-publish a wire article 2-90 minutes later, same title."""
    takers = [p for p in covering if p.kind in ("national", "local", "trade")]
    copies = []
    for taker in rng.sample(takers, min(len(takers), rng.randint(1, 3))):
        published = draft.published + timedelta(minutes=rng.randint(2, 90))
        if published < end:
            summary = f"{draft.summary} ({html.escape(wire.name, quote=False)})"
            copies.append(
                _Draft(
                    taker.slug,
                    draft.story,
                    draft.title,
                    summary,
                    draft.author,
                    published,
                    draft.section,
                    original=draft,
                )
            )
    return copies


# --- rendering --------------------------------------------------------------------------------


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = text
    return element


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rfc822(dt: datetime) -> str:
    return format_datetime(dt.astimezone(UTC), usegmt=True)


def render_feed(cycle: NewsCycle, outlet: DemoOutlet, now: datetime, limit: int = 30) -> bytes:
    """The outlet's feed as it would read at ``now``: its newest ``limit`` articles.

    The bytes depend only on the visible articles (the feed's own dates are the newest
    article's), so a server may cache them per visible set.
    """
    items = cycle.visible(outlet.slug, now, limit)
    updated = items[0].published if items else cycle.start
    if outlet.format == "rss":
        wires = {o.host: o.name for o in cycle.outlets}
        root = _render_rss(outlet, items, updated, wires)
    else:
        root = _render_atom(outlet, items, updated)
    ET.indent(root)
    xml = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    assert isinstance(xml, bytes)  # for the type checker: an encoding other than "unicode"
    return xml


def _render_rss(
    outlet: DemoOutlet, items: list[DemoArticle], updated: datetime, wires: dict[str, str]
) -> ET.Element:
    # Namespace declarations written as plain attributes: no global ET.register_namespace.
    rss = ET.Element("rss", {"version": "2.0", "xmlns:dc": _DC})
    channel = _sub(rss, "channel")
    _sub(channel, "title", outlet.name)
    _sub(channel, "link", f"https://{outlet.host}/")
    _sub(channel, "description", f"The latest from {outlet.name}")
    _sub(channel, "language", "en-gb")
    _sub(channel, "lastBuildDate", _rfc822(updated))
    _sub(channel, "generator", "noisecast demo")
    _sub(channel, "ttl", "60")
    for a in items:
        item = _sub(channel, "item")
        _sub(item, "title", a.title)
        _sub(item, "link", a.url)
        _sub(item, "guid", a.guid, isPermaLink="false")
        _sub(item, "description", a.summary)  # HTML, escaped by ElementTree
        _sub(item, "pubDate", _rfc822(a.published))
        _sub(item, "dc:creator", a.author)
        if a.canonical_url:  # RSS has no canonical link: <source> names the wire and its copy
            wire = wires.get(urlsplit(a.canonical_url).hostname or "", "Wire")
            _sub(item, "source", wire, url=a.canonical_url)
    return rss


def _render_atom(outlet: DemoOutlet, items: list[DemoArticle], updated: datetime) -> ET.Element:
    feed = ET.Element("feed", {"xmlns": _ATOM, "xml:lang": "en-gb"})
    _sub(feed, "title", outlet.name)
    _sub(feed, "id", f"tag:{outlet.host},2026:feed")
    _sub(feed, "updated", _iso(updated))
    _sub(feed, "link", rel="alternate", type="text/html", href=f"https://{outlet.host}/")
    _sub(feed, "generator", "noisecast demo")
    for a in items:
        entry = _sub(feed, "entry")
        _sub(entry, "id", a.guid)
        _sub(entry, "title", a.title, type="text")
        _sub(entry, "link", rel="alternate", type="text/html", href=a.url)
        if a.canonical_url:
            _sub(entry, "link", rel="via", type="text/html", href=a.canonical_url)
        _sub(entry, "published", _iso(a.published))
        _sub(entry, "updated", _iso(a.published))
        author = _sub(entry, "author")
        _sub(author, "name", a.author)
        _sub(entry, "summary", a.summary, type="html")
    return feed
