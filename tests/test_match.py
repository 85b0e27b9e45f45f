"""Story queries: parsing, errors, matching, and StoryMatcher against the queries one by one."""

from __future__ import annotations

import random
import re
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noisecast.engine.core.match import (
    Query,
    StoryMatcher,
    check_query,
    fold,
    parse_query,
    tokenize,
)
from noisecast.engine.errors import NoisecastError, QueryError


def matches(query: str, title: str, summary: str = "") -> bool:
    return parse_query(query).matches(title, summary)


# --- folding and tokens -------------------------------------------------------------------------


def test_fold_casefolds_and_strips_accents() -> None:
    assert fold("Zürich Straße CAFÉ Ångström") == "zurich strasse cafe angstrom"
    assert fold("Kyïv") == "kyiv"


def test_tokenize_splits_on_everything_but_letters_and_digits() -> None:
    assert tokenize("AI, said the U.S.-based café at 10:30 (snake_case)") == [
        "ai",
        "said",
        "the",
        "u",
        "s",
        "based",
        "cafe",
        "at",
        "10",
        "30",
        "snake",
        "case",
    ]
    assert tokenize("东京 Москва") == ["东京", "москва"]
    assert tokenize(" ,.- ") == []


# --- matching -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("AI, said the minister", True),
        ("Rules for A.I. systems", False),  # "a" and "i" are two words
        ("She said so", False),
        ("An aide resigned", False),
        ("Why ai?", True),
    ],
)
def test_words_match_whole_tokens(title: str, expected: bool) -> None:
    assert matches("ai", title) is expected


def test_case_and_accents_are_ignored_on_both_sides() -> None:
    assert matches("zurich", "Flooding in Zürich")
    assert matches("ZÜRICH", "flooding in zurich")
    assert matches("strasse", "Sperrung der Straße")
    assert not matches("strasse", "Sperrung der Hauptstraße")  # one word
    assert not matches("zurich", "Zurichsee")


def test_phrase_matches_consecutive_words_only() -> None:
    query = '"climate change"'
    assert matches(query, "Climate change: what next")
    assert matches(query, "climate, change!")  # punctuation between tokens is no gap
    assert not matches(query, "A change in the climate")
    assert not matches(query, "climate policy change")
    assert matches("climate change", "A change in the climate")  # two words, any order


def test_phrase_does_not_run_from_title_into_summary() -> None:
    assert not matches('"climate change"', "Talking climate", "Change is coming")
    assert matches('"climate change"', "Talking", "climate change is coming")


def test_punctuated_word_matches_as_a_phrase() -> None:
    assert matches("covid-19", "COVID 19 cases rise")
    assert matches("10:30", "Trains resume at 10:30")
    assert not matches("10:30", "30 trains at 10")
    assert matches("U.S.", "u.s. troops")


def test_not() -> None:
    query = "ukraine NOT russia"
    assert matches(query, "Ukraine harvest")
    assert not matches(query, "Ukraine and Russia talk")
    assert not matches(query, "Ukraine harvest", "Russia responds")
    assert matches("NOT opinion", "Anything at all")
    assert matches("NOT NOT ukraine", "Ukraine")


def test_implicit_and_between_adjacent_terms() -> None:
    assert matches("ukraine grain", "Grain deal for Ukraine")
    assert not matches("ukraine grain", "Ukraine talks")
    assert matches('ukraine "grain deal"', "Grain deal for Ukraine")


@pytest.mark.parametrize(
    "title",
    ["a", "b", "c", "a b", "b c", "a c", "a b c", "x"],
)
def test_precedence_not_over_and_over_or(title: str) -> None:
    assert matches("a OR b c", title) == matches("a OR (b AND c)", title)
    assert matches("a OR b AND c", title) == matches("a OR (b c)", title)
    assert matches("a b OR c", title) == matches("(a b) OR c", title)
    assert matches("NOT a b", title) == matches("(NOT a) AND b", title)
    assert matches("NOT a OR b", title) == matches("(NOT a) OR b", title)


