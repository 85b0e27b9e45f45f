"""Rolling-origin backtest of the forecaster against its baselines, and reading series CSVs.

:func:`run_backtest` fits once on the training series and scores every (series, origin) of the
scored series whose whole horizon was observed. Without a test frame the training frame is
split by time: the first 80 % of series by start time (first ``ts``) fit, the rest are scored;
fitting never sees a scored series.

Models scored (each an entry of ``models``):

- ``noisecast``: :func:`engine.forecast.fit_forecaster` (the global model, or the cold-start
  fallback when the training part is too small).
- ``persistence``: ``rate * H``; P(rising) is a hard 0 (its forecast never exceeds itself).
- ``szabo_huberman``: :class:`engine.forecast.SzaboHuberman`; P(rising) is a hard 1 when its
  forecast exceeds ``rate * H``, else 0.
- ``base_rate``: P(rising) = the training share that rose at the same age; no point forecast.

``hedge_words`` (beside the spec's keys) says how often each word of the suggestions
(:data:`engine.suggest.BANDS`) came true for the model's probabilities.

Metrics (per model, over all scored samples and per origin): ``n``; ``mae_log1p`` = mean
``|log1p(p50) - log1p(actual)|``; ``median_ape`` = median ``|p50 - actual| / actual`` over
actuals >= 1; ``coverage_80`` = share of actuals in ``[p10, p90]`` (models with an interval
only) and ``coverage_80_positive`` the same over actuals >= 1; ``brier_rising`` = mean
``(p - rising)^2``; ``direction_accuracy`` = share with ``(p > 0.5) == rising``. A metric that
does not apply, or has no sample, is ``None``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from engine.errors import BacktestInputError, ForecastError
from engine.features import RATE, RISING, TARGET, build_features, validate_series
from engine.forecast import BaseRate, SzaboHuberman, fit_forecaster
from engine.schema import COVARIATES, ORIGIN, P10, P50, P90, P_RISING, SERIES, TS, VALUE
from engine.suggest import BANDS, hedge_word

__all__ = ["MODELS", "read_series_csv", "run_backtest", "run_backtest_files", "split_by_time"]

MODELS = ("noisecast", "persistence", "szabo_huberman", "base_rate")
METRICS = (
    "n",
    "mae_log1p",
    "median_ape",
    "coverage_80",
    "coverage_80_positive",
    "brier_rising",
    "direction_accuracy",
)
_MAX_PROBLEMS = 20


# --- reading -------------------------------------------------------------------------------


def read_series_csv(path: str | Path) -> pd.DataFrame:
    """Read a ``series,ts,value`` CSV (extra columns allowed) into the long format.

    ``ts`` becomes tz-aware UTC (a time without an offset is read as UTC) and must be the start
    of an hour; an empty ``value`` is an unobserved hour (NaN), otherwise a whole number >= 0.
    ``outlets`` and ``engagement`` columns, when present, are read as numbers >= 0 (empty =
    unknown); other extra columns are dropped. Raises :class:`BacktestInputError` listing the
    problems, one per line: ``FILE: line N: field: what is wrong``.
    """
    name = str(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            rows, lines = [], []
            for row in reader:
                if row:  # a blank line is not a row
                    rows.append(row)
                    lines.append(reader.line_num)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise BacktestInputError(f"{name}: cannot read the file ({e})") from e
    if header is None:
        raise BacktestInputError(f"{name}: line 1: header: the file is empty; expected {_want()}")
    header = [h.strip() for h in header]
    missing = [c for c in (SERIES, TS, VALUE) if c not in header]
    if missing:
        raise BacktestInputError(
            f"{name}: line 1: header: missing column(s) {', '.join(missing)}; expected "
            f"{_want()} (extra columns allowed), got {','.join(header)}"
        )
    problems: list[tuple[int, str]] = []
    width = len(header)
    good = [len(r) == width for r in rows]
    for row, line, ok in zip(rows, lines, good, strict=True):
        if not ok:
            problems.append((line, f"expected {width} fields, got {len(row)}"))
    keep = [c for c in (SERIES, TS, VALUE, *COVARIATES) if c in header]
    cells = {c: [r[header.index(c)] for r, ok in zip(rows, good, strict=True) if ok] for c in keep}
    raw = pd.DataFrame(cells, columns=keep, dtype=object)
    line_no = np.asarray([n for n, ok in zip(lines, good, strict=True) if ok], dtype=np.int64)

    def flag(mask: npt.ArrayLike, field: str, message: Any) -> None:
        mask = np.asarray(mask, bool)
        texts = message(raw.loc[mask]) if callable(message) else [message] * int(mask.sum())
        problems.extend(
            (int(n), f"{field}: {t}") for n, t in zip(line_no[mask], texts, strict=True)
        )

    series = raw[SERIES].astype(str).str.strip()
    flag(series == "", SERIES, "empty; every row needs a series id")
    ts_text = raw[TS].astype(str).str.strip()
    ts = pd.to_datetime(ts_text, format="ISO8601", utc=True, errors="coerce")
    flag(ts.isna(), TS, lambda bad: [f"cannot parse {t!r} as a time" for t in bad[TS]])
    off_hour = ts.notna() & (ts != ts.dt.floor("h"))
    flag(off_hour, TS, lambda bad: [f"{t!r} is not the start of an hour" for t in bad[TS]])
    out = pd.DataFrame({SERIES: series, TS: ts})
    for column in keep[2:]:
        text = raw[column].astype(str).str.strip()
        number = pd.to_numeric(text.where(text != ""), errors="coerce")
        unparsed = (text != "") & number.isna()
        flag(
            unparsed,
            column,
            lambda bad, c=column: [f"cannot parse {v!r} as a number" for v in bad[c]],
        )
        flag(
            number < 0,
            column,
            lambda bad, c=column: [f"{v} is negative; expected >= 0" for v in bad[c]],
        )
        if column == VALUE:
            fraction = number.notna() & (number >= 0) & (np.mod(number, 1) != 0)
            flag(fraction, column, lambda bad: [f"{v} is not a whole number" for v in bad[VALUE]])
        out[column] = number.astype(float)
    dup = out[SERIES].ne("") & ts.notna() & out.duplicated([SERIES, TS], keep=False)
    if dup.any():
        first_line = (
            pd.Series(line_no[dup.to_numpy()])
            .groupby([out.loc[dup, SERIES].to_numpy(), out.loc[dup, TS].to_numpy()])
            .transform("min")
        )
        later = first_line.to_numpy() != line_no[dup.to_numpy()]
        for n, f in zip(line_no[dup.to_numpy()][later], first_line.to_numpy()[later], strict=True):
            problems.append((int(n), f"{SERIES},{TS}: duplicate of line {f}"))
    if problems:
        problems.sort()
        shown = [f"{name}: line {n}: {text}" for n, text in problems[:_MAX_PROBLEMS]]
        if len(problems) > _MAX_PROBLEMS:
            shown.append(f"{name}: ... and {len(problems) - _MAX_PROBLEMS} more problem(s)")
        raise BacktestInputError("\n".join(shown))
    return out


def _want() -> str:
    return f"{SERIES},{TS},{VALUE}"


# --- the backtest --------------------------------------------------------------------------


def split_by_time(series: pd.DataFrame, share: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit, scored): the latest-starting ``share`` of series (by first ts, then id) scored."""
    first = series.groupby(SERIES, as_index=False)[TS].min()
    order = first.sort_values([TS, SERIES], kind="stable")[SERIES].to_numpy()
    n_scored = round(len(order) * share)
    if len(order) < 2 or n_scored < 1:
        raise BacktestInputError(
            f"cannot split {len(order)} series by time: give a test frame, or more series"
        )
    scored = series[SERIES].isin(set(order[len(order) - n_scored :]))
    return series[~scored], series[scored]


