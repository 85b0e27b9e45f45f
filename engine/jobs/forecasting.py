"""The hourly forecast update: stored history -> model (refitted on a schedule) -> each active
story's forecast of its next hours -> the hedged suggestion editors review. Thin I/O around the
pure stages (noisecast.engine.core.features, noisecast.engine.core.forecast,
noisecast.engine.core.suggest).

**History.** A story's series starts at its first hour with a stored hourly row (its first
mention); ``value`` is the distinct mentions of each hour since, zeros filled, with ``outlets``
and ``engagement`` as covariates. An hour in which collection was unhealthy is *not observed*
(an empty value), never a zero: a dead collector is not a quiet story.

**Models.** A fit is a ``model_runs`` row (version, training window, samples, the backtest
metrics of a time split of the same history, the sha256 of the file) and a joblib file in
``forecast.model_dir``. A file is unpickled only if its sha256 is the recorded one
(:func:`load_verified`); otherwise, or without a recorded checksum, the model is refitted. The
hourly run reuses the newest model until it is ``forecast.refit_every_hours`` old, then refits.
With fewer than ``forecast.min_training_series`` stories that have a scorable origin, the model
is the prior fitted on public data (``forecast.use_prior``; :func:`load_prior`), else the
cold-start one (Szabo-Huberman scaling, wide intervals: every forecast says its confidence is
low). With more, the local model is blended with the prior (weight ``n / (n +
forecast.prior_blend_k)``). The prior is *checked* on this newsroom's own stories at each fit:
until ``forecast.prior_check_series`` stories have a scored forecast and its 80 % interval
covered 0.70-0.90 of them, every forecast it shapes says its confidence is low (cause
``prior``). A prior that cannot be loaded (changed file, other scikit-learn or model version)
is logged and the job forecasts without it.

**Forecasts.** At ``as_of`` (a whole hour) a story's forecast has seen the hours before it and
predicts the next ``horizon_hours``. Stored with its suggestion; each story keeps at most one
pending suggestion (Store.write_forecasts). Rerunning an hour replaces that hour's rows.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from noisecast.engine.config import Settings
from noisecast.engine.core.backtest import coverage_table, predict_rows, run_backtest
from noisecast.engine.core.features import RATE, TARGET, build_features
from noisecast.engine.core.forecast import (
    BlendedForecaster,
    ColdStartForecaster,
    NoisecastForecaster,
    fit_forecaster,
)
from noisecast.engine.core.prior import PriorForecaster
from noisecast.engine.core.suggest import Cause, suggest
from noisecast.engine.errors import ForecastError
from noisecast.engine.jobs.model_files import load_forecaster, load_prior, save_forecaster
from noisecast.engine.schema import (
    ENGAGEMENT,
    HOUR,
    LOW_CONFIDENCE,
    MENTIONS,
    MODEL,
    ORIGIN,
    OUTLETS,
    P10,
    P50,
    P90,
    P_RISING,
    REASON,
    SERIES,
    STORY,
    TS,
    VALUE,
    floor_hour,
)
from noisecast.engine.store import Store

log = logging.getLogger("noisecast.forecast")

Forecaster = NoisecastForecaster | ColdStartForecaster | BlendedForecaster
PRIOR_COVERAGE = (0.70, 0.90)  # the prior's local 80 % coverage that counts as checked


@dataclass(frozen=True, slots=True)
class ForecastReport:
    as_of: datetime
    model_version: str
    refitted: bool
    forecasts: int
    queued: int  # new pending suggestions
    low_confidence: int


def history_series(
    hourly: pd.DataFrame,
    starts: dict[str, datetime],
    end: datetime,
    unhealthy_hours: set[datetime] | frozenset[datetime] = frozenset(),
) -> pd.DataFrame:
    """The long-format series (``series, ts, value, outlets, engagement``) of the stories in
    ``starts``, each from its start to the hour before ``end``, zeros filled, unhealthy hours
    empty. ``hourly`` is the stored (sparse) hourly frame."""
    end = pd.Timestamp(floor_hour(end))
    slugs = sorted(starts)
    first = pd.DatetimeIndex([pd.Timestamp(starts[slug]) for slug in slugs], tz="UTC").floor("h")
    lengths = np.maximum((end - first) // pd.Timedelta(hours=1), 0).to_numpy(np.int64)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    hours = first.repeat(lengths) + pd.to_timedelta(offsets, unit="h")
    keys = pd.MultiIndex.from_arrays(
        [np.repeat(np.array(slugs, dtype=object), lengths), hours], names=[STORY, HOUR]
    )
    columns = [MENTIONS, OUTLETS, ENGAGEMENT]
    stored = hourly.set_index([STORY, HOUR])[columns] if len(hourly) else None
    values = (
        np.zeros((len(keys), 3))
        if stored is None
        else stored.reindex(keys, fill_value=0).to_numpy(float)
    )
    if unhealthy_hours:
        values[hours.isin(pd.DatetimeIndex(sorted(unhealthy_hours)))] = np.nan
    return pd.DataFrame(
        {
            SERIES: pd.Series(keys.get_level_values(0), dtype=str),
            TS: pd.Series(hours, dtype="datetime64[us, UTC]"),
            VALUE: values[:, 0],
            OUTLETS: values[:, 1],
            ENGAGEMENT: values[:, 2],
        }
    )


def load_history(store: Store, settings: Settings, end: datetime) -> pd.DataFrame:
    """Every story's series over the training window before ``end``."""
    since = floor_hour(end) - timedelta(days=settings.forecast.training_days)
    starts = {slug: max(first, since) for slug, first in store.story_starts().items()}
    health = store.health_frame(since, end)
    unhealthy = set(health.loc[health["unhealthy"].astype(bool), HOUR]) if len(health) else set()
    return history_series(store.hourly_frame(since, end), starts, end, unhealthy)