def test_precedence_changes_results() -> None:
    assert matches("a OR b c", "a")
    assert not matches("(a OR b) c", "a")


def test_lowercase_operators_are_words() -> None:
    assert matches("war and peace", "War and Peace, again")
    assert not matches("war and peace", "War, peace")
    assert not matches("rock or roll", "Rock music")
    assert matches("rock or roll", "Roll or rock?")
    assert matches("not guilty", "Not guilty, says jury")


@pytest.mark.parametrize(
    ("source", "message", "position"),
    [
        ("COP30 or summit", "'or' at 6 is a search word here: did you mean OR?", 6),
        ("strike and port", "'and' at 7 is a search word here: did you mean AND?", 7),
        ("(a Or b) c", "'Or' at 3 is a search word here: did you mean OR?", 3),
        ("cop30 not football", "'not' at 6 is a search word here: did you mean NOT?", 6),
        ("title:and x", "'and' at 6 is a search word here: did you mean AND?", 6),
        ("NOT football", "only NOT at 0: a mention without any of the query's words", 0),
        ("ukraine OR NOT opinion", "only NOT at 11", 11),
        ("NOT (a OR b)", "only NOT at 0", 0),
    ],
)
def test_check_query_refuses_slips_with_the_position(
    source: str, message: str, position: int
) -> None:
    parse_query(source)  # stored queries still compile: collection never stops on them
    with pytest.raises(QueryError) as info:
        check_query(source)
    assert str(info.value).startswith(f"query: {message}")
    assert info.value.position == position


@pytest.mark.parametrize(
    "source",
    ['COP30 "or" summit', '"war and peace"', "cop30 NOT football", "a OR b", "orwell AND andes"],
)
def test_check_query_accepts_quoted_words_and_anchored_nots(source: str) -> None:
    assert check_query(source) == parse_query(source)


def test_prefix() -> None:
    assert matches("climat*", "Climate summit")
    assert matches("climat*", "A climatic shift")
    assert matches("climat*", "Climat")
    assert not matches("climat*", "Acclimatise")
    assert matches("covid-1*", "COVID-19 cases")
    assert matches('"climat*"', "climat")  # inside quotes, * is punctuation
    assert not matches('"climat*"', "climate")


def test_title_field_restricts_the_next_term_or_group() -> None:
    assert matches("title:ukraine", "Ukraine harvest", "nothing")
    assert not matches("title:ukraine", "Harvest", "in Ukraine")
    assert matches("title:(ukraine OR kyiv) grain", "Kyiv update", "grain prices")
    assert not matches("title:(ukraine OR kyiv) grain", "Update", "Kyiv grain prices")
    assert matches('title:"peace talks"', "Peace talks resume")
    assert not matches('title:"peace talks"', "Resumed", "Peace talks")
    assert not matches("title:ukraine grain", "Ukraine", "")  # title: binds to one term
    assert matches("title:ukraine grain", "Ukraine", "grain")
    assert matches("NOT title:opinion ukraine", "Ukraine", "opinion")
    assert not matches("NOT title:opinion ukraine", "Opinion: Ukraine")
    assert matches("Title:ukraine", "Ukraine")
    assert matches("title:(NOT opinion)", "Ukraine", "opinion")
    assert not matches("title:(ukraine NOT opinion)", "Ukraine opinion", "")


def test_terms_are_the_positive_words() -> None:
    query = parse_query('ukraine "peace talks" NOT russia climat* NOT NOT title:kyiv')
    assert query.terms == {"ukraine", "peace", "talks", "climat", "kyiv"}
    assert query.source == 'ukraine "peace talks" NOT russia climat* NOT NOT title:kyiv'


def test_matched_terms_lists_positive_terms_found_sorted() -> None:
    query = parse_query('(ukraine OR kyiv OR "peace talks" OR climat*) NOT russia title:grain')
    assert query.matched_terms("Ukraine", "Grain, Kyiv: climate peace talks; russia") == [
        "climat*",
        "kyiv",
        "peace talks",
        "ukraine",
    ]  # title:grain is not in the title; russia is negative
    assert query.matched_terms("nothing") == []


