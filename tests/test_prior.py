"""The forecast prior (issue 15): scale-free features, the bundled artefact and its sidecar,
refusals (changed file, other scikit-learn or model version) with the job's fallback to cold
start, and a reproducible rebuild."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn

from bench.build_prior import SOURCE, build
from noisecast.engine.config import ForecastSettings, Settings
from noisecast.engine.core.features import (
    BASE_FEATURES,
    SCALE_FREE_FEATURES,
    build_features,
    scale_free_features,
)
from noisecast.engine.core.forecast import MODEL_VERSION
from noisecast.engine.core.prior import PriorForecaster
from noisecast.engine.errors import ForecastError
from noisecast.engine.jobs import model_files
from noisecast.engine.jobs.forecasting import fit_model
from noisecast.engine.jobs.model_files import bundled_prior_path, load_prior
from noisecast.engine.store import Store

from .test_forecast import synthetic


@pytest.fixture(scope="module")
def prior() -> PriorForecaster:
    return load_prior()


def _copy_prior(directory: Path) -> Path:
    bundled = bundled_prior_path()
    target = directory / bundled.name
    shutil.copy(bundled, target)
    shutil.copy(bundled.with_suffix(".json"), target.with_suffix(".json"))
    return target


def test_scale_free_features_do_not_see_the_level() -> None:
    assert "hour_of_day" not in SCALE_FREE_FEATURES
    assert not {"log_total", "log_rate", "lag1", "log_peak", "log_first"} & set(SCALE_FREE_FEATURES)
    series = synthetic(n_series=30, hours=30, seed=3)
    big = series.assign(value=series["value"] * 1000 + 1000)
    bigger = series.assign(value=big["value"] * 10)
    a = scale_free_features(build_features(big, 24))
    b = scale_free_features(build_features(bigger, 24))
    assert list(a.columns) == list(SCALE_FREE_FEATURES)
    # log1p(10 x) - log1p(10 y) = log(x / y) up to 1/x: counts of 1000 and more leave 1e-3.
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), atol=2e-3, equal_nan=True)
    levels = build_features(big, 24)[["log_total", "log_rate"]].to_numpy()
    assert not np.allclose(levels, build_features(bigger, 24)[["log_total", "log_rate"]])
    assert set(SCALE_FREE_FEATURES) - set(BASE_FEATURES) == {
        c for c in SCALE_FREE_FEATURES if c.startswith("r_")
    }


def test_the_prior_forecasts_in_proportion_to_the_story(prior: PriorForecaster) -> None:
    series = synthetic(n_series=20, hours=30, seed=4)
    big = series.assign(value=series["value"] * 1000 + 1000)
    bigger = series.assign(value=big["value"] * 10)
    a = prior.predict(big, origins=[12]).set_index("series")
    b = prior.predict(bigger, origins=[12]).set_index("series")
    ratio = b["p50"] / a["p50"]
    np.testing.assert_allclose(ratio, 10, rtol=0.02)
    assert (a["p10"] <= a["p50"]).all() and (a["p50"] <= a["p90"]).all()


def test_the_bundled_prior_matches_its_sidecar_and_its_training_data(
    prior: PriorForecaster, shared_data: Path
) -> None:
    path = bundled_prior_path()
    sidecar = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sidecar["sha256"]
    assert sidecar["version"] == MODEL_VERSION and sidecar["model"] == "prior"
    assert sidecar["sklearn_version"].split(".")[:2] == sklearn.__version__.split(".")[:2]
    data = (shared_data / "series" / SOURCE.name).read_bytes()
    training = sidecar["training_data"]
    assert hashlib.sha256(data).hexdigest() == training["sha256"]
    assert training["n_series"] == 5028 and "CC BY 4.0" in training["licence"]
    assert prior.metadata["training_data"] == training
    assert prior.max_age_ == 24  # 48-hour series: no target past origin 24


def test_a_changed_file_is_refused_before_it_is_unpickled(tmp_path: Path) -> None:
    path = _copy_prior(tmp_path)
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(
        ForecastError, match=r"sha256 .* not the one its sidecar records.*make prior"
    ):
        load_prior(path)
    path.with_suffix(".json").unlink()
    with pytest.raises(ForecastError, match="cannot read it or its sidecar"):
        load_prior(path)


def test_another_scikit_learn_or_model_version_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _copy_prior(tmp_path)
    built = json.loads(path.with_suffix(".json").read_text())["sklearn_version"]
    built_minor = ".".join(built.split(".")[:2])
    monkeypatch.setattr(sklearn, "__version__", "0.99.1")
    with pytest.raises(ForecastError) as caught:
        load_prior(path)
    message = str(caught.value)
    assert f"built with scikit-learn {built_minor}; this is 0.99" in message
    assert "make prior" in message and f"scikit-learn=={built_minor}.*" in message
    monkeypatch.undo()
    sidecar = json.loads(path.with_suffix(".json").read_text())
    path.with_suffix(".json").write_text(json.dumps({**sidecar, "version": "1"}))
    with pytest.raises(ForecastError, match=r"model version '1'.*make prior"):
        load_prior(path)


def test_the_job_falls_back_to_cold_start_when_the_prior_is_refused(
    sqlite_store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _copy_prior(tmp_path)
    path.write_bytes(b"not a model")
    forecast = ForecastSettings(model_dir=str(tmp_path / "models"), prior_path=str(path))
    settings = Settings().model_copy(update={"forecast": forecast})
    now = pd.Timestamp("2026-01-10T00:00Z").to_pydatetime()
    history = synthetic(n_series=3, hours=30, seed=1)
    history["ts"] = history["ts"] + (now - timedelta(hours=40) - history["ts"].min())
    with caplog.at_level(logging.WARNING, logger="noisecast.forecast"):
        model, _ = fit_model(sqlite_store, settings, now=now, history=history)
    assert model.name == "cold_start"
    assert "forecasting without the prior" in caplog.text and "make prior" in caplog.text
    off = settings.model_copy(
        update={"forecast": forecast.model_copy(update={"use_prior": False, "prior_path": ""})}
    )
    assert fit_model(sqlite_store, off, now=now, history=history)[0].name == "cold_start"
    on = settings.model_copy(update={"forecast": forecast.model_copy(update={"prior_path": ""})})
    model, _ = fit_model(sqlite_store, on, now=now, history=history)
    assert model.name == "prior" and model.metadata["prior_check"]["checked"] is False


@pytest.mark.slow
def test_make_prior_rebuilds_the_same_model(
    tmp_path: Path, prior: PriorForecaster, shared_data: Path
) -> None:
    sidecar = build(shared_data / "series" / SOURCE.name, out=tmp_path)
    assert sidecar["training_data"] == prior.metadata["training_data"]
    rebuilt = load_prior(tmp_path / model_files.PRIOR_FILE)
    table = build_features(synthetic(n_series=40, hours=30, seed=9), 24)
    pd.testing.assert_frame_equal(rebuilt.predict_table(table), prior.predict_table(table))
