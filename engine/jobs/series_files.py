"""Attention series from ``series,ts,value`` CSV files (the backtest's input), read with
errors that name the file, line and field; and the backtest run on such files."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from noisecast.engine.core.backtest import run_backtest
from noisecast.engine.errors import BacktestInputError
from noisecast.engine.schema import COVARIATES, SERIES, TS, VALUE

__all__ = ["read_series_csv", "run_backtest_files"]

_MAX_PROBLEMS = 20


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