def test_anchors_are_words_every_match_contains_one_of() -> None:
    assert parse_query("ukraine OR kyiv").anchors == {"ukraine", "kyiv"}
    assert parse_query('and "peace talks"').anchors == {"peace"}
    assert parse_query("climat* NOT cop").anchors == {"climat*"}
    assert parse_query("NOT opinion").anchors is None
    assert parse_query("ukraine OR NOT opinion").anchors is None


def test_query_is_frozen_and_comparable() -> None:
    assert parse_query("a OR b") == parse_query("a OR b")
    assert len({parse_query("a"), parse_query("a")}) == 1


# --- tricky text -------------------------------------------------------------------------------


def test_not_excludes_a_word_anywhere_and_a_title_only_word_in_the_title() -> None:
    query = '(chiquita OR fyffes) NOT title:opinion NOT "share price"'
    assert matches(query, "Chiquita to buy Fyffes")
    assert matches(query, "Chiquita to buy Fyffes", "an opinion piece")
    assert not matches(query, "Opinion: Chiquita and Fyffes")
    assert not matches(query, "Fyffes rallies", "the share price rose")
    assert matches(query, "Fyffes rallies", "the price of a share rose")
    assert matches("ukraine NOT (russia OR putin)", "Ukraine, EU talks")
    assert not matches("ukraine NOT (russia OR putin)", "Ukraine", "Putin speaks")


@pytest.mark.parametrize(
    ("query", "title", "expected"),
    [
        ('"Mt. Gox"', "Mt Gox files for bankruptcy", True),
        ('"Mt Gox"', "Mt. Gox files for bankruptcy", True),
        ("Mt.Gox", "MT. GOX halts withdrawals", True),
        ('"Mt. Gox"', "MtGox halts withdrawals", False),  # one word
        ('"Mt. Gox"', "Mt. Everest: Gox", False),  # not consecutive
        ('"U.S."', "U.S. stocks retreat", True),
        ('"U.S."', "U. S. stocks retreat", True),
        ("U.S.", "US stocks retreat", False),  # "us" is one word, "U.S." two
        ("US", "U.S. stocks retreat", False),
        ('US OR "U.S."', "U.S. stocks retreat", True),
        ('"S&P 500"', "S&P 500 retreats from record", True),
        ('"S&P 500"', "S and P 500", False),
    ],
)
def test_phrases_match_across_punctuation(query: str, title: str, expected: bool) -> None:
    assert matches(query, title) is expected


@pytest.mark.parametrize(
    ("query", "title", "expected"),
    [
        ("москва", "Москва: погода", True),  # Cyrillic, case folded
        ("МОСКВА", "в москве", False),  # whole tokens: no stemming
        ("москв*", "в Москве", True),
        ("елка", "Ёлка на площади", True),  # the diaeresis is an accent
        ("αθηνα", "Αθήνα: ΑΘΗΝΑ", True),  # Greek, accent and case folded
        ("ελλας", "ΕΛΛΑΣ", True),  # final sigma folds like sigma
        ("दिल्ली", "दिल्ली में बारिश", True),  # Devanagari words stay whole
        ("भारत", "भारतीय टीम", False),
        ("东京", "东京 Москва", True),
    ],
)
def test_other_scripts_match_whole_tokens(query: str, title: str, expected: bool) -> None:
    assert matches(query, title) is expected


def test_devanagari_vowel_signs_are_dropped_like_accents() -> None:
    assert tokenize("दिल्ली हिन्दी") == ["दलल", "हनद"]  # one token each, without vowel signs
    assert matches("काम", "कम")  # so "work" matches "less": the price of dropping every mark


@pytest.mark.parametrize(
    ("query", "title", "expected"),
    [
        ('"AT&T"', "AT&amp;T raises prices", True),
        ('"AT&T"', "AT&T raises prices", True),
        ("europe", "Europe&#8217;s banks", True),
        ("europe", "Europe&#x2019;s banks", True),
        ('"zurich airport"', "Z&uuml;rich&nbsp;Airport", True),
        ("amp", "AT&amp;T", False),
        ("amp", "AT&amp T", True),  # a reference needs its ";"
        ('"R&D"', "R&D spending", True),  # a bare & is text
        ('"AT&amp;T"', "AT&T", False),  # queries are not decoded: that is "at amp t"
    ],
)
def test_html_character_references_in_mentions_are_decoded(
    query: str, title: str, expected: bool
) -> None:
    assert matches(query, title) is expected
    assert (StoryMatcher({"s": query}).match("", title) != {}) is expected  # in a summary too


