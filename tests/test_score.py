"""noisecast.engine.core.score: the noise level's guarantees as properties, plus exact and realistic
cases."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from noisecast.engine.core.score import (
    COMPONENTS,
    LEVELS,
    ScoreParams,
    complete_hours,
    level_of,
    noise_level,
)

T0 = pd.Timestamp("2024-03-01 00:00", tz="UTC")
PARAMS = ScoreParams()
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def hour(i: int) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=i)


def frame_from(
    mentions: np.ndarray,
    outlets: np.ndarray | None = None,
    engagement: np.ndarray | None = None,
) -> pd.DataFrame:
    """A complete hourly frame from (stories x hours) arrays; stories are s0, s1, ..."""
    mentions = np.asarray(mentions, dtype=float)
    n, t = mentions.shape
    outlets = np.minimum(mentions, 3) if outlets is None else np.asarray(outlets, dtype=float)
    engagement = mentions * 4 if engagement is None else np.asarray(engagement, dtype=float)
    return pd.DataFrame(
        {
            "story": np.repeat([f"s{i}" for i in range(n)], t),
            "hour": np.tile(pd.date_range(T0, periods=t, freq="h"), n),
            "mentions": mentions.ravel(),
            "outlets": outlets.ravel(),
            "engagement": engagement.ravel(),
        }
    )


def health_from(collected: np.ndarray, unhealthy: np.ndarray | None = None) -> pd.DataFrame:
    collected = np.asarray(collected, dtype=float)
    return pd.DataFrame(
        {
            "hour": pd.date_range(T0, periods=len(collected), freq="h"),
            "collected": collected,
            "unhealthy": np.zeros(len(collected), bool) if unhealthy is None else unhealthy,
        }
    )


def scores(
    mentions: np.ndarray, params: ScoreParams = PARAMS, health: pd.DataFrame | None = None, **kw
) -> np.ndarray:
    """(stories x hours) score array."""
    mentions = np.asarray(mentions, dtype=float)
    frame = frame_from(mentions, **kw)
    health = health_from(mentions.sum(axis=0)) if health is None else health
    out = noise_level(frame, health, params)
    return out["score"].to_numpy().reshape(mentions.shape[1], mentions.shape[0]).T


def pools(min_hours: int = 4, max_hours: int = 60, max_stories: int = 5):
    return st.integers(1, max_stories).flatmap(
        lambda n: st.integers(min_hours, max_hours).flatmap(
            lambda t: st.lists(
                st.lists(st.integers(0, 40), min_size=t, max_size=t), min_size=n, max_size=n
            )
        )
    )


# -- properties ------------------------------------------------------------------------------


@FAST
@given(pools())
def test_score_stays_between_0_and_100(rows: list[list[int]]) -> None:
    s = scores(np.array(rows))
    assert np.all((s >= 0) & (s <= 100))


@FAST
@given(pools(), st.data())
def test_more_mentions_in_the_scored_hour_never_lower_the_score(
    rows: list[list[int]], data: st.DataObject
) -> None:
    base = np.array(rows, dtype=float)
    story = data.draw(st.integers(0, base.shape[0] - 1))
    extra = data.draw(st.integers(1, 50))
    more = base.copy()
    more[story, -1] += extra
    health = health_from(base.sum(axis=0))  # all else equal: the same collection health
    before = scores(base, health=health)[story, -1]
    after = scores(more, health=health)[story, -1]
    assert after >= before - 1e-9


@FAST
@given(
    st.lists(st.integers(0, 12), min_size=24, max_size=24),
    st.integers(3, 12),
    st.integers(0, 25),
)
def test_a_busier_day_moves_scores_far_less_than_one_louder_story(
    target: list[int], background: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    pool = rng.poisson(background, size=(25, 24)).astype(float)
    pool[:, 0] += 2  # every story has a past, so the reference is above its floor
    mentions = np.vstack([np.array(target, dtype=float), pool])
    assume(mentions[0, -6:].sum() > 0)
    loose = dataclasses.replace(PARAMS, reference_floor=(1e-9, 1e-9, 1e-9))
    same_outlets = np.ones_like(mentions)
    base = scores(mentions, loose, outlets=same_outlets, engagement=same_outlets)
    busier = scores(2 * mentions, loose, outlets=same_outlets, engagement=same_outlets)
    louder = mentions.copy()
    louder[0] *= 2
    alone = scores(louder, loose, outlets=same_outlets, engagement=same_outlets)
    moved_together = np.abs(busier[0, 1:] - base[0, 1:]).max()
    moved_alone = alone[0, -1] - base[0, -1]
    assert moved_together < 1e-9
    assert moved_alone > 0.05


@FAST
@given(
    st.integers(1, 300),  # burst size
    st.integers(0, 3),  # the story's own background rate
    st.integers(3, 10),  # the pool's background rate
)
def test_a_burst_raises_the_score_at_once_and_decays_smoothly(
    burst: int, own: int, pool_rate: int
) -> None:
    hours, at = 120, 60
    mentions = np.full((22, hours), float(pool_rate))
    mentions[0] = own
    mentions[0, at] += burst
    s = scores(mentions, outlets=np.minimum(mentions, 5), engagement=mentions * 3)[0]
    rise = s[at] - s[at - 1]
    assert rise > 0
    drops = s[at:-1] - s[at + 1 :]
    assert np.all(drops >= -1e-9), "after the burst the score only falls"
    assert drops.max() <= 0.35 * rise + 1e-9, "no hour drops by more than a third of the rise"
    assert s[at + PARAMS.memory_hours] == pytest.approx(s[at - 1], abs=1e-9)


@FAST
@given(pools(min_hours=1, max_hours=30), st.integers(0, 2))
def test_48_hours_without_mentions_is_quiet(rows: list[list[int]], story: int) -> None:
    history = np.array(rows, dtype=float)
    story = min(story, history.shape[0] - 1)
    silent = np.zeros((history.shape[0], 48))
    silent[np.arange(history.shape[0]) != story] = 5
    mentions = np.hstack([history, silent])
    frame = frame_from(mentions)
    healthy = health_from(np.full(mentions.shape[1], 100.0))
    out = noise_level(frame, healthy, PARAMS, hours=[hour(mentions.shape[1] - 1)])
    row = out[out["story"] == f"s{story}"].iloc[0]
    assert row["level"] == "Quiet"
    assert row["score"] == pytest.approx(0.0, abs=1e-9)


# -- exact cases -----------------------------------------------------------------------------


def test_a_hand_computed_case() -> None:
    # One story, one hour: 10 mentions, 2 outlets, 40 engagement, nothing before.
    # No history, so every reference is its floor (1, 1, 10) and c = 0.5 * 1.
    params = PARAMS
    out = noise_level(frame_from([[10]], [[2]], [[40]]), health_from([10]), params)
    row = out.iloc[0]

    def lag0_share(half_life: float) -> float:
        a = 0.5 ** (1 / half_life)
        weights = a ** np.arange(48) - a**48
        return (1 - a**48) / weights.sum()

    volume = 10 * lag0_share(6)
    breadth = 2 * lag0_share(6)
    engagement = 40 * lag0_share(6)
    velocity = np.log2((10 * lag0_share(3) + 0.5) / (10 * lag0_share(24) + 0.5))
    norms = {
        "volume": volume / 1,
        "velocity": velocity,
        "breadth": breadth / 1,
        "engagement": np.log2(1 + engagement / 10),
    }
    weights = {"volume": 0.4, "velocity": 0.2, "breadth": 0.25, "engagement": 0.15}
    expected = sum(100 * weights[c] * (1 - np.exp(-norms[c])) for c in COMPONENTS)
    assert row["volume_value"] == pytest.approx(volume, rel=1e-12)
    assert row["velocity_value"] == pytest.approx(velocity, rel=1e-12)
    for c in COMPONENTS:
        assert row[f"{c}_norm"] == pytest.approx(norms[c], rel=1e-12)
    assert row["score"] == pytest.approx(expected, rel=1e-12)
    assert sum(row[f"{c}_contribution"] for c in COMPONENTS) == pytest.approx(row["score"])
    assert row["as_of"] == T0
    assert not row["unhealthy"]


def test_level_thresholds() -> None:
    levels = level_of([0, 19.999, 20, 39.9, 40, 59.9, 60, 79.9, 80, 100], (20, 40, 60, 80))
    assert list(levels) == [
        "Quiet", "Quiet", "Low", "Low", "Moderate", "Moderate", "High", "High",
        "Very high", "Very high",
    ]  # fmt: skip
    assert list(levels.categories) == list(LEVELS)


def test_params_from_settings_and_validation() -> None:
    from noisecast.engine.config import ScoringSettings

    params = ScoreParams.from_settings(ScoringSettings(), half_life_hours=4.0)
    assert params.window_hours == 168 and params.half_life_hours == 4.0
    assert params.weight_vector().sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="thresholds"):
        ScoreParams(thresholds=(20, 10, 60, 80))
    with pytest.raises(ValueError, match="weights: unknown component"):
        ScoreParams(weights={"loudness": 1.0})


def test_complete_hours_fills_zeros() -> None:
    sparse = pd.DataFrame(
        {
            "story": ["a", "b"],
            "hour": [hour(1), hour(3)],
            "mentions": [5, 2],
            "outlets": [2, 1],
            "engagement": [7, 0],
        }
    )
    full = complete_hours(sparse, hour(0), hour(3))
    assert len(full) == 8
    assert full["mentions"].sum() == 7
    row = full[(full["story"] == "a") & (full["hour"] == hour(1))].iloc[0]
    assert (row["mentions"], row["outlets"], row["engagement"]) == (5, 2, 7)
    assert (full[full["story"] == "b"]["mentions"].tolist()) == [0, 0, 0, 2]


def test_missing_story_hours_count_as_zeros() -> None:
    mentions = np.array([[0, 3, 0, 4], [1, 0, 0, 2]], dtype=float)
    frame = frame_from(mentions)
    sparse = frame[frame["mentions"] > 0]
    health = health_from(mentions.sum(axis=0))
    a = noise_level(frame, health, PARAMS)
    b = noise_level(complete_hours(sparse, hour(0), hour(3)), health, PARAMS)
    c = noise_level(sparse, health, PARAMS)
    np.testing.assert_allclose(a["score"], b["score"])
    np.testing.assert_allclose(a["score"], c["score"])


def test_bad_input_says_what_to_do() -> None:
    frame = frame_from([[1, 2]])
    with pytest.raises(ValueError, match="duplicate"):
        noise_level(pd.concat([frame, frame]), health_from([1, 2]), PARAMS)
    with pytest.raises(ValueError, match="missing column"):
        noise_level(frame.drop(columns="outlets"), health_from([1, 2]), PARAMS)
    naive = frame.assign(hour=frame["hour"].dt.tz_localize(None))
    with pytest.raises(ValueError, match="timezone-aware"):
        noise_level(naive, health_from([1, 2]), PARAMS)


def test_a_dead_collector_hour_is_flagged_and_not_read_as_quiet() -> None:
    hours = 60
    mentions = np.full((6, hours), 4.0)
    mentions[0] = 20.0  # a loud story
    collected = mentions.sum(axis=0)
    mentions[:, 50:53] = 0  # the collector died for three hours
    collected[50:53] = 0
    flagged = np.zeros(hours, bool)
    flagged[51] = True  # the store noticed one of them; the other two by the collapse
    out = noise_level(frame_from(mentions), health_from(collected, flagged), PARAMS)
    loud = out[out["story"] == "s0"].set_index("as_of")
    assert loud.loc[[hour(50), hour(51), hour(52)], "unhealthy"].all()
    assert not loud.loc[[hour(49), hour(53)], "unhealthy"].any()
    assert loud.loc[hour(52), "score"] == pytest.approx(loud.loc[hour(49), "score"], rel=1e-9)
    assert loud.loc[hour(52), "level"] != "Quiet"
    # Without the health signal, the same hours would read as a collapse of the story.
    blind = noise_level(frame_from(mentions), health_from(np.full(hours, 1.0)), PARAMS)
    blind_loud = blind[blind["story"] == "s0"].set_index("as_of")
    assert blind_loud.loc[hour(52), "score"] < loud.loc[hour(52), "score"] - 5


def test_latest_hour_equals_the_full_rebuild() -> None:
    rng = np.random.default_rng(7)
    hours = 260  # longer than the lookback, so the latest hour reads only part of it
    mentions = rng.poisson(rng.gamma(0.7, 3.0, size=(40, 1)), size=(40, hours)).astype(float)
    mentions[3, 200:205] += 60
    collected = mentions.sum(axis=0)
    collected[250] = 1  # a dead hour inside the lookback
    frame = frame_from(mentions, engagement=rng.poisson(mentions * 10))
    health = health_from(collected)
    full = noise_level(frame, health, PARAMS)
    for i in (hours - 1, 250, 203, 30):
        one = noise_level(frame, health, PARAMS, hours=[hour(i)])
        rebuilt = full[full["as_of"] == hour(i)].reset_index(drop=True)
        floats = [c for c in one.columns if one[c].dtype == float]
        np.testing.assert_allclose(one[floats], rebuilt[floats], rtol=0, atol=1e-9)
        assert (one["level"] == rebuilt["level"]).all()
        assert (one["unhealthy"] == rebuilt["unhealthy"]).all()
    # The latest hour needs only the lookback rows.
    t = hours - 1
    recent = frame[frame["hour"] >= hour(t - PARAMS.lookback_hours)]
    one = noise_level(recent, health, PARAMS, hours=[hour(t)])
    rebuilt = full[full["as_of"] == hour(t)].reset_index(drop=True)
    np.testing.assert_allclose(one["score"], rebuilt["score"], rtol=0, atol=1e-9)


def test_threads_give_the_same_scores_bit_for_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large grids are scored on threads over column ranges of stories; small ones on one."""
    import noisecast.engine.core._score_grid as score_module

    rng = np.random.default_rng(3)
    mentions = rng.poisson(rng.gamma(0.7, 3.0, size=(37, 1)), size=(37, 150))
    frame = frame_from(mentions, engagement=rng.poisson(mentions * 10))
    # The fast path reads the frame's columns in place: int columns, in (hour, story) order.
    frame = frame.astype({"mentions": "int64", "outlets": "int64", "engagement": "int64"})
    frame = frame.sort_values(["hour", "story"]).reset_index(drop=True)
    collected = mentions.sum(axis=0).astype(float)
    collected[100:103] = 0  # a dead spell: _carry_healthy must copy, not write into ``frame``
    health = health_from(collected)
    before = frame.copy()
    one = noise_level(frame, health, PARAMS)
    monkeypatch.setattr(score_module, "_THREAD_CELLS", 1)
    monkeypatch.setattr(score_module, "_MAX_THREADS", 3)
    monkeypatch.setattr(score_module.os, "cpu_count", lambda: 3)
    threaded = noise_level(frame, health, PARAMS)
    pd.testing.assert_frame_equal(one, threaded, check_exact=True)
    pd.testing.assert_frame_equal(frame, before)
    # The same rows shuffled take the scatter path, and give the same scores.
    shuffled = noise_level(frame.sample(frac=1, random_state=1), health, PARAMS)
    pd.testing.assert_frame_equal(one, shuffled, check_exact=True)


