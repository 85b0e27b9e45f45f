"""Forecasting a series' attention over the next H hours: the model, its baselines, save/load.

Pure: frames in, frames out (:mod:`noisecast.engine.jobs.model_files` writes and reads fitted
models). Input is the long format of :mod:`noisecast.engine.core.features`;
every forecast is for an origin ``o`` and the total of hours ``o .. o+H-1``.

**The model** (:class:`NoisecastForecaster`): one global scikit-learn model across series, on
the features of :func:`noisecast.engine.core.features.build_features`, predicting ``log1p`` of the
next-H total. Training series are split by start time: the earliest ``1 - calibration_share`` *fit*,
the latest *calibrate* (the newest data is the best stand-in for the data to come).

- ``p50``: gradient boosting with absolute-error loss (the metric is MAE on log1p, whose best
  point is the conditional median), refit on all training series once the calibration part has
  been used.
- ``p10``/``p90``: conformalized quantile regression. Quantile boosters for 0.1 and 0.9 are fit
  on the fit part, on the spread of log1p(target) around persistence (``log1p(rate x H)``:
  it drifts less from older to newer series than the level); on the calibration part each
  tail gets a shift per origin-age bucket (:data:`AGE_BUCKETS`), measured on the *rounded*
  interval shown (``p10 = floor``, ``p90 = ceil``) and, for zero-heavy counts, on outcomes
  >= 1 only with a cap on the overall coverage (Mondrian: :mod:`noisecast.engine.core._intervals`).
- ``p_rising``: a gradient-boosting classifier of "the next-H total exceeds rate x H" (rate:
  :data:`noisecast.engine.core.features.RATE`), calibrated out of fold (``CalibratedClassifierCV``
  over ``rising_folds`` blocks of training series by start time; isotonic with at least 1000
  samples a block, Platt scaling below that).

**Baselines** (:mod:`noisecast.engine.core.baselines`, re-exported here): :func:`persistence`,
:class:`SzaboHuberman` (constant scaling), :class:`BaseRate` (the base rate of rising).
**Cold start**: with fewer than
``min_train_samples`` scored training samples :func:`fit_forecaster` returns the prior when it
is given (:class:`noisecast.engine.core.prior.PriorForecaster`, fitted on public data), else a
:class:`ColdStartForecaster` (Szabo-Huberman, wide interval, ``low_confidence=True``); with
enough, the local model blended with the prior (:class:`BlendedForecaster`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from noisecast.engine.core._intervals import AGE_BUCKETS, CAP, bucket, interval_shifts
from noisecast.engine.core.baselines import BaseRate, SzaboHuberman, persistence
from noisecast.engine.core.features import RATE, RISING, TARGET, build_features, feature_columns
from noisecast.engine.errors import ForecastError
from noisecast.engine.schema import (
    CUTOFF,
    FORECAST_COLUMNS,
    LOW_CONFIDENCE,
    MODEL,
    ORIGIN,
    P10,
    P50,
    P90,
    P_RISING,
    REASON,
    SERIES,
)

__all__ = [
    "AGE_BUCKETS",
    "MODEL_VERSION",
    "BaseRate",
    "BlendedForecaster",
    "ColdStartForecaster",
    "NoisecastForecaster",
    "SzaboHuberman",
    "fit_forecaster",
    "persistence",
]

Array = npt.NDArray[np.float64]
MODEL_VERSION = "2"  # bump when features or method change: old files then refuse to load
_NO_HISTORY = "no hour of this series observed before the origin; the forecast rests on its age"


class _Forecaster:
    """What every forecaster shares: predict from series, the output frame, save."""

    name = "forecaster"
    horizon: int
    metadata_: dict[str, Any]

    def predict(self, series: pd.DataFrame, origins: Sequence[int] | None = None) -> pd.DataFrame:
        """Forecasts (:data:`noisecast.engine.schema.FORECAST_COLUMNS`) for each series and origin.

        ``origins`` are ages in hours; default every hour from 1 to each series' length (the
        last one is "now": it has seen every row).
        """
        return self.predict_table(build_features(series, self.horizon, origins))

    def predict_table(self, table: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError

    @property
    def metadata(self) -> dict[str, Any]:
        """Version, training window, sample counts, parameters, library versions."""
        return dict(self.metadata_)

    def _log_frame(
        self, table: pd.DataFrame, lower: Array, mid: Array, upper: Array, p_rising: Array
    ) -> pd.DataFrame:
        """The output frame from log1p-scale bounds: ``p10 = floor(expm1(lower))``, ``p50 =
        expm1(mid)``, ``p90 = ceil(expm1(upper))``, then put in order by :meth:`_frame`.

        The bounds are not sorted on the log scale: the conformal shifts are measured on the
        rounded counts, so a lower bound may sit above the median and still floor to a count
        below it (a bound of 0.6 shows as p10 = 0)."""
        return self._frame(
            table,
            np.floor(np.expm1(lower) + 1e-9),
            np.expm1(np.maximum(mid, 0.0)),
            np.ceil(np.expm1(upper) - 1e-9),
            p_rising,
        )

    def _frame(
        self, table: pd.DataFrame, p10: Array, p50: Array, p90: Array, p_rising: Array
    ) -> pd.DataFrame:
        # In order: p10 <= p50 <= p90 (a quantile booster on the wrong side of the median
        # gives a one-sided interval, never a crossed one).
        p50 = np.maximum(p50, 0.0)
        p10 = np.minimum(np.maximum(p10, 0.0), np.floor(p50))
        p90 = np.maximum(p90, np.ceil(p50))
        return pd.DataFrame(
            {
                SERIES: table[SERIES].to_numpy(),
                ORIGIN: table[ORIGIN].to_numpy(np.int64),
                CUTOFF: table[CUTOFF].to_numpy(),
                P10: p10,
                P50: p50,
                P90: p90,
                P_RISING: np.clip(p_rising, 0.0, 1.0),
                LOW_CONFIDENCE: False,
                REASON: "",
                MODEL: self.name,
            },
            columns=list(FORECAST_COLUMNS),
        )


def _window(table: pd.DataFrame, horizon: int) -> dict[str, Any]:
    start = table[CUTOFF] - pd.to_timedelta(table[ORIGIN], unit="h")
    end = table[CUTOFF] + pd.Timedelta(hours=horizon)
    known = table[TARGET].notna()
    return {
        "trained_from": None if table.empty else start.min().isoformat(),
        "trained_to": None if not known.any() else end[known].max().isoformat(),
        "n_series": int(table.loc[known, SERIES].nunique()),
        "n_samples": int(known.sum()),
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "pandas_version": pd.__version__,
    }


class ColdStartForecaster(_Forecaster):
    """Too little history for the global model: Szabo-Huberman with a wide interval.

    ``p50`` = :class:`SzaboHuberman`'s forecast; ``p10``/``p90`` = ``p50`` scaled down/up by
    ``exp(log_width)`` on the log1p scale (about x7 by default), floored/ceiled; ``p_rising`` =
    the training base rate (0.5 without one). Every row has ``low_confidence=True`` and the
    reason.
    """

    name = "cold_start"

    def __init__(self, horizon: int = 24, log_width: float = 2.0, reason: str = "") -> None:
        self.horizon = horizon
        self.log_width = log_width
        self.reason = reason

    def fit(self, series: pd.DataFrame) -> ColdStartForecaster:
        return self.fit_table(build_features(series, self.horizon))

    def fit_table(self, table: pd.DataFrame) -> ColdStartForecaster:
        self.scaling_ = SzaboHuberman().fit(table)
        self.base_rate_ = BaseRate().fit(table)
        self.metadata_ = {
            "model": self.name,
            "version": MODEL_VERSION,
            "horizon": self.horizon,
            **_window(table, self.horizon),
            "params": {"log_width": self.log_width},
            "reason": self.reason,
        }
        return self

    def predict_table(self, table: pd.DataFrame) -> pd.DataFrame:
        mid = np.log1p(np.maximum(self.scaling_.predict(table), 0.0))
        out = self._frame(
            table,
            np.floor(np.expm1(mid - self.log_width) + 1e-9),
            np.expm1(mid),
            np.ceil(np.expm1(mid + self.log_width) - 1e-9),
            self.base_rate_.predict_proba(table),
        )
        out[LOW_CONFIDENCE] = True
        out[REASON] = self.reason or "cold start: too little training history"
        return out


class NoisecastForecaster(_Forecaster):
    """The global model: see the module docstring. scikit-learn style: ``fit`` returns self.

    ``interval_folds`` >= 2 calibrates the interval across that many time-ordered blocks of
    training series (cross-conformal: each block's bounds come from boosters fitted on the
    others, so every series calibrates and the newest block weighs in); 0 or 1 keeps the split
    of ``calibration_share``. ``mondrian`` (default) calibrates on outcomes >= 1 with the cap
    of :mod:`noisecast.engine.core._intervals`; ``False`` is plain CQR on all outcomes.
    """

    name = "noisecast"

    def __init__(
        self,
        horizon: int = 24,
        coverage: float = 0.8,
        calibration_share: float = 0.2,
        min_bucket_samples: int = 100,
        max_iter: int = 100,
        learning_rate: float = 0.1,
        random_state: int = 0,
        rising_folds: int = 5,
        n_threads: int | None = 1,
        interval_folds: int = 0,
        mondrian: bool = True,
        cap: float = CAP,
        interval_anchor: bool = True,
    ) -> None:
        if not 0 < coverage < 1 or not 0 < calibration_share < 1:
            raise ForecastError("coverage and calibration_share must be between 0 and 1")
        self.horizon = horizon
        self.coverage = coverage
        self.calibration_share = calibration_share
        self.min_bucket_samples = min_bucket_samples
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.random_state = random_state
        self.rising_folds = rising_folds
        self.n_threads = n_threads
        self.interval_folds = interval_folds
        self.mondrian = mondrian
        self.cap = cap
        self.interval_anchor = interval_anchor

    # --- what a subclass may change: the design matrix and the anchor of the target --------

    def _design(self, table: pd.DataFrame) -> pd.DataFrame:
        """Every candidate feature of ``table`` (fitting keeps those with a value)."""
        return table[feature_columns(table)]

    def _anchor(self, table: pd.DataFrame) -> Array:
        """The log1p level the boosters predict from (0: they predict log1p itself)."""
        return np.zeros(len(table))

    def _bound_anchor(self, table: pd.DataFrame) -> Array:
        """The level the quantile boosters predict from: with ``interval_anchor``, persistence
        (``log1p(rate x H)``), so that the interval is learnt as a spread around the story's
        own rate (it then holds its calibration from older to newer series far better: the
        level drifts, the spread less); else the median's anchor."""
        if self.interval_anchor:
            return np.log1p(table[RATE].to_numpy(float) * self.horizon)
        return self._anchor(table)

    def _x(self, table: pd.DataFrame) -> pd.DataFrame:
        return self._design(table)[self.columns_]

    def _y(self, table: pd.DataFrame) -> Array:
        return np.log1p(table[TARGET].to_numpy(float)) - self._anchor(table)

    def _ages(self, table: pd.DataFrame) -> npt.NDArray[np.int64]:
        return table[ORIGIN].to_numpy(np.int64)

    def _booster(self, **loss: Any) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            early_stopping=False,
            random_state=self.random_state,
            **loss,
        )

    def fit(self, series: pd.DataFrame) -> Self:
        return self.fit_table(build_features(series, self.horizon))

    def fit_table(self, table: pd.DataFrame) -> Self:
        """Fit on a :func:`build_features` table (rows without a target are ignored)."""
        with self._threads():
            return self._fit_table(table)

    def _threads(self) -> Any:
        """OpenMP threads for the boosters: 1 by default. At these sizes more threads gain
        little, and on a busy machine their spin-waiting slowed a backtest 50-fold."""
        if self.n_threads is None:
            return contextlib.nullcontext()
        return threadpool_limits(limits=self.n_threads, user_api="openmp")

    def _fit_table(self, table: pd.DataFrame) -> Self:
        known = table[table[TARGET].notna()]
        fit_part, cal_part = _split_by_start(known, self.calibration_share)
        if fit_part.empty or cal_part.empty:
            raise ForecastError(
                f"{self.name}: need training series both to fit and to calibrate; got "
                f"{known[SERIES].nunique()} series with a scored origin (use fit_forecaster, "
                "which falls back to ColdStartForecaster)"
            )
        # Columns that are all missing in the fit part carry nothing (and break the binner).
        design = self._design(fit_part)
        self.columns_ = [c for c in design.columns if design[c].notna().any()]
        self._calibrate_interval(known, fit_part, cal_part)
        self._fit_rising(known)
        self.median_ = self._booster(loss="absolute_error")
        self.median_.fit(self._x(known), self._y(known))
        self.metadata_ = {
            "model": self.name,
            "version": MODEL_VERSION,
            "horizon": self.horizon,
            **_window(table, self.horizon),
            "n_fit": len(fit_part),
            "n_calibration": len(cal_part),
            "features": list(self.columns_),
            "params": {
                "coverage": self.coverage,
                "calibration_share": self.calibration_share,
                "min_bucket_samples": self.min_bucket_samples,
                "max_iter": self.max_iter,
                "learning_rate": self.learning_rate,
                "random_state": self.random_state,
                "rising_folds": self.rising_folds,
                "n_threads": self.n_threads,
                "interval_folds": self.interval_folds,
                "mondrian": self.mondrian,
                "cap": self.cap,
                "interval_anchor": self.interval_anchor,
            },
            "interval_shifts": {
                "buckets": list(AGE_BUCKETS),
                "lower": self.lower_shift_.tolist(),
                "upper": self.upper_shift_.tolist(),
                "levels": {str(k): v for k, v in self.interval_levels_.items()},
            },
            "rising_calibration": self.rising_method_,
        }
        return self

    def _bounds_fit(
        self, part: pd.DataFrame
    ) -> tuple[HistGradientBoostingRegressor, HistGradientBoostingRegressor]:
        tail = (1 - self.coverage) / 2
        lower = self._booster(loss="quantile", quantile=tail)
        upper = self._booster(loss="quantile", quantile=1 - tail)
        x = self._x(part)
        y = np.log1p(part[TARGET].to_numpy(float)) - self._bound_anchor(part)
        return lower.fit(x, y), upper.fit(x, y)

    def _calibrate_interval(
        self, known: pd.DataFrame, fit_part: pd.DataFrame, cal_part: pd.DataFrame
    ) -> None:
        """Quantile boosters and their per-bucket conformal shifts (see _intervals)."""
        n_folds = min(self.interval_folds, known[SERIES].nunique())
        if n_folds >= 2:
            blocks = _time_blocks(known, n_folds)
            lower, upper = np.zeros(len(known)), np.zeros(len(known))
            for b in range(n_folds):
                mine = blocks == b
                lo_b, hi_b = self._bounds_fit(known[~mine])
                x, anchor = self._x(known[mine]), self._bound_anchor(known[mine])
                lower[mine] = anchor + lo_b.predict(x)
                upper[mine] = anchor + hi_b.predict(x)
            self.lower_, self.upper_ = self._bounds_fit(known)
            held_out = known
        else:
            self.lower_, self.upper_ = self._bounds_fit(fit_part)
            x, anchor = self._x(cal_part), self._bound_anchor(cal_part)
            lower = anchor + self.lower_.predict(x)
            upper = anchor + self.upper_.predict(x)
            held_out = cal_part
        shifts = interval_shifts(
            lower,
            upper,
            held_out[TARGET].to_numpy(float),
            self._ages(held_out),
            coverage=self.coverage,
            min_bucket_samples=self.min_bucket_samples,
            mondrian=self.mondrian,
            cap=self.cap,
        )
        self.lower_shift_, self.upper_shift_ = shifts.lower, shifts.upper
        self.interval_levels_ = shifts.levels

    def _fit_rising(self, known: pd.DataFrame) -> None:
        """A classifier calibrated out of fold: ``rising_folds`` blocks of series by start time.

        Each block's probabilities come from a classifier fit on the other blocks, and a
        calibration map (isotonic with at least 1000 samples per block, else Platt) is fit on
        them; the forecast averages the calibrated classifiers. Every training sample serves
        both to fit and to calibrate, and no probability is judged on the data it was fit on.
        """
        rising = known[RISING].to_numpy(float).astype(int)
        self.rising_base_ = BaseRate().fit(known)
        self.rising_ = None
        n_folds = min(self.rising_folds, known[SERIES].nunique())
        blocks = _time_blocks(known, n_folds)
        folds = [(np.flatnonzero(blocks != b), np.flatnonzero(blocks == b)) for b in range(n_folds)]
        x = self._x(known)
        # Each fold's classifier needs both outcomes and a value in every column to learn from.
        usable = n_folds >= 2 and all(
            len(np.unique(rising[train])) == 2 and x.iloc[train].notna().any().all()
            for train, _ in folds
        )
        if not usable:
            self.rising_method_ = "base rate (too few samples to fit and calibrate a classifier)"
            return
        method = "isotonic" if len(known) >= 1000 * n_folds else "sigmoid"
        classifier = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            early_stopping=False,
            random_state=self.random_state,
        )
        self.rising_ = CalibratedClassifierCV(classifier, method=method, cv=folds).fit(x, rising)
        self.rising_method_ = f"{method}, {n_folds} time-blocked folds"

    def _p_rising(self, table: pd.DataFrame) -> Array:
        if self.rising_ is None:
            return self.rising_base_.predict_proba(table)
        return np.asarray(self.rising_.predict_proba(self._x(table))[:, 1], float)

    def predict_table(self, table: pd.DataFrame) -> pd.DataFrame:
        with self._threads():
            lower, mid, upper, p_rising = self.predict_log(table)
            out = self._log_frame(table, lower, mid, upper, p_rising)
        blind = table["observed_hours"].to_numpy() == 0
        out.loc[blind, LOW_CONFIDENCE] = True
        out.loc[blind, REASON] = _NO_HISTORY
        return out

    def predict_log(self, table: pd.DataFrame) -> tuple[Array, Array, Array, Array]:
        """(lower, median, upper) on the log1p scale, before rounding, and P(rising)."""
        if not hasattr(self, "median_"):
            raise ForecastError(f"{self.name}: fit the model before predicting")
        missing = [c for c in self.columns_ if c not in self._design(table).columns]
        if missing:
            raise ForecastError(
                f"{self.name}: the model was fitted with column(s) {', '.join(missing)} that "
                "these series lack; pass the same covariates or refit"
            )
        if table.empty:
            return (np.zeros(0),) * 4
        x = self._x(table)
        anchor = self._anchor(table)
        buckets = bucket(self._ages(table))
        mid = anchor + self.median_.predict(x)
        around = self._bound_anchor(table)
        lower = around + self.lower_.predict(x) - self.lower_shift_[buckets]
        upper = around + self.upper_.predict(x) + self.upper_shift_[buckets]
        return lower, mid, upper, self._p_rising(table)