@pytest.mark.parametrize(
    ("query", "title", "expected"),
    [
        ("europe", "Europe's banks", True),  # split at the apostrophe: europe + s
        ("europe", "Europe’s banks", True),
        ("mcdonald's", "McDonald’s sales slip", True),  # the phrase "mcdonald s"
        ("mcdonald's", "McDonalds sales slip", False),
        ('"o\'brien"', "O'Brien resigns", True),
        ("obrien", "O'Brien resigns", False),
        ("don't", "Don’t chase stocks", True),
    ],
)
def test_apostrophes_split_words(query: str, title: str, expected: bool) -> None:
    assert matches(query, title) is expected


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message", "position"),
    [
        ("(climate OR heat)) x", "query: unexpected ')' at 17", 17),
        ("()", "query: unexpected ')' at 1", 1),
        ("war (peace OR talks", "query: unclosed '(' at 4", 4),
        ("((a)", "query: unclosed '(' at 0", 0),
        ("a (", "query: unclosed '(' at 2", 2),
        ('kyiv AND "peace talks', "query: unclosed quote at 9", 9),
        ('"a" "b', "query: unclosed quote at 4", 4),
        ("climate heat AND", "query: expected a term after 'AND' at 13", 13),
        ("a AND )", "query: expected a term after 'AND' at 2", 2),
        ("(a AND) b", "query: expected a term after 'AND' at 3", 3),
        ("ukraine OR", "query: expected a term after 'OR' at 8", 8),
        ("a OR AND b", "query: expected a term after 'OR' at 2", 2),
        ("ukraine NOT", "query: expected a term after 'NOT' at 8", 8),
        ("NOT", "query: expected a term after 'NOT' at 0", 0),
        ("title:", "query: expected a term after 'title:' at 0", 0),
        ("a title:NOT b", "query: expected a term after 'title:' at 2", 2),
        ("", "query: empty query", 0),
        ("   ", "query: empty query", 0),
        ('"" -', "query: empty query", 0),
        ("foo:bar", "query: unknown field 'foo:' at 0", 0),
        ("ukraine source:bbc", "query: unknown field 'source:' at 8", 8),
        ("title:foo:bar", "query: unknown field 'foo:' at 6", 6),
        ("OR ukraine", "query: unexpected 'OR' at 0", 0),
        ("a (AND b)", "query: unexpected 'AND' at 3", 3),
        ("(" * 40 + "a" + ")" * 40, "query: too deeply nested '(' at 32", 32),
    ],
)
def test_bad_query_names_the_problem_and_position(source: str, message: str, position: int) -> None:
    with pytest.raises(QueryError) as info:
        parse_query(source)
    assert str(info.value) == message
    assert info.value.position == position


def test_query_error_is_a_value_error_and_a_noisecast_error() -> None:
    with pytest.raises(QueryError) as info:
        parse_query("a)")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, NoisecastError)


def test_long_and_deep_queries_do_not_exhaust_the_stack() -> None:
    assert matches("NOT " * 5001 + "a", "b")
    assert matches("title:" * 5000 + "a", "a")
    assert matches(" OR ".join(f"w{i}" for i in range(5000)), "w4999")
    assert matches("(" * 32 + "a" + ")" * 32, "a")


# --- StoryMatcher -------------------------------------------------------------------------------