# -- a realistic newsroom --------------------------------------------------------------------


def newsroom(seed: int = 11) -> pd.DataFrame:
    t = np.arange(72)
    rates = {
        "spike": np.where(t < 10, 0.5, 2 + 80 * np.exp(-(t - 10) / 4.0)),
        "slow-burn": 0.5 + 0.12 * t,
        "steady": 6 + 3 * np.sin(2 * np.pi * t / 24),
        "late-breaker": np.where(t < 54, 0.2, 5 + 45 * np.exp(-(t - 54) / 12.0)),
        "noise": np.full(72, 0.3),
    }
    rng = np.random.default_rng(seed)
    names = list(rates)
    mentions = np.array([rng.poisson(rates[n]) for n in names], dtype=float)
    outlets = rng.binomial(mentions.astype(int), 0.6).astype(float)
    engagement = rng.poisson(mentions * 15).astype(float)
    frame = frame_from(mentions, outlets, engagement)
    frame["story"] = frame["story"].map(dict(zip([f"s{i}" for i in range(5)], names, strict=True)))
    out = noise_level(frame, health_from(mentions.sum(axis=0)), PARAMS)
    return out.pivot(index="as_of", columns="story", values="score").reset_index(drop=True)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_the_editors_order(seed: int) -> None:
    s = newsroom(seed)
    levels = s.apply(lambda col: level_of(col.to_numpy(), PARAMS.thresholds).astype(str))
    assert s.loc[12].idxmax() == "spike"
    assert s.loc[71].idxmax() == "late-breaker"
    assert s.loc[71, "spike"] < s.loc[71, "steady"]
    assert s.loc[71, "slow-burn"] > s.loc[20, "slow-burn"]
    assert levels["noise"].isin(["Quiet", "Low"]).all()
    assert levels.loc[12, "spike"] in ("High", "Very high")


def test_docs_scoring_carries_the_modules_definition() -> None:
    """docs/scoring.md quotes engine/core/score.py's docstring: they cannot drift apart."""
    from pathlib import Path

    import noisecast.engine.core.score

    doc = (Path(__file__).resolve().parents[1] / "docs" / "scoring.md").read_text()
    definition = noisecast.engine.core.score.__doc__ or ""
    steps = [line.strip() for line in definition.splitlines() if line.strip()[:2] in ("1.", "6.")]
    assert steps and all(step in doc for step in steps)
    assert "img/demo-scores.png" in doc
