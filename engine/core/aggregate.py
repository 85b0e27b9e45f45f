"""Hourly aggregates per story and collection health per hour. Pure: no I/O, no clock.

**Hours.** ``hour`` is the start of a whole UTC hour. A range ``[start, end)`` covers the hours
``h`` with ``floor(start) <= h < floor(end)``, so ``end=now`` gives completed hours only.

**Counting a syndicated group once.** Per story, a group (rows sharing ``group_id``; a row
without one is its own group) counts one mention, in the hour of its *first* row for that
story: earliest ``when``, ties broken by the lowest ``mention_id``. Copies published in later
hours add nothing to ``mentions`` there, but they do add their outlet to ``outlets`` and their
engagement to ``engagement`` in their own hour: a wire story carried by five outlets is one
mention and five outlets. A copy that turns up later with an *earlier* ``when`` moves the
group's mention to that earlier hour; :func:`touched_hours` names both hours so an incremental
run recomputes them.

**Split by kind.** The output has one ``mentions_<kind>`` column per kind (:data:`KINDS`,
see :func:`kind_column`), counted on the group's first row, so they always sum to
``mentions``. Wide columns rather than a long ``by_kind`` frame: the set of kinds is closed,
the hourly frame stays one row per (story, hour) with a fixed schema, and an incremental
update replaces one kind of row, not two frames that must be kept in step.

**Context rows.** Because of the first-hour rule, counting the hours of a range needs, for
every (story, group) with a row in the range, the group's earlier rows for that story too.
:func:`aggregate_hourly` and :func:`update_hourly` read rows outside the range (or outside the
touched hours) only to place groups; :func:`rows_for_update` is the selection, executable.

**Incremental update.** ``touched = touched_hours(changed, group_rows)`` then
``update_hourly(hourly, rows_for_update(current_rows, touched), touched)`` gives exactly the
rows of a full :func:`aggregate_hourly` rebuild (``tests/test_aggregate.py`` checks it for
random batchings, additions and removals).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from noisecast.engine.schema import (
    COLLECTED,
    DUE,
    ENGAGEMENT,
    FAILED,
    FETCHED,
    GROUP,
    HEALTH_COLUMNS,
    HOUR,
    HOURLY_COLUMNS,
    KIND,
    MENTION,
    MENTION_COLUMNS,
    MENTIONS,
    OUTLET,
    OUTLETS,
    SOCIAL_KINDS,
    STORY,
    UNHEALTHY,
    WEB_KINDS,
    WHEN,
    require_columns,
)

__all__ = [
    "FAILED_OUTCOMES",
    "HOUR_DTYPE",
    "KINDS",
    "aggregate_hourly",
    "collection_health",
    "hourly_columns",
    "kind_column",
    "overdue_sources",
    "rows_for_update",
    "touched_hours",
    "update_hourly",
]

KINDS: tuple[str, ...] = WEB_KINDS + SOCIAL_KINDS
HOUR_DTYPE = "datetime64[us, UTC]"
FAILED_OUTCOMES = frozenset({"error", "disabled"})  # ``fetches.outcome`` words that are failures

_SOURCE = "source_id"
_STARTED = "started_at"
_OUTCOME = "outcome"
_DUE_AT = "due_at"
_FETCHED_AT = "fetched_at"
_NEXT_DUE = "next_due_at"
_DISABLED = "disabled_at"
_KEY = [STORY, HOUR]


def kind_column(kind: str) -> str:
    """The hourly column counting the mentions of one source kind: ``mentions_<kind>``."""
    return f"{MENTIONS}_{kind}"


def hourly_columns(kinds: Sequence[str] = KINDS) -> list[str]:
    """The columns of an hourly frame, in order."""
    return [*HOURLY_COLUMNS, *(kind_column(k) for k in kinds)]


# --- validation -------------------------------------------------------------------------


def _utc_instant(value: datetime, name: str) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise ValueError(f"{name}: naive datetime {value!r}; pass a timezone-aware UTC time")
    return stamp.tz_convert("UTC")


def _hour_bounds(start: datetime, end: datetime) -> pd.DatetimeIndex:
    first = _utc_instant(start, "start").floor("h")
    stop = _utc_instant(end, "end").floor("h")
    if stop < first:
        raise ValueError(f"end ({end}) is before start ({start})")
    hours = pd.date_range(first, stop, freq="h", inclusive="left")
    return pd.DatetimeIndex(hours.astype(HOUR_DTYPE), name=HOUR)


def _utc_column(frame: pd.DataFrame, column: str, what: str) -> pd.Series:
    """``frame[column]`` as aware UTC datetimes; ValueError naming the column when naive."""
    values = frame[column]
    if len(values) == 0:
        return pd.Series([], index=values.index, dtype=HOUR_DTYPE, name=column)
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        try:
            values = pd.to_datetime(values)
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"{what}: column {column!r} must hold timezone-aware UTC datetimes ({e})"
            ) from e
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        raise ValueError(
            f"{what}: column {column!r} holds naive timestamps; "
            "localize them to UTC (noisecast stores UTC-aware times only)"
        )
    if values.isna().any():
        raise ValueError(f"{what}: column {column!r} has missing timestamps")
    return values.dt.tz_convert("UTC").astype(HOUR_DTYPE)


def _mention_rows(
    mentions: pd.DataFrame, what: str, kinds: Sequence[str], *, unique: bool = True
) -> pd.DataFrame:
    """The mention frame, checked and normalised: UTC ``when``, its ``hour``, a group for
    every row, one row per (story, mention_id) unless ``unique`` is false, sorted (so sums do
    not depend on input order)."""
    require_columns(mentions, MENTION_COLUMNS, what)
    rows = mentions.loc[:, list(MENTION_COLUMNS)].copy()
    rows[WHEN] = _utc_column(rows, WHEN, what)
    unknown = sorted(set(rows[KIND].dropna()) - set(kinds))
    if unknown or rows[KIND].isna().any():
        shown = ", ".join(map(repr, unknown)) if unknown else "missing"
        raise ValueError(
            f"{what}: unknown kind(s) {shown}; expected one of {', '.join(kinds)} "
            "(add a new source kind to noisecast.engine.core.aggregate.KINDS)"
        )
    rows[GROUP] = rows[GROUP].fillna(rows[MENTION])  # an ungrouped mention is its own group
    rows[ENGAGEMENT] = pd.to_numeric(rows[ENGAGEMENT]).fillna(0).astype("float64")
    rows[HOUR] = rows[WHEN].dt.floor("h")
    if unique:
        rows = rows.drop_duplicates([STORY, MENTION], keep="last")
    return rows.sort_values([STORY, WHEN, MENTION], kind="stable").reset_index(drop=True)


def _keys(touched: pd.DataFrame, what: str) -> pd.MultiIndex:
    require_columns(touched, _KEY, what)
    hours = _utc_column(touched, HOUR, what)
    if len(hours) and (hours != hours.dt.floor("h")).any():
        raise ValueError(f"{what}: column 'hour' must hold whole hours")
    keys = pd.MultiIndex.from_arrays([touched[STORY].astype("str"), hours], names=_KEY)
    return keys.unique()


# --- hourly aggregates -------------------------------------------------------------------


def _aggregate(rows: pd.DataFrame, keys: pd.MultiIndex, kinds: Sequence[str]) -> pd.DataFrame:
    """The hourly frame for exactly ``keys`` (story, hour), computed from normalised rows."""
    columns = hourly_columns(kinds)
    if rows.empty:
        counted = pd.DataFrame(index=keys, columns=columns[2:], dtype="int64")
    else:
        firsts = rows.drop_duplicates([STORY, GROUP], keep="first")  # rows are sorted by when, id
        by_kind = pd.crosstab([firsts[STORY], firsts[HOUR]], firsts[KIND])
        by_kind = by_kind.reindex(columns=list(kinds), fill_value=0)
        by_kind.columns = [kind_column(k) for k in kinds]
        per_hour = rows.groupby(_KEY, sort=True).agg(
            **{OUTLETS: (OUTLET, "nunique"), ENGAGEMENT: (ENGAGEMENT, "sum")}
        )
        counted = per_hour.join(by_kind, how="outer")
        counted[MENTIONS] = by_kind.sum(axis=1)
    counted = counted.reindex(keys)
    frame = counted.reset_index()
    for column in columns[2:]:
        if column == ENGAGEMENT:
            frame[column] = frame[column].fillna(0.0).astype("float64")
        else:
            frame[column] = frame[column].fillna(0).astype("int64")
    return _tidy(frame[columns])


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype({STORY: "str", HOUR: HOUR_DTYPE})
    return frame.sort_values(_KEY, kind="stable").reset_index(drop=True)


def aggregate_hourly(
    mentions: pd.DataFrame,
    start: datetime,
    end: datetime,
    stories: Sequence[str],
    *,
    kinds: Sequence[str] = KINDS,
) -> pd.DataFrame:
    """The hourly frame for every story in ``stories`` × every hour of ``[start, end)``.

    ``mentions`` is a mention frame (:data:`noisecast.engine.schema.MENTION_COLUMNS`, one row per
    (story, mention); ``when`` aware). Columns of the result: :func:`hourly_columns`, i.e.
    story, hour, mentions (distinct groups first seen that hour), outlets (distinct non-null
    outlets that hour), engagement (sum), then ``mentions_<kind>``. Hours with nothing are
    rows of zeros; counts are int64, engagement float64, hour ``datetime64[us, UTC]``.

    Rows of other stories are ignored. Rows outside the range only place their groups: for a
    group to be counted in its true first hour, pass its earlier rows too (a full rebuild over
    all history does; otherwise see :func:`rows_for_update`).
    """
    rows = _mention_rows(mentions, "mentions", kinds)
    hours = _hour_bounds(start, end)
    keys = pd.MultiIndex.from_product(
        [pd.Index(list(dict.fromkeys(stories)), dtype="str"), hours], names=_KEY
    )
    return _aggregate(rows, keys, kinds)


def touched_hours(changed: pd.DataFrame, group_rows: pd.DataFrame) -> pd.DataFrame:
    """The (story, hour) keys whose hourly rows a change of mention rows can alter.

    ``changed``: mention rows added, removed (a story match dropped by rematching), or altered
    (engagement grown; for a changed ``when`` pass the old and the new row). ``group_rows``: the
    stored rows, before or after the change, of the same (story, group_id) pairs; rows with the
    (story, mention_id) of a changed row are ignored there, so passing the current rows is fine.

    The keys: every changed row's hour, plus each such group's first hour among its unchanged
    rows — a group's first hour before and after the change is one of these, so its mention
    moves between two named hours. Returns a frame (story, hour), unique and sorted.
    """
    what = "changed"
    moved = _mention_rows(changed, what, _kinds_of(changed), unique=False)  # old and new times
    others = _mention_rows(group_rows, "group_rows", _kinds_of(group_rows))
    pairs = moved[[STORY, GROUP]].drop_duplicates()
    others = others.merge(pairs, on=[STORY, GROUP])
    ids = pd.MultiIndex.from_frame(moved[[STORY, MENTION]])
    unchanged = others[~pd.MultiIndex.from_frame(others[[STORY, MENTION]]).isin(ids)]
    firsts = unchanged.drop_duplicates([STORY, GROUP], keep="first")
    keys = pd.concat([moved[_KEY], firsts[_KEY]], ignore_index=True).drop_duplicates()
    return _tidy(keys)


def _kinds_of(frame: pd.DataFrame) -> list[str]:
    """Kinds play no part in which hours are touched: accept any."""
    return [str(k) for k in frame[KIND].dropna().unique()] if KIND in frame.columns else []


def rows_for_update(mentions: pd.DataFrame, touched: pd.DataFrame) -> pd.DataFrame:
    """The rows :func:`update_hourly` needs, selected from ``mentions`` (current state).

    Every row whose (story, hour of ``when``) is touched, plus every row of the same
    (story, group_id) pairs in any hour (only their earlier rows matter). The store's query
    must return the same set; this function is that query, executable on a frame.
    """
    rows = _mention_rows(mentions, "mentions", _kinds_of(mentions))
    keys = _keys(touched, "touched")
    in_touched = pd.MultiIndex.from_frame(rows[_KEY]).isin(keys)
    pairs = rows.loc[in_touched, [STORY, GROUP]].drop_duplicates()
    needed = rows.merge(pairs, on=[STORY, GROUP])
    return needed.loc[:, list(MENTION_COLUMNS)]


def update_hourly(
    existing: pd.DataFrame,
    mentions: pd.DataFrame,
    touched: pd.DataFrame,
    *,
    kinds: Sequence[str] = KINDS,
) -> pd.DataFrame:
    """``existing`` with the rows of the ``touched`` (story, hour) keys recomputed.

    ``mentions`` must hold every current row of the touched hours and every row of their
    (story, group_id) pairs (:func:`rows_for_update`); other rows are harmless. Touched keys
    missing from ``existing`` are added, so callers pass keys inside their range. The result
    has the layout and order of :func:`aggregate_hourly`.
    """
    columns = hourly_columns(kinds)
    require_columns(existing, columns, "existing hourly frame")
    keys = _keys(touched, "touched")
    rows = _mention_rows(mentions, "mentions", kinds)
    fresh = _aggregate(rows, keys, kinds)
    kept = existing.loc[:, columns].copy()
    kept[HOUR] = _utc_column(kept, HOUR, "existing hourly frame")
    kept = kept.astype({STORY: "str"})
    kept = kept[~pd.MultiIndex.from_frame(kept[_KEY]).isin(keys)]
    if kept.empty:
        return fresh
    if fresh.empty:
        return _tidy(kept.astype(fresh.dtypes.to_dict()))
    merged = pd.concat([kept.astype(fresh.dtypes.to_dict()), fresh], ignore_index=True)
    return _tidy(merged)


# --- collection health -------------------------------------------------------------------


def overdue_sources(
    sources: pd.DataFrame, now: datetime, *, since: datetime | None = None
) -> pd.DataFrame:
    """A ``sources_due`` frame from the ``sources`` table alone: every enabled source whose
    ``next_due_at`` has passed is due in each hour from then (or from ``since``, when that is
    later: a source overdue for years is not listed for every hour of them) until ``now``.

    This sees an outage still going on (nothing fetched, everything overdue). It cannot see
    one that is over: once fetched, a source's ``next_due_at`` moves on and its missed hours
    are forgotten. Columns in: source_id, next_due_at, disabled_at. Out: source_id, due_at.
    """
    require_columns(sources, [_SOURCE, _NEXT_DUE, _DISABLED], "sources")
    at = _utc_instant(now, "now")
    enabled = sources[sources[_DISABLED].isna()]
    due = _utc_column(enabled, _NEXT_DUE, "sources")
    late = enabled.assign(**{_NEXT_DUE: due})[due <= at]
    if late.empty:
        return pd.DataFrame({_SOURCE: pd.Series([], dtype="int64"), _DUE_AT: due.iloc[:0]})
    first = late[_NEXT_DUE].dt.floor("h")
    if since is not None:
        first = first.clip(lower=_utc_instant(since, "since").floor("h"))
    spans = (((at.floor("h") - first) // pd.Timedelta(hours=1)).astype("int64") + 1).clip(lower=0)
    repeated = late.loc[late.index.repeat(spans)]
    offsets = repeated.groupby(level=0).cumcount().to_numpy()
    due_at = first.loc[repeated.index].reset_index(drop=True) + pd.to_timedelta(offsets, unit="h")
    out = pd.DataFrame({_SOURCE: repeated[_SOURCE].to_numpy(), _DUE_AT: due_at})
    return out


def _per_hour(values: pd.Series, hours: pd.Series, index: pd.DatetimeIndex) -> pd.Series:
    counted = values.groupby(hours).nunique() if len(values) else pd.Series(dtype="int64")
    return counted.reindex(index, fill_value=0).astype("int64")


def collection_health(
    fetches: pd.DataFrame,
    sources_due: pd.DataFrame,
    collected: pd.DataFrame,
    start: datetime,
    end: datetime,
    failed_share: float,
) -> pd.DataFrame:
    """Collection health for every hour of ``[start, end)``: due, fetched, failed, collected,
    unhealthy (:data:`noisecast.engine.schema.HEALTH_COLUMNS`).

    - ``fetches`` (source_id, started_at, outcome) — rows of the ``fetches`` table, one per task.
      ``fetched`` = distinct sources with a fetch started that hour; ``failed`` = those of them
      with at least one outcome in :data:`FAILED_OUTCOMES` that hour (the worst task decides,
      as in the decider).
    - ``sources_due`` (source_id, due_at) — moments sources were due. ``due`` = distinct
      sources due that hour *or* fetched that hour (a fetch means it was due). With no due
      history stored, pass :func:`overdue_sources` (or an empty frame: then due == fetched).
    - ``collected`` (mention_id, fetched_at) — stored mentions, matched to a story or not.
      ``collected`` = distinct mentions first fetched that hour.

    ``unhealthy`` when ``failed / fetched > failed_share`` (the config's
    ``scoring.unhealthy_failed_share``), or when nothing was fetched although something was due.
    """
    if not 0 <= failed_share <= 1:
        raise ValueError(f"failed_share must be between 0 and 1, got {failed_share}")
    require_columns(fetches, [_SOURCE, _STARTED, _OUTCOME], "fetches")
    require_columns(sources_due, [_SOURCE, _DUE_AT], "sources_due")
    require_columns(collected, [MENTION, _FETCHED_AT], "collected")
    index = _hour_bounds(start, end)

    fetch_hours = _utc_column(fetches, _STARTED, "fetches").dt.floor("h")
    due_hours = _utc_column(sources_due, _DUE_AT, "sources_due").dt.floor("h")
    collected_hours = _utc_column(collected, _FETCHED_AT, "collected").dt.floor("h")

    failing = fetches[_OUTCOME].isin(FAILED_OUTCOMES).to_numpy()
    attempts = pd.concat(
        [
            pd.DataFrame({HOUR: fetch_hours.to_numpy(), _SOURCE: fetches[_SOURCE].to_numpy()}),
            pd.DataFrame({HOUR: due_hours.to_numpy(), _SOURCE: sources_due[_SOURCE].to_numpy()}),
        ],
        ignore_index=True,
    )
    health = pd.DataFrame(
        {
            DUE: _per_hour(attempts[_SOURCE], attempts[HOUR], index),
            FETCHED: _per_hour(fetches[_SOURCE], fetch_hours, index),
            FAILED: _per_hour(fetches[_SOURCE][failing], fetch_hours[failing], index),
            COLLECTED: _per_hour(collected[MENTION], collected_hours, index),
        },
        index=index,
    )
    fetched = health[FETCHED]
    share = health[FAILED] / fetched.where(fetched > 0)
    health[UNHEALTHY] = (share > failed_share).fillna(False).astype(bool) | (
        (fetched == 0) & (health[DUE] > 0)
    )
    return health.reset_index()[list(HEALTH_COLUMNS)]
