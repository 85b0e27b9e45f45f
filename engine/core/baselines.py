"""The baselines every forecast is measured against (pure, scikit-learn style).

- :func:`persistence`: the next H hours repeat the current rate, ``rate * H``.
- :class:`SzaboHuberman`: Szabo & Huberman's constant scaling of early attention.
- :class:`BaseRate`: P(rising) as the training base rate of rising at the same age.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from noisecast.engine.core.features import RATE, RISING, TARGET, TOTAL
from noisecast.engine.schema import ORIGIN

__all__ = ["BaseRate", "SzaboHuberman", "persistence"]

Array = npt.NDArray[np.float64]


def persistence(table: pd.DataFrame, horizon: int) -> Array:
    """The next H hours repeat the current rate: ``rate * H``."""
    return table[RATE].to_numpy(float) * horizon


class SzaboHuberman:
    """Szabo & Huberman's constant scaling: ``N(o+H) = b_o * N(o)``, ``N`` = total so far.

    Fit as in the original's log-linear model, per age ``o`` on training samples with
    ``N(o) > 0``: ``ln b_o = mean(ln N(o+H) - ln N(o))`` (a log of 0 is undefined, so a total of
    0 says nothing about the ratio). Forecast of the next H: ``(b_o - 1) * N(o)`` (0 while
    nothing has been seen). Ages with fewer than ``min_samples`` samples are not fitted; they,
    and ages past the fitted ones, use the nearest fitted age below (the first fitted age when
    there is none below). With no age fitted, all samples pooled give one ``b``; with none at
    all, ``prior_b``.
    """

    def __init__(self, min_samples: int = 10, prior_b: float = 2.0) -> None:
        self.min_samples = min_samples
        self.prior_b = prior_b

    def fit(self, table: pd.DataFrame) -> SzaboHuberman:
        ok = table[table[TARGET].notna() & (table[TOTAL] > 0)]
        log_b = np.log(ok[TOTAL] + ok[TARGET]) - np.log(ok[TOTAL])
        by_age = log_b.groupby(ok[ORIGIN]).agg(["mean", "size"])
        fitted = by_age.loc[by_age["size"] >= self.min_samples, "mean"]
        self.log_b_ = fitted.astype(float)
        if len(log_b):
            self.pooled_log_b_ = float(log_b.mean())
        else:
            self.pooled_log_b_ = float(np.log(self.prior_b))
        self.n_samples_ = len(log_b)
        return self

    def log_b(self, ages: npt.ArrayLike) -> Array:
        """``ln b`` for each age (see the class docstring for ages not fitted)."""
        ages = np.asarray(ages, dtype=np.int64)
        if self.log_b_.empty:
            return np.full(ages.shape, self.pooled_log_b_)
        known = self.log_b_.index.to_numpy(np.int64)
        at = np.clip(np.searchsorted(known, ages, side="right") - 1, 0, len(known) - 1)
        return self.log_b_.to_numpy(float)[at]

    def predict(self, table: pd.DataFrame) -> Array:
        """Forecast of the next-H total, ``(b_o - 1) * N(o)``."""
        return np.expm1(self.log_b(table[ORIGIN])) * table[TOTAL].to_numpy(float)


class BaseRate:
    """P(rising) = the share of training samples of the same age that rose.

    Ages with fewer than ``min_samples`` samples (and ages past the fitted ones) use the
    nearest fitted age below, else the share over all ages; with no training sample, 0.5.
    """

    def __init__(self, min_samples: int = 10) -> None:
        self.min_samples = min_samples

    def fit(self, table: pd.DataFrame) -> BaseRate:
        ok = table[table[RISING].notna()]
        by_age = ok[RISING].groupby(ok[ORIGIN]).agg(["mean", "size"])
        self.rate_ = by_age.loc[by_age["size"] >= self.min_samples, "mean"].astype(float)
        self.overall_ = float(ok[RISING].mean()) if len(ok) else 0.5
        return self

    def predict_proba(self, table: pd.DataFrame) -> Array:
        ages = table[ORIGIN].to_numpy(np.int64)
        if self.rate_.empty:
            return np.full(ages.shape, self.overall_)
        known = self.rate_.index.to_numpy(np.int64)
        at = np.searchsorted(known, ages, side="right") - 1
        values = self.rate_.to_numpy(float)[np.clip(at, 0, None)]
        return np.where(at >= 0, values, self.overall_)