class BlendedForecaster(_Forecaster):
    """A prior model and a local one mixed on the log1p scale: ``weight`` x local + (1 -
    ``weight``) x prior for the lower bound, the median and the upper bound, and the same mix
    of P(rising). :func:`fit_forecaster` sets ``weight = n / (n + blend_k)`` for ``n`` local
    series, so local history takes over as it grows."""

    name = "blended"

    def __init__(
        self, prior: NoisecastForecaster, local: NoisecastForecaster, weight: float
    ) -> None:
        if not 0 <= weight <= 1:
            raise ForecastError(f"{self.name}: weight must be between 0 and 1, got {weight}")
        if prior.horizon != local.horizon:
            raise ForecastError(
                f"{self.name}: the prior forecasts {prior.horizon} hours ahead and the local "
                f"model {local.horizon}; fit both for the same horizon"
            )
        self.prior = prior
        self.local = local
        self.weight = weight
        self.horizon = local.horizon
        local_meta = local.metadata
        self.metadata_ = {
            **local_meta,
            "model": self.name,
            "version": MODEL_VERSION,
            "weight": weight,
            "local": local_meta,
            "prior": prior.metadata,
        }

    def predict_table(self, table: pd.DataFrame) -> pd.DataFrame:
        w = self.weight
        with self.local._threads():
            parts = [
                w * local + (1 - w) * prior
                for local, prior in zip(
                    self.local.predict_log(table), self.prior.predict_log(table), strict=True
                )
            ]
            out = self._log_frame(table, *parts)
        blind = table["observed_hours"].to_numpy() == 0
        out.loc[blind, LOW_CONFIDENCE] = True
        out.loc[blind, REASON] = _NO_HISTORY
        return out


