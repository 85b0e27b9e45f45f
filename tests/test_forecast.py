"""noisecast.engine.core.features and noisecast.engine.core.forecast on small hand-made frames:
definitions, no look-ahead, missing hours, baselines' arithmetic, cold start, intervals,
probabilities, save/load."""

from __future__ import annotations

import math
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from noisecast.engine.core.features import (
    BASE_FEATURES,
    RATE,
    RISING,
    TARGET,
    TOTAL,
    build_features,
)
from noisecast.engine.core.forecast import (
    BaseRate,
    ColdStartForecaster,
    NoisecastForecaster,
    SzaboHuberman,
    fit_forecaster,
    persistence,
)
from noisecast.engine.errors import ForecastError
from noisecast.engine.jobs.model_files import load_forecaster, save_forecaster
from noisecast.engine.schema import (
    FORECAST_COLUMNS,
    LOW_CONFIDENCE,
    P10,
    P50,
    P90,
    P_RISING,
    REASON,
)

T0 = pd.Timestamp("2024-03-01 00:00", tz="UTC")
Values = list[float | None]


def frame(series: dict[str, Values], start_gap_hours: int = 1) -> pd.DataFrame:
    """Long format from {series: hourly values}; None is an unobserved hour (a row, NaN)."""
    rows = []
    for i, (name, values) in enumerate(series.items()):
        start = T0 + pd.Timedelta(hours=i * start_gap_hours)
        for h, v in enumerate(values):
            rows.append((name, start + pd.Timedelta(hours=h), np.nan if v is None else v))
    return pd.DataFrame(rows, columns=["series", "ts", "value"])


def synthetic(n_series: int = 240, hours: int = 30, seed: int = 0) -> pd.DataFrame:
    """Decaying Poisson attention with a few unobserved first hours, seeded."""
    rng = np.random.default_rng(seed)
    data: dict[str, Values] = {}
    for i in range(n_series):
        level = rng.lognormal(1.0, 1.0)
        decay = rng.uniform(3.0, 15.0)
        values: Values = list(rng.poisson(level * np.exp(-np.arange(hours) / decay)).astype(float))
        for h in range(int(rng.integers(0, 3))):
            values[h] = None
        data[f"s{i:04d}"] = values
    return frame(data)


def row(table: pd.DataFrame, series: str, origin: int) -> pd.Series:
    found = table[(table["series"] == series) & (table["origin"] == origin)]
    assert len(found) == 1
    return found.iloc[0]


# --- features --------------------------------------------------------------------------------


def test_rate_target_and_rising_follow_their_definitions() -> None:
    table = build_features(frame({"a": [2, 4, 6, 8, 10, 12]}), horizon=2)
    first = row(table, "a", 1)  # seen hour 0 only: rate over min(1, 2) = 1 hour
    assert first[RATE] == 2 and first[TOTAL] == 2 and first[TARGET] == 4 + 6
    assert first[RISING] == 1  # 10 > 2 * 2
    later = row(table, "a", 3)  # seen 0..2: rate = mean(4, 6) over the last 2 hours
    assert later[RATE] == 5 and later[TOTAL] == 12 and later[TARGET] == 8 + 10
    assert later[RISING] == 1
    assert math.isnan(row(table, "a", 5)[TARGET])  # hour 6 does not exist: not scorable
    assert row(table, "a", 6)["observed_hours"] == 6  # "now": every row seen, no target


def test_rising_is_strict_and_exact() -> None:
    # rate over the last 3 hours = 1/3 each; next 3 hours total exactly 1 = rate * H: not rising.
    table = build_features(frame({"a": [1, 0, 0, 0, 1, 0]}), horizon=3)
    at = row(table, "a", 3)
    assert at[TARGET] == 1 and at[RATE] == pytest.approx(1 / 3)
    assert at[RISING] == 0