def test_story_matcher_returns_matching_stories_with_their_terms() -> None:
    matcher = StoryMatcher(
        {
            "ukraine": "ukraine OR kyiv",
            "climate": parse_query("climat* NOT sport"),
            "not-opinion": "NOT title:opinion",
            "talks": '"peace talks" title:ukraine',
        }
    )
    assert matcher.match("Ukraine peace talks resume", "in Kyiv") == {
        "ukraine": ["kyiv", "ukraine"],
        "not-opinion": [],
        "talks": ["peace talks", "ukraine"],
    }
    assert list(matcher.match("Opinion: climate", "Kyiv")) == ["ukraine", "climate"]
    assert matcher.match("Opinion: sport") == {}


def test_story_matcher_names_the_story_with_a_bad_query() -> None:
    with pytest.raises(QueryError) as info:
        StoryMatcher({"ok": "a", "broken": "ukraine OR"})
    assert str(info.value) == "story 'broken': query: expected a term after 'OR' at 8"
    assert info.value.position == 8


# --- properties ---------------------------------------------------------------------------------

WORDS = ["ai", "said", "climate", "change", "zurich", "kyiv", "and", "war"]
STEMS = ["clim", "sa", "ch", "a"]
TEXT_WORDS = [*WORDS, "the", "aide", "chairs", "climatic"]
SURFACE = {
    "ai": ["ai", "AI", "Ai"],
    "said": ["said", "SAID", "Saïd"],
    "climate": ["climate", "Climate", "CLIMATÉ"],
    "change": ["change", "Change", "chänge"],
    "zurich": ["zurich", "Zürich", "ZÜRICH"],
    "kyiv": ["kyiv", "Kyiv", "KYÏV"],
    "and": ["and", "AND", "And"],
    "war": ["war", "War", "wär"],
}
SEPARATORS = [" ", ", ", " - ", "... ", "\n", " — ", ": ", "/", "'"]
ERROR = re.compile(
    r"query: (?:unexpected|expected a term after|unknown field|unclosed|too deeply nested)"
    r" (?:'(?P<token>.+)'|quote) at (?P<pos>\d+)"
)

# A query as a tree: ("word", w), ("prefix", stem), ("phrase", (w1, w2)), ("not", q),
# ("title", q), ("and", (q, ...), explicit), ("or", (q, ...)).
leaves = st.one_of(
    st.sampled_from(WORDS).map(lambda w: ("word", w)),
    st.sampled_from(STEMS).map(lambda s: ("prefix", s)),
    st.tuples(st.sampled_from(WORDS), st.sampled_from(WORDS)).map(lambda p: ("phrase", p)),
)
trees = st.recursive(
    leaves,
    lambda kids: st.one_of(
        st.tuples(st.just("not"), kids),
        st.tuples(st.just("title"), kids),
        st.tuples(st.just("and"), st.lists(kids, min_size=2, max_size=3).map(tuple), st.booleans()),
        st.tuples(st.just("or"), st.lists(kids, min_size=2, max_size=3).map(tuple)),
    ),
    max_leaves=8,
)


def render(tree: Any) -> tuple[str, int]:
    """The query text, with parentheses only where precedence needs them, and its precedence."""

    def wrap(child: Any, least: int) -> str:
        text, precedence = render(child)
        return text if precedence >= least else f"({text})"

    match tree:
        case ("word", word):
            return word, 4
        case ("prefix", stem):
            return f"{stem}*", 4
        case ("phrase", words):
            return '"' + " ".join(words) + '"', 4
        case ("title", child):
            return "title:" + wrap(child, 4), 4
        case ("not", child):
            return "NOT " + wrap(child, 3), 3
        case ("and", children, explicit):
            return (" AND " if explicit else " ").join(wrap(c, 2) for c in children), 2
        case ("or", children):
            return " OR ".join(wrap(c, 1) for c in children), 1
    raise AssertionError(tree)


def reference(tree: Any, title: list[str], summary: list[str], title_only: bool = False) -> bool:
    """A naive evaluation of a query tree over lists of folded words."""
    segments = [title] if title_only else [title, summary]
    match tree:
        case ("word", word):
            return any(word in segment for segment in segments)
        case ("prefix", stem):
            return any(w.startswith(stem) for segment in segments for w in segment)
        case ("phrase", pair):
            return any((s[i], s[i + 1]) == pair for s in segments for i in range(len(s) - 1))
        case ("title", child):
            return reference(child, title, summary, True)
        case ("not", child):
            return not reference(child, title, summary, title_only)
        case ("and", children, _):
            return all(reference(c, title, summary, title_only) for c in children)
        case ("or", children):
            return any(reference(c, title, summary, title_only) for c in children)
    raise AssertionError(tree)


