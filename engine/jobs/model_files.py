"""Fitted forecast models as joblib files: written once, read back only when they are of this
code's model version and scikit-learn minor version (the hourly job checks the file's sha256
against ``model_runs.checksum`` before it calls :func:`load_forecaster`)."""

from __future__ import annotations

from pathlib import Path

import joblib
import sklearn

from noisecast.engine.core.forecast import (
    MODEL_VERSION,
    ColdStartForecaster,
    NoisecastForecaster,
)
from noisecast.engine.errors import ForecastError

__all__ = ["load_forecaster", "save_forecaster"]


def save_forecaster(model: NoisecastForecaster | ColdStartForecaster, path: str | Path) -> Path:
    """Write the fitted ``model`` to ``path`` with joblib; :func:`load_forecaster` reads it."""
    if not hasattr(model, "metadata_"):
        raise ForecastError(f"{model.name}: fit the model before saving it")
    target = Path(path)
    joblib.dump(model, target)
    return target


def load_forecaster(path: str | Path) -> NoisecastForecaster | ColdStartForecaster:
    """Read a model written by :func:`save_forecaster`; refuse files of another model version
    or scikit-learn minor version."""
    try:
        model = joblib.load(Path(path))
    except Exception as e:  # unpickling bytes that are not a model can raise almost anything
        raise ForecastError(f"{path}: cannot read a forecast model ({e!r})") from e
    if not isinstance(model, NoisecastForecaster | ColdStartForecaster):
        raise ForecastError(f"{path}: not a noisecast forecast model")
    meta = model.metadata
    if meta.get("version") != MODEL_VERSION:
        raise ForecastError(
            f"{path}: model version {meta.get('version')!r}, this code reads "
            f"{MODEL_VERSION!r}; refit the model"
        )
    if _minor(meta.get("sklearn_version", "")) != _minor(sklearn.__version__):
        raise ForecastError(
            f"{path}: fitted with scikit-learn {meta.get('sklearn_version')}, this is "
            f"{sklearn.__version__}; refit the model"
        )
    return model


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])