def test_unobserved_hours_are_not_zeros() -> None:
    gaps = build_features(frame({"a": [5, None, None, 3, 3, 3]}), horizon=3)
    zeros = build_features(frame({"a": [5, 0, 0, 3, 3, 3]}), horizon=3)
    g, z = row(gaps, "a", 3), row(zeros, "a", 3)
    assert g[RATE] == 5 and z[RATE] == pytest.approx(5 / 3)  # mean of observed hours only
    assert g["observed_hours"] == 1 and z["observed_hours"] == 3
    assert math.isnan(g["lag1"]) and z["lag1"] == 0
    assert g["since_last_observed"] == 2 and z["since_last_observed"] == 0
    # A horizon with an unobserved hour has no target (not scored); with zeros it has one.
    assert math.isnan(row(gaps, "a", 1)[TARGET]) and row(zeros, "a", 1)[TARGET] == 3


def test_absent_rows_are_unobserved_hours() -> None:
    with_rows = build_features(frame({"a": [5, None, 2, 2]}), horizon=1)
    holes = frame({"a": [5, None, 2, 2]}).dropna()
    without = build_features(holes, horizon=1)
    pd.testing.assert_frame_equal(with_rows, without)


def test_nothing_seen_gives_zero_rate_and_missing_history() -> None:
    table = build_features(frame({"a": [None, None, 4, 1]}), horizon=1)
    at = row(table, "a", 2)
    assert at[RATE] == 0 and at[TOTAL] == 0 and at["observed_hours"] == 0
    assert math.isnan(at["log_peak"]) and math.isnan(at["since_first_observed"])
    assert at[TARGET] == 4 and at[RISING] == 1  # 4 > 0 * 1


series_values = st.lists(
    st.one_of(st.none(), st.integers(0, 50).map(float)), min_size=2, max_size=14
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=series_values, other=series_values, cut=st.integers(1, 13), horizon=st.integers(1, 5))
def test_features_never_look_ahead(values: Values, other: Values, cut: int, horizon: int) -> None:
    """Changing, blanking or adding hours at or after the origin never changes its features."""
    origin = min(cut, len(values))
    changed = values[:origin] + other  # hours >= origin replaced (and maybe more hours)
    seen = [*BASE_FEATURES, TOTAL, RATE, "cutoff"]
    before = build_features(frame({"a": values}), horizon, [origin])[seen]
    after = build_features(frame({"a": changed}), horizon, [origin])[seen]
    pd.testing.assert_frame_equal(before, after)


def test_covariates_become_features_when_present() -> None:
    data = frame({"a": [1, 2, 3, 4]}).assign(outlets=[1, 1, 2, 2], engagement=[0, 10, None, 5])
    table = build_features(data, horizon=3)
    assert {"cov_outlets_log_total", "cov_engagement_log_rate"} <= set(table.columns)
    at = row(table, "a", 3)
    assert at["cov_outlets_log_total"] == pytest.approx(np.log1p(4))
    assert at["cov_engagement_log_rate"] == pytest.approx(np.log1p(5))  # of 0, 10 and unknown
    assert "cov_outlets_log_total" not in build_features(frame({"a": [1, 2]}), 1).columns


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (frame({"a": [1, 2]}).drop(columns="value"), "missing column"),
        (frame({"a": [1, 2]}).assign(ts=lambda f: f["ts"].dt.tz_localize(None)), "UTC"),
        (frame({"a": [1, -2]}), ">= 0"),
        (pd.concat([frame({"a": [1]}), frame({"a": [2]})]), "duplicate"),
    ],
)
def test_bad_frames_raise_forecast_error(bad: pd.DataFrame, message: str) -> None:
    with pytest.raises(ForecastError, match=message):
        build_features(bad, horizon=1)


# --- baselines -------------------------------------------------------------------------------


def test_persistence_is_rate_times_horizon() -> None:
    table = build_features(frame({"a": [3, 5, 7, 0, 0]}), horizon=2)
    assert persistence(row(table, "a", 3).to_frame().T, 2).tolist() == [12.0]  # mean(5, 7) * 2


