"""The Timeline's rules (engine/core/timeline.py): examples of each entry's words, and
hypothesis properties (first seen is stable under later mentions, level entries agree with the
scores, the peak is the maximum, row order never matters, odd frames never raise)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from noisecast.engine.config import OutletSettings, Settings, TimelineSettings
from noisecast.engine.core.review import ReviewInputError
from noisecast.engine.core.timeline import (
    LEVEL_KEYS,
    Proposal,
    TimelineParams,
    change_note,
    check_entry,
    conflict_message,
    propose_timeline,
)
from noisecast.engine.schema import LEVELS

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
MENTION_COLUMNS = ["mention_id", "when", "kind", "outlet", "title", "url", "engagement"]
PARAMS = TimelineParams(
    major_outlets={"reuters.com": "Reuters"},
    outlet_names={"reuters.com": "Reuters", "daily-ledger.example": "The Daily Ledger"},
)


def mention(
    i: int,
    minutes: float,
    *,
    kind: str = "rss",
    outlet: str = "www.daily-ledger.example",
    title: str = "Port workers walk out over pay",
    url: str | None = None,
    engagement: float = 0.0,
) -> dict[str, Any]:
    return {
        "mention_id": i,
        "when": T0 + timedelta(minutes=minutes),
        "kind": kind,
        "outlet": outlet,
        "title": title,
        "url": url if url is not None else f"https://{outlet}/story/{i}",
        "engagement": engagement,
    }


def mentions_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=MENTION_COLUMNS)


def level_of(score: float) -> str:
    return LEVELS[sum(score >= t for t in (20, 40, 60, 80))]


def scores_frame(values: list[float], start: datetime = T0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "as_of": [start + timedelta(hours=h) for h in range(len(values))],
            "score": values,
            "level": [level_of(v) for v in values],
        }
    )


NO_SCORES = scores_frame([])


def by_key(proposals: list[Proposal]) -> dict[str, Proposal]:
    keys = [p.key for p in proposals]
    assert len(keys) == len(set(keys)), keys
    return {p.key: p for p in proposals}


# --- the entries, in words -------------------------------------------------------------------


def test_the_breaking_story_reads_first_seen_major_outlet_social_levels_and_peak() -> None:
    rows = [
        mention(1, 12),
        mention(2, 65, outlet="www.reuters.com", title="Port strike spreads to second terminal"),
        *(
            mention(
                10 + i,
                180 + i,
                kind="reddit" if i % 2 else "mastodon",
                outlet="r/news" if i % 2 else "mastodon.social",
                title=f"Strike post {i}",
                engagement=100.0 * i,
            )
            for i in range(5)
        ),
    ]
    scores = scores_frame([10, 45, 71.6, 85.2, 60, 12])
    entries = by_key(propose_timeline(mentions_frame(rows), scores, PARAMS))
    assert list(entries) == [
        "first_seen",
        "first_major",
        "level:Moderate",
        "level:High",
        "social_pickup",
        "level:Very high",
        "peak",
        "quiet",
    ]
    first = entries["first_seen"]
    assert (first.title, first.at) == ("First seen", T0 + timedelta(minutes=12))
    assert first.text == "The Daily Ledger first reported it: “Port workers walk out over pay”."
    assert first.link == "https://www.daily-ledger.example/story/1"
    assert first.evidence["mention_id"] == 1
    major = entries["first_major"]
    assert major.title == "Major outlet report"
    assert major.text == "Reuters publishes a report: “Port strike spreads to second terminal”."
    social = entries["social_pickup"]
    assert social.title == "Picked up on social"
    assert social.text == (
        "Reddit and Mastodon pick up the story with 5 posts in an hour; the top post, "
        "“Strike post 4”, drew 400 reactions."
    )
    assert social.link == "https://mastodon.social/story/14"
    assert social.at == T0 + timedelta(minutes=182)  # the third post reached min_mentions=3
    assert social.evidence["platforms"] == ["Reddit", "Mastodon"]
    high = entries["level:High"]
    assert high.title == "Reached High"
    assert high.text == "The noise level reached High (71) with 2 outlets in 6 hours."
    assert high.at == T0 + timedelta(hours=3)  # the end of the scored hour
    assert high.evidence["hour"] == (T0 + timedelta(hours=2)).isoformat()
    assert entries["peak"].text == (
        "The story was at its loudest so far: 85 (Very high), with 4 outlets in 6 hours."
    )
    assert entries["quiet"].text == (
        "The noise level fell back to Quiet (12), 4 hours after it first reached Moderate."
    )
    for entry in entries.values():
        assert len(entry.title) <= 120 and 0 < len(entry.text) <= 600
        assert entry.text.endswith(".")


def test_a_major_outlet_first_is_named_in_first_seen_without_a_second_entry() -> None:
    rows = [mention(1, 0, outlet="uk.reuters.com"), mention(2, 30, outlet="www.reuters.com")]
    entries = by_key(propose_timeline(mentions_frame(rows), NO_SCORES, PARAMS))
    assert list(entries) == ["first_seen"]
    assert entries["first_seen"].text.startswith("Reuters first reported it")
    assert entries["first_seen"].evidence["major"] is True


def test_a_host_only_matches_itself_and_its_subdomains() -> None:
    rows = [mention(1, 0), mention(2, 5, outlet="notreuters.com"), mention(3, 9, outlet="x.y")]
    entries = by_key(propose_timeline(mentions_frame(rows), NO_SCORES, PARAMS))
    assert "first_major" not in entries


def test_first_seen_on_social_and_unnamed_outlets() -> None:
    reddit = mention(1, 0, kind="reddit", outlet="r/worldnews", title="Ports shut")
    entry = propose_timeline(mentions_frame([reddit]), NO_SCORES, PARAMS)[0]
    assert entry.text == "It was first seen on Reddit, in r/worldnews: “Ports shut”."
    plain = mention(1, 0, outlet="www.harbour-herald.example", title="")
    entry = propose_timeline(mentions_frame([plain]), NO_SCORES, PARAMS)[0]
    assert entry.text == "harbour-herald.example first reported it."


def test_social_pickup_is_relative_to_the_storys_own_baseline() -> None:
    params = TimelineParams(social_min_mentions=3, social_factor=3.0, social_baseline_hours=4)
    # two posts an hour (below 3); then 5 < 3 x 2; then 9 >= 3 x (2 + 2 + 2 + 5) / 4 = 8.25
    rows, i = [], 0
    for h, n in enumerate([2, 2, 2, 2, 5, 9]):
        for k in range(n):
            i += 1
            rows.append(mention(i, 60 * h + k, kind="hackernews", outlet="news.ycombinator.com"))
    entry = by_key(propose_timeline(mentions_frame(rows), NO_SCORES, params))["social_pickup"]
    assert entry.evidence["hour"] == (T0 + timedelta(hours=5)).isoformat()
    assert entry.evidence["threshold"] == 8.25
    assert entry.at == T0 + timedelta(hours=5, minutes=8)  # the ninth post of the hour
    assert entry.text.startswith("Hacker News picks up the story with 9 posts in an hour")
    lower = TimelineParams(social_min_mentions=3, social_factor=2.0, social_baseline_hours=4)
    entry = by_key(propose_timeline(mentions_frame(rows), NO_SCORES, lower))["social_pickup"]
    assert entry.evidence["hour"] == (T0 + timedelta(hours=4)).isoformat()  # 5 >= 2 x 2


def test_social_pickup_waits_for_the_threshold_above_a_busy_baseline() -> None:
    params = TimelineParams(social_min_mentions=3, social_factor=3.0, social_baseline_hours=4)
    rows = [mention(1, 0, kind="reddit", outlet="r/news", title="Early")]
    rows += [mention(2, 1, kind="reddit", outlet="r/news", title="Early too")]
    # hour 1: 2 posts (below 3); hour 3: 2 posts; hour 4: 3 posts >= max(3, 3 x 4/4) -> pickup
    rows += [mention(3 + i, 60 + i, kind="reddit", outlet="r/news") for i in range(2)]
    rows += [mention(10 + i, 240 + i, kind="mastodon", outlet="m.example") for i in range(3)]
    entry = by_key(propose_timeline(mentions_frame(rows), NO_SCORES, params))["social_pickup"]
    assert entry.evidence["hour"] == (T0 + timedelta(hours=4)).isoformat()
    assert entry.evidence["threshold"] == 3.0
    assert entry.text.startswith("Mastodon picks up the story with 3 posts in an hour")
    assert entry.at == T0 + timedelta(minutes=242)


def test_a_jump_gives_every_level_it_passed_at_the_same_hour() -> None:
    entries = by_key(propose_timeline(mentions_frame([]), scores_frame([5, 25, 90]), PARAMS))
    hour = (T0 + timedelta(hours=2)).isoformat()
    assert [entries[k].evidence["hour"] for k in LEVEL_KEYS] == [hour] * 3
    assert entries["level:Moderate"].text == (
        "The noise level went straight to Very high (90), past Moderate."
    )
    assert entries["level:Very high"].text == "The noise level reached Very high (90)."
    assert "quiet" not in entries


def test_quiet_needs_moderate_first_and_a_quiet_story_has_no_peak() -> None:
    assert propose_timeline(mentions_frame([]), scores_frame([0, 10, 0]), PARAMS) == []
    entries = by_key(propose_timeline(mentions_frame([]), scores_frame([0, 30, 10]), PARAMS))
    assert list(entries) == ["peak"]
    assert entries["peak"].text == "The story was at its loudest so far: 30 (Low)."


def test_peak_ties_go_to_the_earliest_hour_and_given_outlets_are_used() -> None:
    scores = scores_frame([50, 70, 70, 40])
    scores["outlets"] = [3, 16, 17, 2]
    peak = by_key(propose_timeline(mentions_frame([]), scores, PARAMS))["peak"]
    assert peak.evidence["hour"] == (T0 + timedelta(hours=1)).isoformat()
    assert (
        peak.text == "The story was at its loudest so far: 70 (High), with 16 outlets in 6 hours."
    )


def test_hostile_feed_text_stays_data_and_long_headlines_are_cut() -> None:
    hostile = "<script>alert(1)</script>\x00\u202e Ports\n\tshut " + "x" * 300
    rows = [mention(1, 0, title=hostile, url="javascript:alert(1)")]
    entry = propose_timeline(mentions_frame(rows), NO_SCORES, PARAMS)[0]
    assert entry.link is None
    assert "<script>alert(1)</script> Ports shut" in entry.text  # escaped by the templates
    assert "\x00" not in entry.text and "\u202e" not in entry.text and "\n" not in entry.text
    headline = entry.text.split("“", 1)[1].split("”", 1)[0]
    assert len(headline) == 160 and headline.endswith("…")


def test_the_evidence_hash_follows_what_the_entry_says() -> None:
    entry = propose_timeline(mentions_frame([mention(1, 0)]), NO_SCORES, PARAMS)[0]
    again = propose_timeline(mentions_frame([mention(1, 0)]), NO_SCORES, PARAMS)[0]
    assert entry.evidence_hash == again.evidence_hash and len(entry.evidence_hash) == 64
    moved = propose_timeline(mentions_frame([mention(1, -5)]), NO_SCORES, PARAMS)[0]
    assert moved.evidence_hash != entry.evidence_hash


def test_params_from_settings() -> None:
    settings = Settings(
        timeline=TimelineSettings(social_min_mentions=5, social_factor=2, social_baseline_hours=12),
        outlets=(
            OutletSettings(host="www.Reuters.com", name="Reuters"),
            OutletSettings(host="local.example", name="", tier="standard"),
        ),
    )
    params = TimelineParams.from_settings(settings)
    assert (params.social_min_mentions, params.social_factor, params.social_baseline_hours) == (
        5,
        2.0,
        12,
    )
    assert params.major_outlets == {"reuters.com": "Reuters"}
    assert params.outlet_names == {"reuters.com": "Reuters", "local.example": "local.example"}


# --- editors' input, notes and conflicts ---------------------------------------------------------


def test_check_entry_trims_and_refuses_what_cannot_be_published() -> None:
    now = T0
    at = T0 - timedelta(hours=1)
    assert check_entry("  Internal memo\n sent ", " A memo  went out. ", "", at, now) == (
        "Internal memo sent",
        "A memo went out.",
        None,
        at,
    )
    assert check_entry("t", "x", " https://e.example/a ", at, now)[2] == "https://e.example/a"
    bad = [
        ("", "x", None, at, "Title"),
        ("t" * 121, "x", None, at, "Title"),
        ("t", " ", None, at, "Text"),
        ("t", "x" * 601, None, at, "Text"),
        ("t", "x", "javascript:alert(1)", at, "Link"),
        ("t", "x", "ftp://e.example/", at, "Link"),
        ("t", "x", None, now + timedelta(minutes=1), "future"),
        ("t", "x", None, at.replace(tzinfo=None), "time zone"),
    ]
    for title, text, link, when, said in bad:
        with pytest.raises(ReviewInputError, match=said):
            check_entry(title, text, link, when, now)


def test_change_note_says_what_moved() -> None:
    before = {"at": T0, "title": "First seen", "text": "a", "link": None, "evidence": {"x": 1}}
    after = {**before, "at": T0 - timedelta(minutes=45), "text": "b"}
    assert change_note(before, after) == (
        "first seen moved earlier: 2026-11-20 08:00 UTC -> 2026-11-20 07:15 UTC; text changed"
    )
    assert change_note(before, {**before, "evidence": {"x": 2}}) == "evidence changed"


def test_conflict_message_names_who_did_what_when() -> None:
    event = {"actor": "alice", "action": "approve", "at": T0}
    said = conflict_message({"version": 3}, event, seen_version=2)
    assert "alice approved it at 2026-11-20 08:00 UTC" in said
    assert "version 3" in said and "version 2" in said and "Nothing was changed" in said
    job = conflict_message(
        {"version": 2}, {"actor": "noisecast", "action": "updated", "at": T0}, seen_version=1
    )
    assert "The hourly update updated its proposal" in job
    assert "does not exist" in conflict_message(None, None, seen_version=1)


# --- properties --------------------------------------------------------------------------------

KIND_CHOICES = ["rss", "atom", "reddit", "hackernews", "mastodon", "", "RSS", "weird"]
OUTLET_CHOICES = ["www.reuters.com", "daily-ledger.example", "r/news", "", "mastodon.social"]


@st.composite
def mention_rows(draw: st.DrawFn, max_size: int = 25) -> list[dict[str, Any]]:
    n = draw(st.integers(0, max_size))
    ids = draw(st.lists(st.integers(1, 10_000), min_size=n, max_size=n, unique=True))
    rows = []
    for i in ids:
        rows.append(
            {
                "mention_id": i,
                "when": T0 + timedelta(minutes=draw(st.integers(0, 60 * 72))),
                "kind": draw(st.sampled_from(KIND_CHOICES)),
                "outlet": draw(st.sampled_from(OUTLET_CHOICES)),
                "title": draw(st.text(max_size=30)),
                "url": draw(st.sampled_from([None, "https://a.example/x", "javascript:x"])),
                "engagement": draw(
                    st.one_of(
                        st.none(),
                        st.floats(allow_nan=True, allow_infinity=True),
                        st.integers(-5, 10**6),
                    )
                ),
            }
        )
    return rows


@st.composite
def score_rows(draw: st.DrawFn) -> pd.DataFrame:
    values = draw(st.lists(st.floats(0, 100, allow_nan=False), max_size=60))
    return scores_frame(values)


def shuffled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    return frame.sample(frac=1, random_state=seed).reset_index(drop=True)


FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(rows=mention_rows(), minutes=st.integers(1, 60 * 200), kind=st.sampled_from(KIND_CHOICES))
def test_a_later_mention_never_changes_first_seen(
    rows: list[dict[str, Any]], minutes: int, kind: str
) -> None:
    before = by_key(propose_timeline(mentions_frame(rows), NO_SCORES, PARAMS)).get("first_seen")
    if before is None:
        return
    later = mention(20_000, 0, kind=kind, title="later")
    later["when"] = before.at + timedelta(minutes=minutes)
    after = by_key(propose_timeline(mentions_frame([*rows, later]), NO_SCORES, PARAMS))
    assert after["first_seen"] == before


@FAST
@given(scores=score_rows())
def test_level_entries_agree_with_the_stored_scores(scores: pd.DataFrame) -> None:
    entries = by_key(propose_timeline(mentions_frame([]), scores, PARAMS))
    ranks = [LEVELS.index(level) for level in scores["level"]]
    for key in LEVEL_KEYS:
        wanted = LEVELS.index(key.split(":", 1)[1])
        first = next((h for h, r in zip(scores["as_of"], ranks, strict=True) if r >= wanted), None)
        if first is None:
            assert key not in entries
        else:
            assert entries[key].evidence["hour"] == first.isoformat()
            assert entries[key].at == first + timedelta(hours=1)
    loud = [h for h, r in zip(scores["as_of"], ranks, strict=True) if r >= 2]
    quiet = [
        h for h, r in zip(scores["as_of"], ranks, strict=True) if r == 0 and loud and h > loud[0]
    ]
    assert ("quiet" in entries) == bool(quiet)
    if quiet:
        assert entries["quiet"].evidence["hour"] == quiet[0].isoformat()


@FAST
@given(scores=score_rows())
def test_the_peak_is_the_loudest_hour(scores: pd.DataFrame) -> None:
    entries = by_key(propose_timeline(mentions_frame([]), scores, PARAMS))
    if scores.empty or level_of(scores["score"].max()) == "Quiet":
        assert "peak" not in entries
        return
    top = scores["score"].max()
    first = scores.loc[scores["score"] == top, "as_of"].min()
    assert math.isclose(entries["peak"].evidence["score"], round(top, 2))
    assert entries["peak"].evidence["hour"] == first.isoformat()


@FAST
@given(rows=mention_rows(), scores=score_rows(), seed=st.integers(0, 2**16))
def test_row_order_never_matters(
    rows: list[dict[str, Any]], scores: pd.DataFrame, seed: int
) -> None:
    frame = mentions_frame(rows)
    params = TimelineParams(
        social_min_mentions=2, social_baseline_hours=3, major_outlets=PARAMS.major_outlets
    )
    expected = propose_timeline(frame, scores, params)
    assert propose_timeline(shuffled(frame, seed), shuffled(scores, seed + 1), params) == expected
    assert [p.evidence_hash for p in expected] == [
        p.evidence_hash for p in propose_timeline(frame, scores, params)
    ]


ODD = st.one_of(
    st.none(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.booleans(),
    st.datetimes(timezones=st.sampled_from([None, UTC])),
    st.just(pd.NaT),
    st.lists(st.integers(), max_size=2),
)


@FAST
@given(data=st.data())
def test_odd_frames_never_raise(data: st.DataObject) -> None:
    columns = data.draw(
        st.lists(
            st.sampled_from([*MENTION_COLUMNS, "as_of", "score", "level", "outlets", "other"]),
            unique=True,
        )
    )
    n = data.draw(st.integers(0, 6))
    frame = pd.DataFrame({c: [data.draw(ODD) for _ in range(n)] for c in columns})
    params = TimelineParams(social_min_mentions=1, major_outlets={"reuters.com": "Reuters"})
    for proposals in (
        propose_timeline(frame, frame, params),
        propose_timeline(pd.DataFrame(), pd.DataFrame(), params),
        propose_timeline(mentions_frame([]), frame, params),
    ):
        for p in proposals:
            assert p.at.tzinfo is not None and p.title and p.text
            assert len(p.evidence_hash) == 64