def fit_forecaster(
    series: pd.DataFrame,
    horizon: int = 24,
    min_train_samples: int = 200,
    prior: NoisecastForecaster | None = None,
    blend_k: float = 300.0,
    **params: Any,
) -> NoisecastForecaster | ColdStartForecaster | BlendedForecaster:
    """Fit the global model, or fall back when history is too short.

    ``series`` is either the long format or a :func:`noisecast.engine.core.features.build_features`
    table (recognised by its ``target`` column). Fewer than ``min_train_samples`` (series, origin)
    samples with an observed next-H total, or too few series to hold some out for
    calibration, give ``prior`` as it is (a fitted
    :class:`noisecast.engine.core.prior.PriorForecaster`), or without one the cold-start
    forecaster with the reason. With enough history and a prior, the local model is blended
    with it (:class:`BlendedForecaster`, weight ``n / (n + blend_k)`` for ``n`` local series).
    """
    table = series if TARGET in series.columns else build_features(series, horizon)
    known = table[table[TARGET].notna()]
    n, n_series = len(known), known[SERIES].nunique()
    reason = ""
    if n < min_train_samples:
        reason = (
            f"cold start: {n} training samples (series-origins with {horizon} observed hours "
            f"ahead) < min_train_samples={min_train_samples}; Szabo-Huberman scaling with a "
            "wide interval"
        )
    elif n_series < 2 or _split_by_start(known, params.get("calibration_share", 0.2))[1].empty:
        reason = f"cold start: {n_series} training series, too few to hold some out to calibrate"
    if prior is not None and prior.horizon != horizon:
        raise ForecastError(
            f"prior: it forecasts {prior.horizon} hours ahead, not {horizon}; rebuild it for "
            "this horizon or set forecast.use_prior = false"
        )
    if reason:
        if prior is not None:
            return prior
        return ColdStartForecaster(horizon, reason=reason).fit_table(table)
    local = NoisecastForecaster(horizon, **params).fit_table(table)
    if prior is None:
        return local
    return BlendedForecaster(prior, local, n_series / (n_series + blend_k))