@st.composite
def mentions(draw: st.DrawFn) -> tuple[list[str], list[str], str, str]:
    """Folded title and summary words, and the texts written with varied case and accents."""

    def write(words: list[str]) -> str:
        return "".join(
            draw(st.sampled_from(SURFACE.get(w, [w]))) + draw(st.sampled_from(SEPARATORS))
            for w in words
        )

    title = draw(st.lists(st.sampled_from(TEXT_WORDS), max_size=6))
    summary = draw(st.lists(st.sampled_from(TEXT_WORDS), max_size=8))
    return title, summary, write(title), write(summary)


query_syntax = st.lists(
    st.sampled_from(
        ["(", ")", '"', " ", "AND", "OR", "NOT", "title:", "foo:", "a", "b*", "*", "10:30", "-"]
    )
).map("".join)


@given(st.one_of(st.text(), query_syntax))
def test_parse_query_returns_a_query_or_raises_query_error(source: str) -> None:
    try:
        query = parse_query(source)
    except QueryError as e:
        assert isinstance(e.position, int)
        if str(e) == "query: empty query":
            assert tokenize(source) == []
        else:
            found = ERROR.fullmatch(str(e))
            assert found, str(e)
            assert int(found["pos"]) == e.position
            assert source.startswith(found["token"] or '"', e.position)
    else:
        assert isinstance(query, Query)
        assert query.source == source


@settings(max_examples=500)
@given(trees, mentions())
def test_matches_agrees_with_a_reference_evaluation(tree: Any, mention: Any) -> None:
    title_words, summary_words, title, summary = mention
    source, _ = render(tree)
    assert parse_query(source).matches(title, summary) is reference(
        tree, title_words, summary_words
    )


# Without "&": folding may turn text into an HTML reference, or change one ("&Tab;" is a tab).
no_amp_text = st.text(st.characters(blacklist_characters="&"))


@given(trees, no_amp_text, no_amp_text)
def test_matches_never_raises_and_ignores_folding(tree: Any, title: str, summary: str) -> None:
    query = parse_query(render(tree)[0])
    assert query.matches(title, summary) == query.matches(fold(title), fold(summary))
    assert query.matched_terms(title, summary) == query.matched_terms(fold(title), fold(summary))


@given(trees, mentions(), st.data())
def test_matches_is_invariant_under_case_and_accents(tree: Any, mention: Any, data: Any) -> None:
    def disguise(text: str) -> str:
        variants = st.sampled_from(["", "upper", "\u0301", "\u0308", "\u0327"])
        out = []
        for ch in text:
            how = data.draw(variants) if ch.isalpha() else ""
            out.append(ch.upper() if how == "upper" else ch + how)
        return "".join(out)

    _, _, title, summary = mention
    query = parse_query(render(tree)[0])
    assert query.matches(title, summary) == query.matches(disguise(title), disguise(summary))


@given(trees, mentions())
def test_not_query_is_the_negation(tree: Any, mention: Any) -> None:
    _, _, title, summary = mention
    source, _ = render(tree)
    negated = parse_query(f"NOT ({source})")
    assert negated.matches(title, summary) is not parse_query(source).matches(title, summary)


@given(st.lists(trees, max_size=6), st.lists(mentions(), min_size=1, max_size=5))
def test_story_matcher_agrees_with_each_query(tree_list: list[Any], mention_list: Any) -> None:
    queries = {f"story-{i}": parse_query(render(t)[0]) for i, t in enumerate(tree_list)}
    matcher, forgetful = StoryMatcher(queries), StoryMatcher(queries)
    forgetful._max_plain = 1  # it starts its index over at almost every mention
    for _, _, title, summary in mention_list * 2:
        expected = {
            slug: query.matched_terms(title, summary)
            for slug, query in queries.items()
            if query.matches(title, summary)
        }
        result = matcher.match(title, summary)
        assert result == expected
        assert list(result) == list(expected)
        assert forgetful.match(title, summary) == expected