def run_backtest(
    train: pd.DataFrame,
    test: pd.DataFrame | None = None,
    horizon: int = 24,
    origins: list[int] | None = None,
) -> dict[str, Any]:
    """Fit on ``train``, score on ``test`` (or the latest 20 % of ``train``'s series).

    Returns ``{"horizon": H, "models": {name: metrics}, "by_origin": [{"origin": o, "models":
    {name: metrics}}]}`` with the models of :data:`MODELS` and the metrics of the module
    docstring. ``origins``: ages in hours to score (default every hour); by_origin lists each
    of them (or each origin scored, by default).
    """
    if horizon < 1:
        raise BacktestInputError(f"horizon: expected at least 1 hour, got {horizon}")
    if origins is not None and any(int(o) < 1 for o in origins):
        raise BacktestInputError(f"origins: expected hours of at least 1, got {list(origins)}")
    train = _valid(train, "train")
    if test is None:
        train, test = split_by_time(train)
    else:
        test = _valid(test, "test")
        shared = set(train[SERIES]) & set(test[SERIES])
        if shared:
            some = ", ".join(sorted(map(str, shared))[:5])
            raise BacktestInputError(
                f"test: {len(shared)} series also in train ({some}); fitting must never see a "
                "scored series: remove them from one side"
            )
    scored = build_features(test, horizon, origins)
    scored = scored[scored[TARGET].notna()].reset_index(drop=True)
    if scored.empty:
        where = "at any origin" if origins is None else f"at origins {sorted(set(origins))}"
        raise BacktestInputError(
            f"test: no scorable origin: no series has all {horizon} hours from the origin "
            f"observed {where}; give longer series, other origins or a shorter horizon"
        )
    table = build_features(train, horizon)
    model = fit_forecaster(table, horizon)
    forecast = model.predict_table(scored)
    scaling = SzaboHuberman().fit(table)
    base = BaseRate().fit(table)

    threshold = scored[RATE].to_numpy(float) * horizon
    sh_point = scaling.predict(scored)
    predictions = {
        "noisecast": (
            forecast[P50].to_numpy(float),
            forecast[P10].to_numpy(float),
            forecast[P90].to_numpy(float),
            forecast[P_RISING].to_numpy(float),
        ),
        "persistence": (threshold, None, None, np.zeros(len(scored))),
        "szabo_huberman": (sh_point, None, None, (sh_point > threshold).astype(float)),
        "base_rate": (None, None, None, base.predict_proba(scored)),
    }
    actual = scored[TARGET].to_numpy(float)
    rising = scored[RISING].to_numpy(float)
    ages = scored[ORIGIN].to_numpy(np.int64)
    wanted = sorted(set(int(o) for o in origins)) if origins is not None else np.unique(ages)

    def metrics(mask: npt.NDArray[np.bool_]) -> dict[str, dict[str, Any]]:
        return {
            name: _metrics(actual[mask], rising[mask], *(_take(a, mask) for a in arrays))
            for name, arrays in predictions.items()
        }

    return {
        "horizon": horizon,
        "models": metrics(np.ones(len(scored), bool)),
        "by_origin": [{"origin": int(o), "models": metrics(ages == o)} for o in wanted],
        "hedge_words": hedge_word_outcomes(predictions["noisecast"][3], rising),
    }