def test_szabo_huberman_arithmetic() -> None:
    # Horizon 1. Age 1: totals 10 -> 20 (b = 2) and 5 -> 20 (b = 4); z has N = 0, left out.
    # Age 2: 20 -> 30 (1.5), 20 -> 25 (1.25) and z's 3 -> 3 (1).
    train = build_features(frame({"a": [10, 10, 10], "b": [5, 15, 5], "z": [0, 3, 0]}), 1)
    model = SzaboHuberman(min_samples=2).fit(train)
    assert list(model.log_b_.index) == [1, 2]
    b1 = math.exp((math.log(2) + math.log(4)) / 2)
    test = build_features(frame({"c": [4, 1, 1, 1, 1, 1]}), 1)
    forecast = dict(zip(test["origin"], model.predict(test), strict=True))
    assert forecast[1] == pytest.approx((b1 - 1) * 4)
    b2 = math.exp((math.log(1.5) + math.log(1.25) + math.log(1)) / 3)
    assert forecast[2] == pytest.approx((b2 - 1) * 5)
    assert forecast[5] == pytest.approx((b2 - 1) * 8)  # past the fitted ages: the last one
    nothing = build_features(frame({"d": [0, 0, 0]}), 1)
    assert model.predict(nothing).tolist() == [0.0, 0.0, 0.0]  # (b - 1) * 0


def test_szabo_huberman_without_data_uses_the_prior() -> None:
    empty = build_features(frame({"a": [0, 0, 0]}), 1)
    model = SzaboHuberman(prior_b=3.0).fit(empty)
    assert model.predict(build_features(frame({"b": [2, 2]}), 1))[0] == pytest.approx(4.0)


def test_base_rate_per_age_with_fallbacks() -> None:
    train = build_features(frame({"a": [1, 5, 0, 0], "b": [1, 0, 0, 9], "c": [1, 5, 5, 5]}), 1)
    model = BaseRate(min_samples=3).fit(train)
    ages = build_features(frame({"d": [1, 1, 1, 1, 1, 1]}), 1)
    p = dict(zip(ages["origin"], model.predict_proba(ages), strict=True))
    assert p[1] == pytest.approx(2 / 3)  # a and c rose at age 1, b did not
    assert p[3] == pytest.approx(1 / 3)  # only b rose at age 3
    assert p[6] == p[3]  # past the fitted ages: the last one


# --- the model -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return synthetic()


@pytest.fixture(scope="module")
def fitted(data: pd.DataFrame) -> NoisecastForecaster:
    model = fit_forecaster(data[data["series"] < "s0200"], horizon=6)
    assert isinstance(model, NoisecastForecaster)
    return model


def test_forecasts_are_ordered_counts_with_probabilities(
    fitted: NoisecastForecaster, data: pd.DataFrame
) -> None:
    out = fitted.predict(data[data["series"] >= "s0200"])
    assert list(out.columns) == list(FORECAST_COLUMNS)
    assert len(out) == 40 * 30
    assert (out[P10] <= out[P50]).all() and (out[P50] <= out[P90]).all()
    assert (out[P10] >= 0).all()
    assert (out[P10] == np.floor(out[P10])).all() and (out[P90] == np.ceil(out[P90])).all()
    assert out[P_RISING].between(0, 1).all()
    assert out[P_RISING].nunique() > 5  # not a constant
    assert (out[P90] > out[P10]).mean() > 0.5  # intervals are not degenerate


def test_no_history_is_flagged_low_confidence(fitted: NoisecastForecaster) -> None:
    out = fitted.predict(frame({"x": [None, None, 3, 1, 0, 0, 0, 0, 0, 0]}))
    blind = out[out["origin"] <= 2]
    assert blind[LOW_CONFIDENCE].all() and blind[REASON].str.contains("no hour").all()
    assert not out.loc[out["origin"] > 2, LOW_CONFIDENCE].any()


def test_metadata_describes_the_fit(fitted: NoisecastForecaster) -> None:
    meta = fitted.metadata
    assert meta["model"] == "noisecast" and meta["horizon"] == 6
    assert meta["trained_from"] == T0.isoformat()
    assert meta["n_series"] == 200 and meta["n_samples"] > 1000
    assert meta["n_fit"] + meta["n_calibration"] == meta["n_samples"]
    assert {"version", "trained_to", "params", "sklearn_version", "features"} <= set(meta)


def test_save_load_round_trip_gives_identical_forecasts(
    fitted: NoisecastForecaster, data: pd.DataFrame, tmp_path: Path
) -> None:
    path = save_forecaster(fitted, tmp_path / "model.joblib")
    loaded = load_forecaster(path)
    unseen = data[data["series"] >= "s0200"]
    pd.testing.assert_frame_equal(fitted.predict(unseen), loaded.predict(unseen))
    assert loaded.metadata == fitted.metadata


