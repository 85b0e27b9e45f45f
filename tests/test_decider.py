"""The pure scheduling decisions: failure grades, backoff, Retry-After, adaptive intervals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from noisecast.engine.core.decider import SourceState, decide, failure_grade
from noisecast.feeds.http import FetchResult
from tests.conftest import T0, fast_collector

SETTINGS = fast_collector(
    backoff_base_minutes=30,
    backoff_max_minutes=240,
    retry_after_max_minutes=1440,
    disable_after_failures=3,
    default_interval_minutes=60,
    min_interval_minutes=15,
    max_interval_minutes=720,
)
STATE = SourceState(id=7, name="wire", url="https://wire.example/feed", interval_minutes=60)


def run(result: FetchResult, state: SourceState = STATE, seen: int = 10, new: int = 0, **kw):  # type: ignore[no-untyped-def]
    return decide(
        state,
        result,
        items_seen=seen,
        items_new=new,
        parse_error=kw.get("parse_error"),
        now=T0,
        settings=kw.get("settings", SETTINGS),
    )


def http_error(status: int, retry_after: float | None = None) -> FetchResult:
    return FetchResult(
        url=STATE.url,
        status=status,
        error_kind="http",
        error=f"HTTP {status}",
        retry_after_seconds=retry_after,
    )


def ok(**kw: object) -> FetchResult:
    return FetchResult(url=STATE.url, status=200, content=b"<rss/>", body_hash="h", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("result", "grade"),
    [
        (http_error(404), 0.5),
        (http_error(429), 0.5),
        (http_error(503), 0.5),
        (http_error(403), 1.0),
        (http_error(400), 1.0),
        (FetchResult(url="u", status=None, error_kind="timeout", error="t"), 0.25),
        (FetchResult(url="u", status=None, error_kind="network", error="dns"), 0.25),
        (FetchResult(url="u", status=200, error_kind="too_large", error="big"), 1.0),
        (ok(), 0.0),
    ],
)
def test_failure_grades(result: FetchResult, grade: float) -> None:
    assert failure_grade(result, parse_failed=False) == grade


def test_unparseable_content_is_a_hard_failure() -> None:
    d = run(ok(), seen=0, parse_error="not well-formed")
    assert d.outcome == "error" and d.values["failures"] == 1.0
    assert d.values["last_error"] == "unparseable feed: not well-formed"


def test_malformed_but_readable_is_a_success_with_a_note() -> None:
    d = run(ok(), seen=5, new=5, parse_error="undefined entity")
    assert d.outcome == "ok" and d.values["failures"] == 0.0
    assert d.values["last_error"] == "malformed feed (entries recovered): undefined entity"


def test_backoff_doubles_and_is_capped() -> None:
    settings = fast_collector(
        backoff_base_minutes=30, backoff_max_minutes=240, disable_after_failures=100
    )
    waits = [
        run(
            http_error(503),
            SourceState(id=7, name="w", url="u", interval_minutes=60, consecutive_failures=n),
            settings=settings,
        ).values["next_due_at"]
        - T0
        for n in range(6)
    ]
    assert waits == [timedelta(minutes=m) for m in (30, 60, 120, 240, 240, 240)]


def test_retry_after_is_honoured_and_capped() -> None:
    d = run(http_error(429, retry_after=7200))
    assert d.values["next_due_at"] == T0 + timedelta(hours=2)
    d = run(http_error(429, retry_after=10 * 86400))
    assert d.values["next_due_at"] == T0 + timedelta(days=1)
    d = run(http_error(429, retry_after=5))  # shorter than our backoff: the backoff wins
    assert d.values["next_due_at"] == T0 + timedelta(minutes=30)


def test_disabled_past_the_threshold_with_reason() -> None:
    state = SourceState(id=7, name="w", url="u", interval_minutes=60, failures=2.5)
    d = run(http_error(500), state)
    assert d.outcome == "disabled" and d.values["disabled_at"] == T0
    assert (
        "score 3 >= 3" in d.values["disabled_reason"] and "HTTP 500" in d.values["disabled_reason"]
    )


def test_410_disables_at_once() -> None:
    d = run(FetchResult(url="u", status=410, error_kind="http", error="HTTP 410 Gone"))
    assert d.outcome == "disabled" and "410" in d.values["disabled_reason"]


def test_410_after_a_temporary_redirect_is_soft() -> None:
    gone = FetchResult(
        url="https://elsewhere.example/feed",
        status=410,
        error_kind="http",
        error="HTTP 410 Gone",
        temporary_redirect=True,
    )
    d = run(gone)
    assert d.outcome == "error"
    assert "disabled_at" not in d.values
    assert d.values["failures"] == 0.5
    assert failure_grade(gone, False) == 0.5


def test_success_resets_failures() -> None:
    state = SourceState(
        id=7, name="w", url="u", interval_minutes=60, failures=2, consecutive_failures=4
    )
    d = run(ok(etag='"v2"', last_modified="Tue, 01 Dec 2026 10:00:00 GMT"), state, new=1)
    assert d.values["failures"] == 0 and d.values["consecutive_failures"] == 0
    assert "etag" not in d.values  # validators belong to the task's cursor, not the source


def test_not_modified_keeps_validators_and_slows_down() -> None:
    d = run(FetchResult(url="u", status=304, not_modified=True), seen=0)
    assert d.outcome == "not_modified" and "etag" not in d.values
    assert d.values["interval_minutes"] == 75


def test_interval_adapts_within_bounds() -> None:
    busy = SourceState(id=7, name="w", url="u", interval_minutes=20, has_succeeded=True)
    assert run(ok(), busy, seen=10, new=9).values["interval_minutes"] == 15  # floor
    quiet = SourceState(id=7, name="w", url="u", interval_minutes=700, has_succeeded=True)
    assert run(ok(), quiet, seen=10, new=0).values["interval_minutes"] == 720  # ceiling
    first = SourceState(id=7, name="w", url="u", interval_minutes=60)
    assert run(ok(), first, seen=10, new=10).values["interval_minutes"] == 60  # first fetch: keep
    steady = SourceState(id=7, name="w", url="u", interval_minutes=60, has_succeeded=True)
    assert run(ok(), steady, seen=10, new=3).values["interval_minutes"] == 60


def test_permanent_redirect_moves_the_url() -> None:
    d = run(ok(permanent_url="https://new.example/feed"), new=1)
    assert d.values["url"] == "https://new.example/feed"


def test_jitter_is_deterministic_and_bounded() -> None:
    s = fast_collector(jitter_fraction=0.1)
    a = run(ok(), new=1, settings=s).values["next_due_at"]
    b = run(ok(), new=1, settings=s).values["next_due_at"]
    assert a == b
    assert T0 + timedelta(minutes=54) <= a <= T0 + timedelta(minutes=66)
