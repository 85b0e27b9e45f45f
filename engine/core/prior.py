"""The prior model: forecasts from day one, learnt on public data, for any newsroom's scale. Pure.

A newsroom starts with no history of its own, and the local model is not worth having below a
few hundred stories (``docs/forecast.md``, the learning curve). :class:`PriorForecaster` is the
same method as :class:`noisecast.engine.core.forecast.NoisecastForecaster` (boosted median,
conformalized quantile interval, out-of-fold calibrated P(rising)) with three changes so that it
can be fitted on a public data set once and used on anyone's counts:

- **Scale-free features** (:data:`noisecast.engine.core.features.SCALE_FREE_FEATURES`): hours,
  shares and log-ratios to the series' own level; no level, no hour of day. A small newsroom's
  mention counts are not Facebook shares, but "the last hour against the day's rate" means the
  same in both.
- **A relative target**: ``log1p(next-H total) - log1p(rate x H)``. The anchor is persistence
  (the next H hours repeat the current rate), so the prior predicts how far a story moves from
  its own rate, never a level. (Anchoring on the total so far instead came out slightly worse
  on the development data and absurd on a fading story with a large total.)
- **Ages clipped to the training range**: the public series are 48 hours long, so no target
  exists past origin 24; an older story is read as if it were the oldest age trained on (trees
  extrapolate flat anyway, and the interval takes that age's shifts).

The bundled prior (``engine/data/forecast_prior.joblib``) is fitted by ``make prior``
(``bench/build_prior.py``) and loaded by :func:`noisecast.engine.jobs.model_files.load_prior`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from noisecast.engine.core.features import RATE, TARGET, scale_free_features
from noisecast.engine.core.forecast import MODEL_VERSION, NoisecastForecaster
from noisecast.engine.schema import ORIGIN

__all__ = ["PriorForecaster"]

Array = npt.NDArray[np.float64]


class PriorForecaster(NoisecastForecaster):
    """:class:`NoisecastForecaster` on scale-free features, anchored on ``rate x H``.

    ``training_data`` (name, sha256, number of series) is recorded in the metadata, beside the
    model version and the library versions, so that a bundled file says what it was fitted on.
    """

    name = "prior"

    def __init__(
        self,
        horizon: int = 24,
        training_data: dict[str, Any] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(horizon, **params)
        self.training_data = dict(training_data or {})

    def _design(self, table: pd.DataFrame) -> pd.DataFrame:
        design = scale_free_features(table)
        if hasattr(self, "max_age_"):
            design["age"] = np.minimum(design["age"], self.max_age_)
        return design

    def _anchor(self, table: pd.DataFrame) -> Array:
        return np.log1p(table[RATE].to_numpy(float) * self.horizon)

    def _ages(self, table: pd.DataFrame) -> npt.NDArray[np.int64]:
        ages = table[ORIGIN].to_numpy(np.int64)
        return np.minimum(ages, self.max_age_) if hasattr(self, "max_age_") else ages

    def _fit_table(self, table: pd.DataFrame) -> PriorForecaster:
        known = table[table[TARGET].notna()]
        self.max_age_ = int(known[ORIGIN].max()) if len(known) else 1
        super()._fit_table(table)
        self.metadata_.update(
            {
                "model": self.name,
                "version": MODEL_VERSION,
                "anchor": "log1p(rate x horizon)",
                "max_age": self.max_age_,
                "training_data": dict(self.training_data),
            }
        )
        return self