def test_load_refuses_other_versions_and_other_files(
    fitted: NoisecastForecaster, tmp_path: Path
) -> None:
    old = tmp_path / "old.joblib"
    save_forecaster(fitted, old)
    stale = joblib.load(old)
    stale.metadata_ = {**stale.metadata_, "version": "0"}
    joblib.dump(stale, old)
    with pytest.raises(ForecastError, match=r"version '0'.*refit"):
        load_forecaster(old)
    other = tmp_path / "other.joblib"
    joblib.dump({"not": "a model"}, other)
    with pytest.raises(ForecastError, match="not a noisecast forecast model"):
        load_forecaster(other)
    with pytest.raises(ForecastError, match="cannot read"):
        load_forecaster(tmp_path / "missing.joblib")
    garbage = tmp_path / "garbage.joblib"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ForecastError, match="cannot read"):
        load_forecaster(garbage)


def test_intervals_are_calibrated_on_unseen_synthetic_series(fitted: NoisecastForecaster) -> None:
    unseen = synthetic(n_series=300, seed=1)
    table = build_features(unseen, 6)
    table = table[table[TARGET].notna()]
    out = fitted.predict_table(table)
    inside = (table[TARGET].to_numpy() >= out[P10]) & (table[TARGET].to_numpy() <= out[P90])
    assert 0.72 <= inside.mean() <= 0.92


def test_cold_start_flags_low_confidence() -> None:
    few = synthetic(n_series=4, hours=10)
    model = fit_forecaster(few, horizon=3, min_train_samples=200)
    assert isinstance(model, ColdStartForecaster)
    out = model.predict(few)
    assert out[LOW_CONFIDENCE].all()
    assert out[REASON].str.contains("cold start").all()
    assert (out[P10] <= out[P50]).all() and (out[P50] <= out[P90]).all()
    assert out[P_RISING].between(0, 1).all()
    # Wide: at least a factor of about e^2 on the log1p scale on each side.
    assert (np.log1p(out[P90]) - np.log1p(out[P50]) >= 2 - 1e-9).all()
    assert model.metadata["reason"].startswith("cold start")


def test_cold_start_with_no_training_sample_at_all_still_forecasts() -> None:
    model = fit_forecaster(frame({"a": [1]}), horizon=3)
    assert isinstance(model, ColdStartForecaster)
    out = model.predict(frame({"b": [2, 3]}))
    assert out[LOW_CONFIDENCE].all() and out[P_RISING].eq(0.5).all()
    assert out[P50].iloc[0] == pytest.approx(2.0)  # the prior b = 2: (2 - 1) * 2


def test_short_series_with_an_empty_feature_still_fit() -> None:
    """Horizon 1 on 2-hour series: lag2 and lag3 are never observed, yet fitting works."""
    rng = np.random.default_rng(3)
    data = frame({f"s{i:03d}": list(rng.poisson(3.0, 2).astype(float)) for i in range(260)})
    model = fit_forecaster(data, horizon=1, min_train_samples=200)
    assert isinstance(model, NoisecastForecaster)
    assert "lag3" not in model.columns_
    assert model.predict(data)[P_RISING].between(0, 1).all()


def test_covariates_must_be_given_to_a_model_fitted_with_them() -> None:
    data = synthetic(n_series=120, hours=12)
    data = data.assign(outlets=data["value"].fillna(0).clip(upper=3), engagement=0.0)
    model = fit_forecaster(data, horizon=3)
    assert "cov_outlets_log_total" in model.metadata["features"]
    model.predict(data)
    with pytest.raises(ForecastError, match="outlets"):
        model.predict(data.drop(columns=["outlets", "engagement"]))


def test_empty_history_gives_a_cold_start_that_forecasts_nothing() -> None:
    empty = frame({}).astype({"series": object, "value": float})
    empty["ts"] = empty["ts"].astype("datetime64[ns, UTC]")
    model = fit_forecaster(empty, horizon=24)
    assert isinstance(model, ColdStartForecaster)
    assert model.metadata["n_samples"] == 0 and model.metadata["trained_from"] is None
    out = model.predict(empty)
    assert out.empty and list(out.columns) == list(FORECAST_COLUMNS)
