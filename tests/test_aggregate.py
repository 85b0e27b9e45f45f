"""noisecast.engine.core.aggregate: hourly aggregates per story and collection health. Pure, so no
database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from noisecast.engine.core.aggregate import (
    HOUR_DTYPE,
    KINDS,
    aggregate_hourly,
    collection_health,
    hourly_columns,
    kind_column,
    overdue_sources,
    rows_for_update,
    touched_hours,
    update_hourly,
)
from noisecast.engine.schema import MENTION_COLUMNS

T0 = datetime(2024, 3, 1, 0, tzinfo=UTC)
HOURS = 8
END = T0 + timedelta(hours=HOURS)
STORIES = ("quake", "vote", "strike")


def frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(MENTION_COLUMNS))


def row(
    mention: int,
    *,
    story: str = "quake",
    group: int | None = None,
    kind: str = "rss",
    outlet: str | None = "example.com",
    minutes: int = 0,
    engagement: float = 0,
) -> dict[str, object]:
    return {
        "story": story,
        "mention_id": mention,
        "group_id": mention if group is None else group,
        "kind": kind,
        "outlet": outlet,
        "when": T0 + timedelta(minutes=minutes),
        "engagement": engagement,
    }


def at(hourly: pd.DataFrame, story: str, hour: int) -> pd.Series:
    hit = hourly[(hourly["story"] == story) & (hourly["hour"] == T0 + timedelta(hours=hour))]
    assert len(hit) == 1
    return hit.iloc[0]


# --- examples ----------------------------------------------------------------------------


def test_empty_hours_are_zero_rows_with_stable_dtypes() -> None:
    hourly = aggregate_hourly(frame([]), T0, END, STORIES)
    assert list(hourly.columns) == hourly_columns()
    assert len(hourly) == len(STORIES) * HOURS
    assert (hourly.drop(columns=["story", "hour"]) == 0).all().all()
    assert str(hourly["hour"].dtype) == HOUR_DTYPE
    assert hourly["mentions"].dtype == "int64"
    assert hourly["engagement"].dtype == "float64"
    assert all(hourly[kind_column(k)].dtype == "int64" for k in KINDS)
    busy = aggregate_hourly(frame([row(1)]), T0, END, STORIES)
    assert busy.dtypes.equals(hourly.dtypes)


def test_syndicated_copies_count_once_in_the_first_hour_but_every_outlet_counts() -> None:
    mentions = frame(
        [
            row(1, group=1, outlet="ap.org", minutes=10),
            row(2, group=1, kind="atom", outlet="nyt.com", minutes=20),
            row(3, group=1, outlet="bbc.co.uk", minutes=70),  # a later hour: no new mention
            row(4, kind="reddit", outlet="r/worldnews", minutes=75, engagement=42),
        ]
    )
    hourly = aggregate_hourly(mentions, T0, END, STORIES)
    first, second = at(hourly, "quake", 0), at(hourly, "quake", 1)
    assert (first["mentions"], first["outlets"], first["mentions_rss"]) == (1, 2, 1)
    assert first["mentions_atom"] == 0  # the group's kind is its first row's
    assert (second["mentions"], second["outlets"], second["engagement"]) == (1, 2, 42.0)
    assert second["mentions_reddit"] == 1
    assert at(hourly, "vote", 0)["mentions"] == 0


def test_an_earlier_copy_moves_the_group_and_touches_both_hours() -> None:
    old = frame([row(1, group=1, minutes=130)])
    new = frame([row(2, group=1, minutes=30)])
    touched = touched_hours(new, old)
    assert list(touched["hour"]) == [T0, T0 + timedelta(hours=2)]
    hourly = aggregate_hourly(old, T0, END, STORIES)
    both = pd.concat([old, new], ignore_index=True)
    updated = update_hourly(hourly, rows_for_update(both, touched), touched)
    assert at(updated, "quake", 0)["mentions"] == 1
    assert at(updated, "quake", 2)["mentions"] == 0
    assert_frame_equal(updated, aggregate_hourly(both, T0, END, STORIES), check_exact=True)


def test_groups_are_per_story_and_rows_before_the_range_place_groups() -> None:
    mentions = frame(
        [
            row(1, group=1, minutes=-30),  # before the range: the group is counted there
            row(2, group=1, minutes=15),
            row(3, group=1, story="vote", minutes=15),  # same group, other story: counts
        ]
    )
    hourly = aggregate_hourly(mentions, T0, END, STORIES)
    assert at(hourly, "quake", 0)["mentions"] == 0
    assert at(hourly, "quake", 0)["outlets"] == 1
    assert at(hourly, "vote", 0)["mentions"] == 1


def test_range_is_floored_to_whole_hours_and_end_is_exclusive() -> None:
    hourly = aggregate_hourly(
        frame([]), T0 + timedelta(minutes=40), T0 + timedelta(hours=3, minutes=5), ["quake"]
    )
    assert list(hourly["hour"]) == [T0 + timedelta(hours=h) for h in range(3)]


def test_other_time_zones_are_converted_and_naive_times_refused() -> None:
    eastern = timezone(timedelta(hours=-5))
    mentions = frame([row(1)])
    mentions["when"] = [datetime(2024, 2, 29, 19, 30, tzinfo=eastern)]  # 00:30 UTC
    assert at(aggregate_hourly(mentions, T0, END, STORIES), "quake", 0)["mentions"] == 1
    mentions["when"] = [datetime(2024, 3, 1, 0, 30)]
    with pytest.raises(ValueError, match=r"'when'.*naive"):
        aggregate_hourly(mentions, T0, END, STORIES)
    with pytest.raises(ValueError, match="start"):
        aggregate_hourly(frame([]), datetime(2024, 3, 1), END, STORIES)


def test_missing_columns_and_unknown_kinds_are_named() -> None:
    with pytest.raises(ValueError, match=r"missing column.*outlet"):
        aggregate_hourly(frame([row(1)]).drop(columns=["outlet"]), T0, END, STORIES)
    with pytest.raises(ValueError, match=r"unknown kind.*'gopher'"):
        aggregate_hourly(frame([row(1, kind="gopher")]), T0, END, STORIES)


def test_removed_match_moves_the_group_to_its_next_copy() -> None:
    rows = frame([row(1, group=1, minutes=10), row(2, group=1, minutes=190)])
    hourly = aggregate_hourly(rows, T0, END, STORIES)
    removed = rows.iloc[[0]]
    after = rows.iloc[[1]]
    touched = touched_hours(removed, after)
    updated = update_hourly(hourly, rows_for_update(after, touched), touched)
    assert at(updated, "quake", 3)["mentions"] == 1
    assert_frame_equal(updated, aggregate_hourly(after, T0, END, STORIES), check_exact=True)


def test_a_mention_whose_time_moved_recomputes_its_old_and_new_hour() -> None:
    before = frame([row(1, minutes=10), row(2, minutes=70)])
    hourly = aggregate_hourly(before, T0, END, STORIES)
    after = frame([row(1, minutes=310), row(2, minutes=70)])  # re-fetched with a new date
    changed = pd.concat([before.iloc[[0]], after.iloc[[0]]])  # its old and its new row
    touched = touched_hours(changed, after)
    assert sorted(touched["hour"]) == [T0, T0 + timedelta(hours=5)]
    updated = update_hourly(hourly, rows_for_update(after, touched), touched)
    assert_frame_equal(updated, aggregate_hourly(after, T0, END, STORIES), check_exact=True)


# --- properties --------------------------------------------------------------------------


@st.composite
def mention_sets(draw: st.DrawFn) -> pd.DataFrame:
    count = draw(st.integers(0, 25))
    rows = []
    for mention in range(1, count + 1):
        rows.append(
            row(
                mention,
                story=draw(st.sampled_from(STORIES)),
                group=draw(st.integers(1, max(1, mention))),  # a small pool of groups
                kind=draw(st.sampled_from(KINDS)),
                outlet=draw(st.sampled_from(["a.com", "b.org", "r/news", None])),
                minutes=draw(st.integers(0, HOURS * 60 - 1)),
                engagement=draw(st.integers(0, 50)),
            )
        )
    return frame(rows)


@settings(max_examples=60, deadline=None)
@given(mention_sets())
def test_total_count_is_kept_and_kinds_sum_to_total(mentions: pd.DataFrame) -> None:
    hourly = aggregate_hourly(mentions, T0, END, STORIES)
    assert hourly["mentions"].sum() == len(mentions[["story", "group_id"]].drop_duplicates())
    by_kind = hourly[[kind_column(k) for k in KINDS]].sum(axis=1)
    assert (by_kind == hourly["mentions"]).all()
    assert hourly["engagement"].sum() == mentions["engagement"].sum()
    assert (hourly["outlets"] <= 3).all()  # at most the 3 non-null outlets drawn
    assert len(hourly) == len(STORIES) * HOURS


@settings(max_examples=60, deadline=None)
@given(mention_sets(), st.data())
def test_incremental_updates_equal_the_full_rebuild(
    mentions: pd.DataFrame, data: st.DataObject
) -> None:
    """Rows arrive in any order, in any batches, and some matches are dropped again."""
    order = data.draw(st.permutations(range(len(mentions))))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=5)))
    batches = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True)]
    stored = frame([])
    hourly = aggregate_hourly(stored, T0, END, STORIES)
    for batch in batches:
        added = mentions.iloc[list(batch)]
        removed = stored.iloc[: data.draw(st.integers(0, min(2, len(stored))))]
        changed = pd.concat([added, removed], ignore_index=True)
        touched = touched_hours(changed, stored)  # the stored rows before the change
        keep = ~stored["mention_id"].isin(removed["mention_id"])
        stored = pd.concat([stored[keep], added], ignore_index=True)
        hourly = update_hourly(hourly, rows_for_update(stored, touched), touched)
    assert_frame_equal(hourly, aggregate_hourly(stored, T0, END, STORIES), check_exact=True)


@settings(max_examples=30, deadline=None)
@given(mention_sets())
def test_row_order_does_not_matter(mentions: pd.DataFrame) -> None:
    shuffled = mentions.iloc[::-1]
    assert_frame_equal(
        aggregate_hourly(mentions, T0, END, STORIES),
        aggregate_hourly(shuffled, T0, END, STORIES),
        check_exact=True,
    )


# --- collection health -------------------------------------------------------------------


def fetches(*rows: tuple[int, int, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"source_id": s, "started_at": T0 + timedelta(minutes=m), "outcome": o}
            for s, m, o in rows
        ],
        columns=["source_id", "started_at", "outcome"],
    )


def dues(*rows: tuple[int, int]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"source_id": s, "due_at": T0 + timedelta(minutes=m)} for s, m in rows],
        columns=["source_id", "due_at"],
    )


def collected(*minutes: int) -> pd.DataFrame:
    return pd.DataFrame(
        [{"mention_id": i, "fetched_at": T0 + timedelta(minutes=m)} for i, m in enumerate(minutes)],
        columns=["mention_id", "fetched_at"],
    )


def test_health_counts_and_flags() -> None:
    health = collection_health(
        fetches(
            (1, 5, "ok"),
            (2, 5, "error"),
            (3, 6, "not_modified"),
            (4, 7, "unchanged"),  # hour 0
            (1, 65, "error"),
            (1, 66, "ok"),
            (2, 65, "disabled"),
            (3, 67, "ok"),  # hour 1
        ),
        dues((5, 10), (1, 1), (6, 130), (7, 140)),  # 5 due, not fetched in hour 0; 6, 7 in hour 2
        collected(1, 2, 59, 61),
        T0,
        T0 + timedelta(hours=4),
        failed_share=0.5,
    )
    assert list(health.columns) == ["hour", "due", "fetched", "failed", "collected", "unhealthy"]
    rows = health.set_index("hour")
    hour = [T0 + timedelta(hours=h) for h in range(4)]
    assert tuple(rows.loc[hour[0], ["due", "fetched", "failed", "collected"]]) == (5, 4, 1, 3)
    assert not rows.loc[hour[0], "unhealthy"]  # 1/4 failed
    assert tuple(rows.loc[hour[1], ["due", "fetched", "failed", "collected"]]) == (3, 3, 2, 1)
    assert rows.loc[hour[1], "unhealthy"]  # 2/3 > 0.5; a source with one failed task fails
    assert tuple(rows.loc[hour[2], ["due", "fetched", "failed"]]) == (2, 0, 0)
    assert rows.loc[hour[2], "unhealthy"]  # due but nothing fetched
    assert not rows.loc[hour[3], "unhealthy"]  # nothing due, nothing fetched: fine
    assert health["unhealthy"].dtype == bool
    assert all(health[c].dtype == "int64" for c in ["due", "fetched", "failed", "collected"])


def test_health_threshold_is_strict() -> None:
    half = fetches((1, 0, "ok"), (2, 0, "error"))
    empty = dues()
    end = T0 + timedelta(hours=1)
    assert not collection_health(half, empty, collected(), T0, end, 0.5)["unhealthy"].iloc[0]
    assert collection_health(half, empty, collected(), T0, end, 0.49)["unhealthy"].iloc[0]
    with pytest.raises(ValueError, match="failed_share"):
        collection_health(half, empty, collected(), T0, end, 1.5)


def test_health_refuses_naive_times() -> None:
    naive = fetches((1, 0, "ok"))
    naive["started_at"] = [datetime(2024, 3, 1)]
    with pytest.raises(ValueError, match="'started_at'"):
        collection_health(naive, dues(), collected(), T0, END, 0.5)


def test_overdue_sources_are_due_every_hour_until_now() -> None:
    sources = pd.DataFrame(
        {
            "source_id": [1, 2, 3],
            "next_due_at": [T0 + timedelta(minutes=50), T0 + timedelta(hours=9), T0],
            "disabled_at": [None, None, T0],
        }
    )
    due = overdue_sources(sources, now=T0 + timedelta(hours=3, minutes=1))
    assert list(due["source_id"]) == [1, 1, 1, 1]
    assert list(due["due_at"]) == [T0 + timedelta(hours=h) for h in range(4)]
    health = collection_health(fetches(), due, collected(), T0, T0 + timedelta(hours=3), 0.5)
    assert health["unhealthy"].all()  # a scheduler that stopped shows up
    assert overdue_sources(sources, now=T0 - timedelta(hours=1)).empty


def test_overdue_sources_list_only_the_hours_asked_for() -> None:
    """A source overdue since year 1 (a hand-edited row) is not listed for every hour since."""
    sources = pd.DataFrame(
        {
            "source_id": [1, 2],
            "next_due_at": [datetime(1, 1, 1, tzinfo=UTC), T0 + timedelta(minutes=30)],
            "disabled_at": [None, None],
        }
    )
    due = overdue_sources(sources, now=T0 + timedelta(hours=2), since=T0)
    assert sorted(zip(due["source_id"], due["due_at"], strict=True)) == [
        (1, T0),
        (1, T0 + timedelta(hours=1)),
        (1, T0 + timedelta(hours=2)),
        (2, T0),
        (2, T0 + timedelta(hours=1)),
        (2, T0 + timedelta(hours=2)),
    ]
