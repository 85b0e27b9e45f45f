"""noisecast.engine.core.backtest: reading series CSVs (errors name file, line and field), the
backtest's shape and split, and the targets on the real development data in
../shared/data/series."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from noisecast.engine.core._learning import learning_curve
from noisecast.engine.core.backtest import METRICS, MODELS, run_backtest, split_by_time
from noisecast.engine.core.features import build_features
from noisecast.engine.core.prior import PriorForecaster
from noisecast.engine.errors import BacktestInputError, ForecastError
from noisecast.engine.jobs.series_files import read_series_csv, run_backtest_files

from .test_forecast import synthetic

HEADER = "series,ts,value\n"


def write(tmp_path: Path, text: str, name: str = "TEST.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- reading CSVs ------------------------------------------------------------------------------


def test_reads_the_long_format(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + "a,2016-01-01T00:00:00Z,\n\na,2016-01-01T01:00:00Z,3\nb,2016-01-01 05:00,0\n",
    )
    data = read_series_csv(path)
    assert list(data.columns) == ["series", "ts", "value"]
    assert str(data["ts"].dt.tz) == "UTC"
    assert data["ts"].iloc[2] == pd.Timestamp("2016-01-01 05:00", tz="UTC")  # no offset: UTC
    assert math.isnan(data["value"].iloc[0])  # empty: not observed, not zero
    assert data["value"].iloc[1:].tolist() == [3.0, 0.0]
    assert data["series"].tolist() == ["a", "a", "b"]


def test_extra_columns_are_allowed_and_covariates_kept(tmp_path: Path) -> None:
    path = write(tmp_path, "note,series,ts,value,outlets\nx,a,2016-01-01T00:00:00Z,2,1\n")
    data = read_series_csv(path)
    assert list(data.columns) == ["series", "ts", "value", "outlets"]
    assert data["outlets"].tolist() == [1.0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "series,ts\na,2016-01-01T00:00:00Z\n",
            "TEST.csv: line 1: header: missing column(s) value",
        ),
        ("", "TEST.csv: line 1: header: the file is empty"),
        (
            HEADER + "a,2016-01-01T00:00:00Z,1\na,2016-13-01,2\n",
            "TEST.csv: line 3: ts: cannot parse '2016-13-01' as a time",
        ),
        (
            HEADER + "a,2016-01-01T00:30:00Z,1\n",
            "TEST.csv: line 2: ts: '2016-01-01T00:30:00Z' is not the start of an hour",
        ),
        (HEADER + "a,2016-01-01T00:00:00Z,-3\n", "TEST.csv: line 2: value: -3 is negative"),
        (HEADER + "a,2016-01-01T00:00:00Z,2.5\n", "TEST.csv: line 2: value: 2.5 is not a whole"),
        (HEADER + "a,2016-01-01T00:00:00Z,many\n", "TEST.csv: line 2: value: cannot parse 'many'"),
        (HEADER + ",2016-01-01T00:00:00Z,1\n", "TEST.csv: line 2: series: empty"),
        (HEADER + "a,2016-01-01T00:00:00Z\n", "TEST.csv: line 2: expected 3 fields, got 2"),
        (
            HEADER + "a,2016-01-01T00:00:00Z,1\nb,2016-01-01T00:00:00Z,1\n\n"
            "a,2016-01-01T00:00:00+00:00,1\n",
            "TEST.csv: line 5: series,ts: duplicate of line 2",
        ),
    ],
)
def test_csv_errors_name_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(BacktestInputError) as caught:
        read_series_csv(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, ForecastError) and isinstance(caught.value, ValueError)


def test_csv_errors_are_all_listed_in_line_order(tmp_path: Path) -> None:
    bad = "".join(f"a,2016-01-01T{h:02d}:00:00Z,-1\n" for h in range(24))
    path = write(tmp_path, HEADER + "b,yesterday,1\n" + bad)
    with pytest.raises(BacktestInputError) as caught:
        read_series_csv(path)
    lines = str(caught.value).splitlines()
    assert lines[0].endswith("line 2: ts: cannot parse 'yesterday' as a time")
    assert lines[1].endswith("line 3: value: -1 is negative; expected >= 0")
    assert lines[-1].endswith("... and 5 more problem(s)")


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(BacktestInputError, match="cannot read"):
        read_series_csv(tmp_path / "nope.csv")


# --- the backtest on synthetic data ----------------------------------------------------------


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return synthetic(n_series=300, hours=24, seed=5)


@pytest.fixture(scope="module")
def result(data: pd.DataFrame) -> dict[str, Any]:
    return run_backtest(data, None, horizon=6, origins=[1, 3, 6])


def test_result_has_exactly_the_documented_shape(result: dict[str, Any]) -> None:
    assert set(result) == {"horizon", "models", "by_origin", "by_target_size", "hedge_words"}
    assert [e["target"] for e in result["by_target_size"]] == ["0", "1-9", ">=10"]
    assert (
        sum(e["models"]["noisecast"]["n"] for e in result["by_target_size"])
        == (result["models"]["noisecast"]["n"])
    )
    words = result["hedge_words"]
    assert list(words) == ["very likely", "likely", "may", "unlikely", "very unlikely"]
    assert sum(w["n"] for w in words.values()) == result["models"]["noisecast"]["n"]
    assert result["horizon"] == 6
    assert list(result["models"]) == list(MODELS)
    assert [entry["origin"] for entry in result["by_origin"]] == [1, 3, 6]
    for entry in [result, *result["by_origin"]]:
        for name, metrics in entry["models"].items():
            assert list(metrics) == list(METRICS), name
    overall = result["models"]
    assert overall["noisecast"]["n"] == sum(
        e["models"]["noisecast"]["n"] for e in result["by_origin"]
    )
    for name in ("persistence", "szabo_huberman"):
        assert overall[name]["coverage_80"] is None and overall[name]["mae_log1p"] is not None
    base = overall["base_rate"]
    assert base["mae_log1p"] is None and base["median_ape"] is None and base["coverage_80"] is None
    assert base["brier_rising"] is not None and base["direction_accuracy"] is not None
    for name in MODELS:
        assert 0 <= overall[name]["brier_rising"] <= 1


def test_time_split_fits_only_on_the_earliest_series(
    data: pd.DataFrame, result: dict[str, Any]
) -> None:
    fit, scored = split_by_time(data)
    assert scored["series"].nunique() == 60
    assert fit.groupby("series")["ts"].min().max() <= scored.groupby("series")["ts"].min().min()
    explicit = run_backtest(fit, scored, horizon=6, origins=[1, 3, 6])
    assert explicit == result
    # The scored series' values never reach the fit: changing them changes only the actuals.
    noisy = scored.assign(value=scored["value"] * 2)
    again = run_backtest(fit, noisy, horizon=6, origins=[1, 3, 6])
    assert again["models"]["noisecast"]["n"] == result["models"]["noisecast"]["n"]


def test_synthetic_model_beats_baselines_and_is_calibrated(result: dict[str, Any]) -> None:
    models = result["models"]
    assert models["noisecast"]["mae_log1p"] < models["persistence"]["mae_log1p"]
    assert models["noisecast"]["brier_rising"] < models["base_rate"]["brier_rising"]
    assert 0.7 <= models["noisecast"]["coverage_80"] <= 0.92


def test_a_test_series_also_in_train_is_refused(data: pd.DataFrame) -> None:
    fit, scored = split_by_time(data)
    with pytest.raises(BacktestInputError, match="also in train"):
        run_backtest(fit, pd.concat([scored, fit[fit["series"] == "s0000"]]), horizon=6)


def test_no_scorable_origin_is_a_clear_error(data: pd.DataFrame, tmp_path: Path) -> None:
    fit, scored = split_by_time(data)
    short = scored[
        scored["ts"] < scored.groupby("series")["ts"].transform("min") + pd.Timedelta(hours=4)
    ]
    with pytest.raises(BacktestInputError, match="no scorable origin"):
        run_backtest(fit, short, horizon=6)
    train_csv, test_csv = tmp_path / "train.csv", tmp_path / "TEST.csv"
    fit.assign(ts=fit["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(train_csv, index=False)
    short.assign(ts=short["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(test_csv, index=False)
    with pytest.raises(BacktestInputError, match=r"TEST\.csv: no scorable origin"):
        run_backtest_files(train_csv, test_csv, horizon=6)


def test_bad_arguments_are_input_errors(data: pd.DataFrame) -> None:
    with pytest.raises(BacktestInputError, match="horizon"):
        run_backtest(data, horizon=0)
    with pytest.raises(BacktestInputError, match="origins"):
        run_backtest(data, horizon=6, origins=[0, 3])
    with pytest.raises(BacktestInputError, match="missing column"):
        run_backtest(data.drop(columns="value"))


def test_too_little_training_history_falls_back_to_cold_start(data: pd.DataFrame) -> None:
    fit, scored = split_by_time(data)
    few = fit[fit["series"].isin(["s0000", "s0001"])]
    out = run_backtest(few, scored, horizon=6, origins=[3])
    assert out["models"]["noisecast"]["n"] > 0  # scored all the same, by the fallback
    assert out["models"]["noisecast"]["coverage_80"] is not None


# --- the targets on the real development data ----------------------------------------------


def _backtest(shared_data: Path, name: str, horizon: int, origins: list[int]) -> dict[str, Any]:
    return run_backtest(read_series_csv(shared_data / "series" / name), None, horizon, origins)


@pytest.fixture(scope="module")
def uci(shared_data: Path) -> dict[str, Any]:
    return _backtest(shared_data, "uci_facebook_palestine_hourly_dev.csv", 24, [1, 3, 6, 12])


@pytest.fixture(scope="module")
def reddit(shared_data: Path) -> dict[str, Any]:
    return _backtest(shared_data, "reddit_rall_hourly_dev.csv", 3, [1, 2, 3])


def _mean_mae(result: dict[str, Any]) -> dict[str, float]:
    return {
        name: float(np.mean([e["models"][name]["mae_log1p"] for e in result["by_origin"]]))
        for name in ("noisecast", "persistence", "szabo_huberman")
    }


def _beats_baselines_at_every_origin(result: dict[str, Any]) -> None:
    for entry in result["by_origin"]:
        models = entry["models"]
        for baseline in ("persistence", "szabo_huberman"):
            assert models["noisecast"]["mae_log1p"] < models[baseline]["mae_log1p"], (
                entry["origin"],
                baseline,
            )


def _five_percent_better_on_average(result: dict[str, Any]) -> None:
    mean = _mean_mae(result)
    best = min(mean["persistence"], mean["szabo_huberman"])
    assert mean["noisecast"] <= 0.95 * best, mean


@pytest.mark.slow
def test_uci_model_beats_both_baselines_at_every_origin(uci: dict[str, Any]) -> None:
    _beats_baselines_at_every_origin(uci)
    mean = _mean_mae(uci)
    assert mean["noisecast"] <= 0.97 * mean["szabo_huberman"], mean  # the floor reached so far


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,  # reaching the target turns this red: then drop the marker
    reason="not reached on the dev split: 4.4% below Szabo-Huberman on average (target 5%); "
    "time-blocked folds of the same data give 3.0-7.7% (mean 5.1%), fitting on the scored series "
    "themselves only about 9%: see the forecasting report",
)
def test_uci_model_is_five_percent_better_on_average(uci: dict[str, Any]) -> None:
    _five_percent_better_on_average(uci)


@pytest.mark.slow
def test_uci_intervals_and_probabilities(uci: dict[str, Any]) -> None:
    models = uci["models"]
    assert 0.77 <= models["noisecast"]["coverage_80"] <= 0.92
    assert models["noisecast"]["coverage_80_positive"] is not None
    assert models["noisecast"]["brier_rising"] < models["base_rate"]["brier_rising"]


@pytest.mark.slow
def test_uci_intervals_mean_what_they_say_at_every_origin(uci: dict[str, Any]) -> None:
    """Issue 15 section 2: about 40 % of the targets are 0. At every origin the interval covers
    at most 0.88 of all outcomes and 0.80 +- 0.05 of those >= 1, with the MAE of before."""
    for entry in uci["by_origin"]:
        model = entry["models"]["noisecast"]
        assert model["coverage_80"] <= 0.88, entry["origin"]
        assert 0.75 <= model["coverage_80_positive"] <= 0.85, entry["origin"]
    assert _mean_mae(uci)["noisecast"] <= 0.7945 + 0.002
    assert [e["target"] for e in uci["by_target_size"]] == ["0", "1-9", ">=10"]
    for word, outcome in uci["hedge_words"].items():
        if outcome["n"] >= 50:
            assert abs(outcome["rose"] - outcome["mean_p_rising"]) <= 0.05, (word, outcome)


@pytest.fixture(scope="module")
def uci_curve(shared_data: Path) -> pd.DataFrame:
    """The learning curve at 5 local series (5 blocks) and all, with a prior fitted on the
    training part only (it never sees a scored series)."""
    frame = read_series_csv(shared_data / "series" / "uci_facebook_palestine_hourly_dev.csv")
    train, _ = split_by_time(frame)
    prior = PriorForecaster(24).fit_table(build_features(train, 24))
    return learning_curve(frame, sizes=(5, None), prior=prior, reps={5: 5})


@pytest.mark.slow
def test_uci_prior_beats_cold_start_with_five_local_series(uci_curve: pd.DataFrame) -> None:
    """Issue 15 section 1: with 5 local series, 10 % below cold start's MAE and an 80 %
    interval that covers 0.80 +- 0.05; with all series no worse than the local model."""
    mean = uci_curve.groupby(["n_series", "model"])[["mae", "mean_origin_mae", "coverage"]].mean()
    five = mean.loc[5]
    assert five.at["production", "mae"] <= 0.90 * five.at["cold_start", "mae"], five
    assert 0.75 <= five.at["production", "coverage"] <= 0.85, five
    everything = mean.loc[mean.index.get_level_values(0).max()]
    assert everything.at["production", "mean_origin_mae"] <= 0.7945 + 0.002, everything
    assert everything.at["production", "mae"] <= everything.at["local", "mae"] + 0.002


@pytest.mark.slow
def test_reddit_model_beats_both_baselines(reddit: dict[str, Any]) -> None:
    _beats_baselines_at_every_origin(reddit)
    _five_percent_better_on_average(reddit)


@pytest.mark.slow
def test_reddit_intervals_and_probabilities(reddit: dict[str, Any]) -> None:
    models = reddit["models"]
    # 0.836 since issue 15 (0.822 before): the quantile boosters learn the spread around
    # persistence, which fixed UCI's coverage at origin 1 and costs Reddit 0.014 here.
    assert 0.77 <= models["noisecast"]["coverage_80"] <= 0.84
    assert models["noisecast"]["brier_rising"] < models["base_rate"]["brier_rising"]
    # The suggestions' words mean what they say: each well-used word came true about as
    # often as its probabilities claimed.
    for word, outcome in reddit["hedge_words"].items():
        if outcome["n"] >= 50:
            assert abs(outcome["rose"] - outcome["mean_p_rising"]) < 0.1, (word, outcome)