# --- helpers -------------------------------------------------------------------------------


def _split_by_start(known: pd.DataFrame, share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The earliest-starting series fit, the latest ``share`` (at least one) calibrate."""
    order = _series_by_start(known)
    n_cal = max(1, round(len(order) * share)) if len(order) > 1 else 0
    cal = set(order[len(order) - n_cal :])
    is_cal = known[SERIES].isin(cal).to_numpy()
    return known[~is_cal], known[is_cal]


def _series_by_start(known: pd.DataFrame) -> npt.NDArray[Any]:
    """Series ids ordered by start time (first ts), ties by id."""
    start = known[CUTOFF] - pd.to_timedelta(known[ORIGIN], unit="h")
    first = pd.DataFrame({SERIES: known[SERIES], "start": start}).groupby(SERIES).min()
    return first.reset_index().sort_values(["start", SERIES], kind="stable")[SERIES].to_numpy()


def _time_blocks(known: pd.DataFrame, n_blocks: int) -> npt.NDArray[np.intp]:
    """For each row, the block (0 .. n_blocks-1) of its series, in order of start time."""
    order = _series_by_start(known)
    block = dict(zip(order, np.arange(len(order)) * n_blocks // max(len(order), 1), strict=True))
    return known[SERIES].map(block).to_numpy(np.intp)