def hedge_word_outcomes(
    p_rising: npt.NDArray[np.float64], rising: npt.NDArray[np.float64]
) -> dict[str, dict[str, Any]]:
    """How often each hedge word of :mod:`engine.suggest` came true: per word, the forecasts
    that used it, their mean P(rising), and the share that rose (the word's claim holds when
    that share is close to the mean probability)."""
    words = np.array([hedge_word(float(p)) for p in p_rising])
    out: dict[str, dict[str, Any]] = {}
    for _, word, _ in BANDS:
        mine = words == word
        out[word] = {
            "n": int(mine.sum()),
            "mean_p_rising": _mean(p_rising[mine]) if mine.any() else None,
            "rose": _mean(rising[mine]) if mine.any() else None,
        }
    return out


def run_backtest_files(
    train_path: str | Path,
    test_path: str | Path | None = None,
    horizon: int = 24,
    origins: list[int] | None = None,
) -> dict[str, Any]:
    """:func:`run_backtest` on CSV files; errors about the test data name its file."""
    train = read_series_csv(train_path)
    test = None if test_path is None else read_series_csv(test_path)
    try:
        return run_backtest(train, test, horizon, origins)
    except BacktestInputError as e:
        text = str(e)
        for side, path in (("test: ", test_path or train_path), ("train: ", train_path)):
            if text.startswith(side):
                raise BacktestInputError(f"{path}: {text[len(side) :]}") from e
        raise


def _valid(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    try:
        return validate_series(frame, what)
    except ForecastError as e:
        raise BacktestInputError(str(e)) from e


def _take(values: npt.NDArray[np.float64] | None, mask: npt.NDArray[np.bool_]) -> Any:
    return None if values is None else values[mask]


def _metrics(
    actual: npt.NDArray[np.float64],
    rising: npt.NDArray[np.float64],
    p50: npt.NDArray[np.float64] | None,
    p10: npt.NDArray[np.float64] | None,
    p90: npt.NDArray[np.float64] | None,
    p_rising: npt.NDArray[np.float64],
) -> dict[str, Any]:
    n = len(actual)
    out: dict[str, Any] = dict.fromkeys(METRICS)
    out["n"] = n
    if n == 0:
        return out
    positive = actual >= 1
    if p50 is not None:
        out["mae_log1p"] = _mean(np.abs(np.log1p(p50) - np.log1p(actual)))
        if positive.any():
            ape = np.abs(p50[positive] - actual[positive]) / actual[positive]
            out["median_ape"] = float(np.median(ape))
    if p10 is not None and p90 is not None:
        inside = (actual >= p10) & (actual <= p90)
        out["coverage_80"] = _mean(inside)
        out["coverage_80_positive"] = _mean(inside[positive]) if positive.any() else None
    out["brier_rising"] = _mean((p_rising - rising) ** 2)
    out["direction_accuracy"] = _mean((p_rising > 0.5) == (rising == 1))
    return out


def _mean(values: npt.ArrayLike) -> float:
    return float(np.mean(np.asarray(values, dtype=float)))