def fit_model(
    store: Store, settings: Settings, *, now: datetime, history: pd.DataFrame | None = None
) -> tuple[Forecaster, str]:
    """Fit on the stored history, save the model, record the run; (model, version)."""
    horizon = settings.forecast.horizon_hours
    as_of = floor_hour(now)
    history = load_history(store, settings, as_of) if history is None else history
    table = build_features(history, horizon) if len(history) else None
    scorable = 0 if table is None else int(table.loc[table["target"].notna(), SERIES].nunique())
    prior = _prior(settings)
    model: Forecaster
    if table is None or scorable < settings.forecast.min_training_series:
        reason = (
            f"too little history to fit the model yet ({scorable} stories have {horizon} "
            f"hours on record after a forecast point; it needs "
            f"{settings.forecast.min_training_series}, forecast.min_training_series)"
        )
        metrics: dict[str, Any] = {"skipped": reason}
        if prior is not None:
            model = prior
        else:
            model = ColdStartForecaster(horizon, reason=reason)
            model.fit(history)
    else:
        model = fit_forecaster(table, horizon, prior=prior, blend_k=settings.forecast.prior_blend_k)
        metrics = _backtest_metrics(history, horizon)
    if prior is not None:
        check = check_prior(prior, table, settings.forecast.prior_check_series)
        metrics["prior_check"] = check
        model.metadata_["prior_check"] = check
    version = base = f"{model.name}-{as_of:%Y%m%dT%H%MZ}"
    taken = set(store.model_runs_frame()["version"])
    for n in range(2, len(taken) + 2):  # a forced refit within the same hour
        if version not in taken:
            break
        version = f"{base}-{n}"
    directory = Path(settings.forecast.model_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = save_forecaster(model, directory / f"{version}.joblib")
    checksum = file_checksum(path)
    meta = model.metadata
    store.record_model_run(
        version=version,
        model=model.name,
        trained_at=as_of,
        train_start=_time(meta.get("trained_from")),
        train_end=_time(meta.get("trained_to")),
        samples=int(meta.get("n_samples", 0)),
        metrics=metrics,
        path=str(path),
        checksum=checksum,
    )
    log.info(
        "fitted %s on %d samples", version, meta.get("n_samples", 0), extra={"job": "forecast"}
    )
    return model, version


def _prior(settings: Settings) -> PriorForecaster | None:
    """The prior, or None when it is switched off or refused (logged: then cold start)."""
    if not settings.forecast.use_prior:
        return None
    try:
        prior = load_prior(settings.forecast.prior_path or None)
    except ForecastError as e:
        log.warning("%s; forecasting without the prior", e, extra={"job": "forecast"})
        return None
    if prior.horizon != settings.forecast.horizon_hours:
        log.warning(
            "the forecast prior forecasts %d hours ahead, forecast.horizon_hours is %d; "
            "forecasting without the prior",
            prior.horizon,
            settings.forecast.horizon_hours,
            extra={"job": "forecast"},
        )
        return None
    return prior


def check_prior(
    prior: PriorForecaster, table: pd.DataFrame | None, min_series: int
) -> dict[str, Any]:
    """The prior scored on this newsroom's own history (it never saw it): ``checked`` when at
    least ``min_series`` stories have a scored forecast and its 80 % interval covered
    :data:`PRIOR_COVERAGE` of them; ``note`` says why not, for editors."""
    known = None if table is None else table[table[TARGET].notna()]
    n_series = 0 if known is None else int(known[SERIES].nunique())
    out: dict[str, Any] = {"n_series": n_series, "coverage_80": None, "mae_log1p": None}
    if known is None or n_series < min_series:
        out["checked"] = False
        out["note"] = (
            f"the prior learnt on public data is not yet checked on this newsroom's stories "
            f"({n_series} have a scored forecast; forecast.prior_check_series is {min_series})"
        )
        return out
    overall = coverage_table(predict_rows(prior, known)).iloc[-1]
    coverage = float(overall["coverage"])
    out.update(coverage_80=coverage, mae_log1p=float(overall["mae_log1p"]))
    low, high = PRIOR_COVERAGE
    out["checked"] = bool(low <= coverage <= high)
    out["note"] = (
        ""
        if out["checked"]
        else f"the prior learnt on public data covered {coverage:.0%} of this newsroom's "
        f"{n_series} stories with its 80% interval (outside {low:.0%}-{high:.0%})"
    )
    return out


def _backtest_metrics(history: pd.DataFrame, horizon: int) -> dict[str, Any]:
    """The time-split backtest of the same history (overall figures), or why there is none."""
    try:
        result = run_backtest(history, None, horizon=horizon)
    except ForecastError as e:
        return {"skipped": str(e)}
    return {"horizon": horizon, "models": result["models"]}


def _time(value: object) -> datetime | None:
    return None if value is None else pd.Timestamp(str(value)).to_pydatetime()


def file_checksum(path: Path) -> str:
    """The sha256 (hex) of a model file, as ``model_runs.checksum`` records it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_verified(run: dict[str, Any]) -> Forecaster:
    """The model of a ``model_runs`` row, unpickled only if its file's sha256 is the one
    recorded when it was written. The bytes are read once, checked, and loaded from a private
    copy, so that the file cannot change between the check and the load. A missing checksum
    (a run recorded before checksums were) or a mismatch raises ForecastError: refit."""
    path = Path(run["path"])
    expected = run.get("checksum")
    if not expected:
        raise ForecastError(
            f"model run {run['version']}: no checksum recorded for {path}, so it is not "
            "loaded unverified"
        )
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ForecastError(f"{path}: cannot read the model file ({e.strerror})") from e
    actual = hashlib.sha256(data).hexdigest()
    if not hmac.compare_digest(actual, str(expected)):
        raise ForecastError(
            f"{path}: its sha256 ({actual[:16]}…) is not the one recorded when model run "
            f"{run['version']} wrote it ({str(expected)[:16]}…): the file was changed, so it "
            "is not loaded"
        )
    with tempfile.TemporaryDirectory(prefix="noisecast-model-") as private:
        copy = Path(private) / path.name
        copy.write_bytes(data)
        try:
            return load_forecaster(copy)
        except ForecastError as e:
            raise ForecastError(str(e).replace(str(copy), str(path))) from e


def current_model(
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    refit: bool = False,
    history: pd.DataFrame | None = None,
) -> tuple[Forecaster, str, bool]:
    """The newest model if it is young enough and readable, else a fresh fit (on ``history``
    when given, else the stored one); (model, version, refitted)."""
    run = None if refit else store.latest_model_run()
    if run is not None:
        age = floor_hour(now) - run["trained_at"]
        if age < timedelta(hours=settings.forecast.refit_every_hours) and run["path"]:
            try:
                model = load_verified(run)
                if model.horizon == settings.forecast.horizon_hours:
                    return model, str(run["version"]), False
            except ForecastError as e:
                log.warning("refitting: %s", e, extra={"job": "forecast"})
    model, version = fit_model(store, settings, now=now, history=history)
    return model, version, True


def update_forecasts(
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    refit: bool = False,
    health_note: str | None = None,
) -> ForecastReport:
    """Forecast every active story at the hour ``now`` falls in, store forecasts and
    suggestions; refit first when the model is due (or ``refit``). ``health_note`` (collection
    was unhealthy, and why) makes every forecast low-confidence and says so."""
    as_of = floor_hour(now)
    horizon = settings.forecast.horizon_hours
    stored = load_history(store, settings, as_of)  # once: to fit (all stories) and to forecast
    model, version, refitted = current_model(store, settings, now=now, refit=refit, history=stored)
    active = {s["slug"]: s for s in store.list_stories("active")}
    history = stored[stored[SERIES].isin(active)]
    rows: list[dict[str, Any]] = []
    if len(history):
        ages = history.groupby(SERIES).size()
        table = build_features(history, horizon, origins=None)
        table = table[table[ORIGIN] == table[SERIES].map(ages)]  # "now": every hour seen
        predicted = model.predict_table(table).set_index(SERIES)
        by_story = table.set_index(SERIES)
        check = model.metadata.get("prior_check") or {}
        unchecked = str(check.get("note", "")) if check.get("checked") is False else None
        for slug, p in predicted.iterrows():
            observed = int(by_story.at[slug, "observed_hours"])
            rate = float(by_story.at[slug, RATE])
            rows.append(
                _row(
                    str(slug),
                    p,
                    rate,
                    observed,
                    active,
                    version,
                    as_of,
                    settings,
                    health_note,
                    unchecked,
                )
            )
    queued = store.write_forecasts(rows, min_change=settings.review.supersede_min_change)
    report = ForecastReport(
        as_of, version, refitted, len(rows), queued, sum(r["low_confidence"] for r in rows)
    )
    log.info(
        "forecast %d stories with %s (%d new suggestions, %d low confidence)",
        report.forecasts,
        version,
        report.queued,
        report.low_confidence,
        extra={"job": "forecast"},
    )
    return report


def public_causes(
    model: str, observed_hours: int, health_note: str | None, prior_unchecked: bool = False
) -> list[Cause]:
    """Why a forecast's confidence is low, in the published words of
    :data:`noisecast.engine.core.suggest.CAUSES` (the editor-facing reason, ``confidence_note``,
    says it with the numbers and settings)."""
    causes: list[Cause] = []
    if model == ColdStartForecaster.name:
        causes.append("history")
    elif prior_unchecked:
        causes.append("prior")
    if model != ColdStartForecaster.name and observed_hours == 0:
        causes.append("new")
    if health_note is not None:
        causes.append("collection")
    return causes


def _row(
    slug: str,
    p: pd.Series,
    rate: float,
    observed_hours: int,
    active: dict[str, dict[str, Any]],
    version: str,
    as_of: datetime,
    settings: Settings,
    health_note: str | None = None,
    prior_unchecked: str | None = None,
) -> dict[str, Any]:
    horizon = settings.forecast.horizon_hours
    shaped = str(p[MODEL]) in (PriorForecaster.name, BlendedForecaster.name)
    unchecked = prior_unchecked if shaped else None
    low = bool(p[LOW_CONFIDENCE]) or health_note is not None or unchecked is not None
    notes = (str(p[REASON]), unchecked or "", health_note or "")
    reason = "; ".join(r for r in notes if r) or None
    s = suggest(
        active[slug]["title"],
        horizon_hours=horizon,
        p10=float(p[P10]),
        p90=float(p[P90]),
        prob_rising=float(p[P_RISING]),
        low_confidence=low,
        causes=public_causes(str(p[MODEL]), observed_hours, health_note, unchecked is not None),
        lead=settings.review.hedge_lead,
        close=settings.review.hedge_close,
    )
    return {
        "story": slug,
        "as_of": as_of,
        "horizon_hours": horizon,
        "model_version": version,
        "model": str(p[MODEL]),
        "p10": float(p[P10]),
        "p50": float(p[P50]),
        "p90": float(p[P90]),
        "prob_rising": float(p[P_RISING]),
        "current_rate": rate,
        "hedge_word": s.word,
        "low_confidence": low,
        "confidence_note": reason,
        "suggested_text": s.text,
        "created_at": as_of,
    }
