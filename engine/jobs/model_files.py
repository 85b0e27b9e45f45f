"""Fitted forecast models as joblib files: written once, read back only when they are of this
code's model version and scikit-learn minor version (the hourly job checks the file's sha256
against ``model_runs.checksum`` before it calls :func:`load_forecaster`).

**The prior** (:func:`load_prior`, :func:`save_prior`): ``engine/data/forecast_prior.joblib``
with a JSON sidecar (``forecast_prior.json``: the file's sha256, model version, scikit-learn
version, training data's name, sha256 and series count). The sidecar is checked *before* the
file is unpickled: its sha256, then the versions; anything else is refused with a message that
names both versions and ``make prior``."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from importlib import resources
from pathlib import Path
from typing import Any

import joblib
import sklearn

from noisecast.engine.core.forecast import (
    MODEL_VERSION,
    BlendedForecaster,
    ColdStartForecaster,
    NoisecastForecaster,
)
from noisecast.engine.core.prior import PriorForecaster
from noisecast.engine.errors import ForecastError

__all__ = ["bundled_prior_path", "load_forecaster", "load_prior", "save_forecaster", "save_prior"]

PRIOR_FILE = "forecast_prior.joblib"


Forecaster = NoisecastForecaster | ColdStartForecaster | BlendedForecaster


def save_forecaster(model: Forecaster, path: str | Path) -> Path:
    """Write the fitted ``model`` to ``path`` with joblib; :func:`load_forecaster` reads it."""
    if not hasattr(model, "metadata_"):
        raise ForecastError(f"{model.name}: fit the model before saving it")
    target = Path(path)
    joblib.dump(model, target)
    return target


def load_forecaster(path: str | Path) -> Forecaster:
    """Read a model written by :func:`save_forecaster`; refuse files of another model version
    or scikit-learn minor version."""
    try:
        model = joblib.load(Path(path))
    except Exception as e:  # unpickling bytes that are not a model can raise almost anything
        raise ForecastError(f"{path}: cannot read a forecast model ({e!r})") from e
    if not isinstance(model, NoisecastForecaster | ColdStartForecaster | BlendedForecaster):
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


def bundled_prior_path() -> Path:
    """Where the prior shipped with the package is (it may be absent in a source checkout)."""
    return Path(str(resources.files("noisecast.engine") / "data" / PRIOR_FILE))


def sidecar_path(path: Path) -> Path:
    return path.with_suffix(".json")


def save_prior(model: PriorForecaster, path: str | Path) -> dict[str, Any]:
    """Write the fitted prior (joblib, compress=3) and its sidecar; return the sidecar."""
    if not hasattr(model, "metadata_"):
        raise ForecastError(f"{model.name}: fit the prior before saving it")
    target = Path(path)
    joblib.dump(model, target, compress=3)
    meta = model.metadata
    sidecar = {
        "file": target.name,
        "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
        "model": model.name,
        "version": MODEL_VERSION,
        "sklearn_version": sklearn.__version__,
        "horizon": model.horizon,
        "training_data": meta.get("training_data", {}),
        "n_samples": meta.get("n_samples"),
        "interval_levels": meta.get("interval_shifts", {}).get("levels"),
    }
    sidecar_path(target).write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    return sidecar


def load_prior(path: str | Path | None = None) -> PriorForecaster:
    """The prior at ``path`` (default: the bundled one), checked against its sidecar before it
    is unpickled. Raises :class:`ForecastError` saying what is wrong and what to do: the
    caller (the hourly job) logs it and forecasts with the cold-start model instead."""
    target = bundled_prior_path() if path is None or str(path) == "" else Path(path)
    what = (
        "bundled forecast prior" if path is None or str(path) == "" else f"forecast prior {target}"
    )
    try:
        sidecar = json.loads(sidecar_path(target).read_text(encoding="utf-8"))
        data = target.read_bytes()
    except (OSError, ValueError) as e:
        raise ForecastError(
            f"{what}: cannot read it or its sidecar {sidecar_path(target).name} ({e}); run "
            "`make prior` to build it, or set forecast.use_prior = false"
        ) from e
    actual = hashlib.sha256(data).hexdigest()
    if not hmac.compare_digest(actual, str(sidecar.get("sha256", ""))):
        raise ForecastError(
            f"{what}: its sha256 ({actual[:16]}…) is not the one its sidecar records "
            f"({str(sidecar.get('sha256'))[:16]}…): the file was changed, so it is not loaded; "
            "run `make prior` to rebuild it"
        )
    built, here = str(sidecar.get("sklearn_version", "?")), sklearn.__version__
    if sidecar.get("version") != MODEL_VERSION:
        raise ForecastError(
            f"{what}: built for model version {sidecar.get('version')!r} (scikit-learn "
            f"{built}); this code reads model version {MODEL_VERSION!r} (scikit-learn "
            f"{here}): run `make prior`"
        )
    if _minor(built) != _minor(here):
        raise ForecastError(
            f"{what} was built with scikit-learn {_minor(built)}; this is {_minor(here)}: run "
            f"`make prior` (or pip install scikit-learn=={_minor(built)}.*)"
        )
    try:
        model = joblib.load(io.BytesIO(data))
    except Exception as e:  # unpickling bytes that are not a model can raise almost anything
        raise ForecastError(
            f"{what}: cannot read a forecast model ({e!r}); run `make prior`"
        ) from e
    if not isinstance(model, PriorForecaster):
        raise ForecastError(f"{what}: not a noisecast prior model; run `make prior`")
    return model