@given(st.text())
def test_fold_is_idempotent_and_tokens_are_folded(text: str) -> None:
    assert fold(fold(text)) == fold(text)
    assert tokenize(fold(text)) == tokenize(text)


# --- the fast tokenizer, against its definition -------------------------------------------------

WORD = re.compile(r"[^\W_]+")
tricky_text = st.lists(
    st.one_of(
        st.characters(),  # any code point, astral ones included
        st.sampled_from(["\u0301", "\u0308", "\u0345", "\u093f", "\u094d", "\ufe0f"]),  # marks
        st.sampled_from(list("aZ09 _-.,'’“”«»—…\xa0\u2009Ééßẞİıǅﬁ①™Ωω")),
    )
).map("".join)


@settings(max_examples=500)
@given(st.one_of(st.text(), tricky_text))
def test_tokenize_is_the_words_of_the_folded_text(text: str) -> None:
    assert tokenize(text) == WORD.findall(fold(text))


def test_tokenize_is_the_words_of_the_folded_text_for_every_bmp_character() -> None:
    for code in range(0x10000):
        if 0xD800 <= code < 0xE000:
            continue  # surrogates
        text = f"Ab{chr(code)}c d"
        assert tokenize(text) == WORD.findall(fold(text)), hex(code)


def test_folding_works_character_by_character() -> None:
    """tokenize folds each character on its own. That equals folding the text only because
    canonical reordering moves no character but marks (combining class > 0), which fold drops."""
    for code in range(0x110000):
        if unicodedata.combining(chr(code)):
            assert unicodedata.category(chr(code)).startswith("M"), hex(code)


# --- the story index ----------------------------------------------------------------------------


def test_story_matcher_finds_prefixes_of_any_length() -> None:
    matcher = StoryMatcher(
        {
            "one": "c*",
            "two": "ch* NOT chair",
            "four": "clim* warming",
            "long": "climatolog*",
            "word": "climate OR title:clim*",
            "phrase": "climate-chan*",  # a phrase, the last word a prefix
        }
    )
    assert list(matcher.match("Climate change")) == ["one", "two", "word", "phrase"]
    assert list(matcher.match("A chair", "warming climatology")) == ["one", "four", "long"]
    assert list(matcher.match("Climatologists", "warming")) == ["one", "four", "long", "word"]
    assert matcher.match("Nothing here") == {}


def test_story_matcher_can_be_shared_between_threads() -> None:
    queries = {f"s{i}": f"{w}* OR word{i}" for i, w in enumerate(["ab", "abc", "b", "cd", "x"])}
    expected_of = {slug: parse_query(q) for slug, q in queries.items()}
    rng = random.Random(7)
    stems = ["ab", "abcd", "bcd", "cdx", "xy", "word", "zz"]
    mentions = [
        " ".join(f"{rng.choice(stems)}{rng.randrange(300)}" for _ in range(5)) for _ in range(400)
    ]
    matcher = StoryMatcher(queries)
    matcher._max_plain = 50  # starting over, now and then, while other threads look up

    def run(part: list[str]) -> list[bool]:
        return [
            list(matcher.match(title)) == [s for s, q in expected_of.items() if q.matches(title)]
            for title in part
        ]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, [mentions[i::4] for i in range(4)]))
    assert all(ok for part in results for ok in part)


def test_story_matcher_starts_over_when_it_has_seen_too_many_words() -> None:
    queries = {"climate": "climat*", "cold": "cold* OR frost", "not": "NOT climat*"}
    matcher = StoryMatcher(queries)
    matcher._max_plain = 3
    mentions = ["Climate talks", "Cold snap", "Frosty climates", "a b c d e f", "Coldest climate"]
    for title in mentions * 2:
        expected = [slug for slug, q in queries.items() if parse_query(q).matches(title)]
        assert list(matcher.match(title)) == expected
