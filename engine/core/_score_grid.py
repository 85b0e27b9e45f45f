"""The noise level's computation on (hours x stories) grids: the numeric kernel behind
:func:`noisecast.engine.core.score.noise_level`, whose docstring defines the score. Pure
numpy/pandas."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from noisecast.engine.schema import (
    AS_OF,
    COLLECTED,
    COMPONENTS,
    ENGAGEMENT,
    HOUR,
    LEVEL,
    LEVEL_DTYPE,
    MENTIONS,
    OUTLETS,
    SCORE,
    STORY,
    UNHEALTHY,
    require_columns,
)

if TYPE_CHECKING:
    from noisecast.engine.core.score import ScoreParams

Array = npt.NDArray[np.float64]
_SECONDS_PER_HOUR = 3600


def score_hours(
    hourly: pd.DataFrame,
    health: pd.DataFrame,
    params: ScoreParams,
    hours: Iterable[pd.Timestamp] | None = None,
    *,
    reference_stories: Collection[str] | None = None,
) -> pd.DataFrame:
    """:func:`noisecast.engine.core.score.noise_level`'s computation (its docstring is the
    contract)."""
    require_columns(hourly, (STORY, HOUR, MENTIONS, OUTLETS, ENGAGEMENT), "hourly frame")
    require_columns(health, (HOUR, COLLECTED, UNHEALTHY), "health frame")
    stories, codes = _story_codes(hourly[STORY])
    row_hours = _hour_numbers(hourly[HOUR], "hourly frame")
    if hours is None:
        if len(row_hours) == 0:
            return _empty_result()
        targets = np.arange(row_hours.min(), row_hours.max() + 1)
    else:
        targets = np.unique(_hour_numbers(pd.Series(list(hours), dtype=object), "hours"))
        if len(targets) == 0:
            return _empty_result()
    data_start = int(row_hours.min()) if len(row_hours) else int(targets[0])
    start = max(data_start, int(targets[0]) - params.lookback_hours)
    end = int(targets[-1])
    span = end - start + 1
    n_stories = len(stories)

    keep = (row_hours >= start) & (row_hours <= end)
    whole = bool(keep.all())
    cells = (row_hours if whole else row_hours[keep]) - start
    cells *= n_stories
    cells += codes if whole else codes[keep]
    grids = []
    if whole and _in_grid_order(cells, span * n_stories):
        # Every story-hour once, in (hour, story) order (a full rebuild's input): the columns
        # are the grids already, no scatter and no duplicate count.
        # Views of the frame's own columns: nothing below writes to a grid except
        # _carry_healthy, which copies first.
        for column in (MENTIONS, OUTLETS, ENGAGEMENT):
            grids.append(hourly[column].to_numpy().reshape(span, n_stories))
    else:
        if len(cells) and np.bincount(cells, minlength=1).max() > 1:
            raise ValueError("hourly frame: duplicate (story, hour) rows; aggregate them first")
        for column in (MENTIONS, OUTLETS, ENGAGEMENT):
            grid = np.zeros((span, n_stories))
            values = hourly[column].to_numpy()
            grid.ravel()[cells] = values if whole else values[keep]
            grids.append(grid)

    unhealthy = _unhealthy_hours(health, start, end, params)
    grids = [_carry_healthy(grid, unhealthy, params.max_carry_hours) for grid in grids]

    cols = targets - start
    out = np.empty((len(OUTPUT_FLOATS), len(cols), n_stories))
    pool = None
    if reference_stories is not None:
        pool = np.flatnonzero(stories.isin(list(reference_stories)))
    _score_grid(grids, cols, params, out, pool)
    return _frame(stories, targets, unhealthy[cols], out, params)


def _in_grid_order(cells: npt.NDArray[np.int64], size: int) -> bool:
    """Whether ``cells`` is exactly 0, 1, ..., size - 1."""
    if len(cells) != size or size == 0 or cells[0] != 0 or cells[-1] != size - 1:
        return False
    return bool((np.diff(cells) == 1).all())


# -- the computation on (hours x stories) grids ----------------------------------------------

OUTPUT_FLOATS = (
    SCORE,
    *(f"{name}_{part}" for name in COMPONENTS for part in ("value", "norm", "contribution")),
)
_SLOT = {name: i for i, name in enumerate(OUTPUT_FLOATS)}


def _score_grid(
    grids: list[Array],
    cols: npt.NDArray[np.int64],
    params: ScoreParams,
    out: Array,
    pool: npt.NDArray[np.intp] | None = None,
) -> None:
    """Fill ``out[slot, target, story]`` (see OUTPUT_FLOATS) in place, few temporaries.

    The cumulative sums and the pool's references come first (the references need every
    story, or only the story columns in ``pool`` when given); then each story is
    independent, so large grids are cut into column ranges of stories scored on threads (numpy
    releases the GIL in its loops), which gives the same values bit for bit as one thread.
    """
    n_stories = out.shape[2]
    workers = _workers(len(cols) * n_stories)
    with ThreadPoolExecutor(workers) as threads:
        cums = list(threads.map(_cumulative, grids))
        pooled = cums if pool is None else [cum[:, pool] for cum in cums]
        refs = list(
            threads.map(
                lambda cf: _reference(
                    cf[0], cols, params.window_hours, params.reference_quantile, cf[1]
                ),
                zip(pooled, params.reference_floor, strict=True),
            )
        )
        bounds = np.linspace(0, n_stories, workers + 1).astype(int)
        parts = [slice(int(lo), int(hi)) for lo, hi in pairwise(bounds)]
        done = threads.map(
            lambda part: _score_stories(grids, cums, refs, cols, params, out, part), parts
        )
        list(done)  # re-raise any worker's error


def _workers(cells: int) -> int:
    """Threads for a grid of ``cells`` story-hours: one for small grids."""
    if cells < _THREAD_CELLS:
        return 1
    return max(1, min(_MAX_THREADS, os.cpu_count() or 1))


_BLOCK_CELLS = 40_000  # story-hours per block: temporaries of ~320 KB stay in cache
_THREAD_CELLS = 2_000_000
_MAX_THREADS = 4


def _cumulative(grid: Array) -> Array:
    """Cumulative sums down the hours, with a row of zeros first. A loop of row additions:
    three times faster than ``np.cumsum(axis=0)`` on a C-ordered grid, and the same sums."""
    cum = np.empty((grid.shape[0] + 1, grid.shape[1]))
    cum[0] = 0.0
    for t in range(grid.shape[0]):
        np.add(cum[t], grid[t], out=cum[t + 1])
    return cum


def _score_stories(
    grids: list[Array],
    cums: list[Array],
    refs: list[Array],
    cols: npt.NDArray[np.int64],
    params: ScoreParams,
    out: Array,
    stories: slice,
) -> None:
    """Score the stories of one column range, in blocks of a few target hours so that every
    temporary stays in cache and each output value is written once; the recursion keeps only
    the last ``memory_hours`` + block hours of each smoothed series (a ring), never a whole
    (hours x stories) copy."""
    k = params.memory_hours
    grids = [g[:, stories] for g in grids]
    cums = [c[:, stories] for c in cums]
    out = out[:, :, stories]
    n_stories = out.shape[2]
    block = max(1, _BLOCK_CELLS // max(n_stories, 1))
    direct = len(cols) <= k
    series = (  # (input grid, half-life, output slot holding the smoothed value)
        (0, params.half_life_hours, _SLOT["volume_value"]),
        (1, params.half_life_hours, _SLOT["breadth_value"]),
        (2, params.half_life_hours, _SLOT["engagement_value"]),
        (0, params.fast_half_life_hours, _SLOT["velocity_value"]),
        (0, params.slow_half_life_hours, _SLOT["velocity_norm"]),
    )
    kernels = [_kernel(half_life, k) for _, half_life, _ in series]
    ring_rows = block * -(-(k + block) // block)  # whole blocks: a block's rows never wrap
    rings = None if direct else np.zeros((len(series), ring_rows, n_stories))
    done = 0  # grid rows already run through the recursion
    for lo in range(0, len(cols), block):
        hi = min(lo + block, len(cols))
        part = cols[lo:hi]
        dest = out[:, lo:hi]
        if rings is None:
            for (g, half_life, slot), _ in zip(series, kernels, strict=True):
                _smooth_at(grids[g], part, half_life, k, dest[slot])
        else:
            done = _advance(grids, series, kernels, rings, done, int(part[-1]) + 1)
            boxes = {g: _window_sums(cums[g], part + 1, k) for g in {g for g, _, _ in series}}
            for (g, _, slot), (_, a_k, total), ring in zip(series, kernels, rings, strict=True):
                _finish_smooth(boxes[g], ring, part, k, a_k, total, dest[slot])
        _combine(dest, [r[lo:hi, None] for r in refs], params)


def _advance(
    grids: list[Array],
    series: tuple[tuple[int, float, int], ...],
    kernels: list[tuple[float, float, float]],
    rings: Array,
    done: int,
    until: int,
) -> int:
    """Run ``E(t) = a E(t-1) + x(t)`` for grid rows [done, until) into the rings."""
    ring_rows = rings.shape[1]
    for t in range(done, until):
        row = t % ring_rows
        prev = (t - 1) % ring_rows
        for i, ((g, _, _), (a, _, _)) in enumerate(zip(series, kernels, strict=True)):
            if t == 0:
                rings[i, row] = grids[g][0]
            else:
                np.multiply(rings[i, prev], a, out=rings[i, row])
                rings[i, row] += grids[g][t]
    return max(done, until)


def _finish_smooth(
    box: Array,
    ring: Array,
    part: npt.NDArray[np.int64],
    memory: int,
    a_k: float,
    total: float,
    dest: Array,
) -> None:
    """The tapered kernel at ``part``: E(t) - a^K E(t-K) - a^K box(t), from the ring, where
    ``box`` holds the sums of the last ``memory`` grid rows up to each hour of ``part``."""
    ring_rows = ring.shape[0]
    np.multiply(box, -a_k, out=dest)
    dest += ring[_ring_rows(part, ring_rows)]
    late = part >= memory
    if late.any():
        first = int(np.argmax(late))
        dest[first:] -= a_k * ring[_ring_rows(part[first:] - memory, ring_rows)]
    np.maximum(dest, 0.0, out=dest)
    dest *= 1.0 / total


def _ring_rows(hours: npt.NDArray[np.int64], size: int) -> slice | npt.NDArray[np.int64]:
    """The ring rows of consecutive ``hours``: a slice (a view) unless they wrap around."""
    first = int(hours[0]) % size
    if first + len(hours) <= size:
        return slice(first, first + len(hours))
    return hours % size


def _combine(dest: Array, refs: list[Array], params: ScoreParams) -> None:
    """From the smoothed values in ``dest`` (a block of ``out``): norms, contributions, score."""
    slot = {name: dest[i] for name, i in _SLOT.items()}
    ref_m, ref_o, ref_e = refs

    fast, slow = slot["velocity_value"], slot["velocity_norm"]
    prior = params.velocity_prior * ref_m
    fast += prior
    slow += prior
    np.divide(fast, slow, out=fast)
    np.log2(fast, out=fast)
    np.maximum(fast, 0.0, out=slow)
    np.divide(slot["volume_value"], ref_m, out=slot["volume_norm"])
    np.divide(slot["breadth_value"], ref_o, out=slot["breadth_norm"])
    norm = slot["engagement_norm"]
    np.divide(slot["engagement_value"], ref_e, out=norm)
    np.log1p(norm, out=norm)
    norm *= 1.0 / np.log(2.0)

    score = slot[SCORE]
    score.fill(0.0)
    for name, weight in zip(COMPONENTS, params.weight_vector(), strict=True):
        contribution = slot[f"{name}_contribution"]
        np.negative(slot[f"{name}_norm"], out=contribution)
        np.expm1(contribution, out=contribution)
        contribution *= -100.0 * weight
        score += contribution
    np.clip(score, 0.0, 100.0, out=score)


def _window_sums(cum: Array, ends: npt.NDArray[np.int64], width: int) -> Array:
    """Sum of grid rows [end - width, end) for each end, from the cumulative sums ``cum``."""
    starts = np.maximum(ends - width, 0)
    return cum[_rows(ends)] - cum[_rows(starts)]


def _rows(index: npt.NDArray[np.int64]) -> slice | npt.NDArray[np.int64]:
    """A slice when the rows are consecutive (a view, no copy), else the index itself."""
    if len(index) and index[-1] - index[0] == len(index) - 1:
        return slice(int(index[0]), int(index[-1]) + 1)
    return index


def _reference(
    cum: Array, cols: npt.NDArray[np.int64], window: int, quantile: float, floor: float
) -> Array:
    """Per target hour: the pool's quantile of story means over the previous ``window`` hours."""
    count = (cols - np.maximum(cols - window, 0)).astype(float)
    ref = np.full(len(cols), floor)
    have = count > 0
    if cum.shape[1] and have.any():
        rows = np.flatnonzero(have)
        block = max(1, _BLOCK_CELLS // cum.shape[1])
        for lo in range(0, len(rows), block):
            some = rows[lo : lo + block]
            sums = _window_sums(cum, cols[some], window)  # a fresh array: partition in place
            level = np.quantile(sums, quantile, axis=1, overwrite_input=True) / count[some]
            ref[some] = np.maximum(level, floor)
    return ref


def _kernel(half_life: float, memory: int) -> tuple[float, float, float]:
    a = 0.5 ** (1.0 / half_life)
    a_k = a**memory
    total = (1.0 - a_k) / (1.0 - a) - memory * a_k
    return a, a_k, total


def _smooth_at(
    grid: Array, cols: npt.NDArray[np.int64], half_life: float, memory: int, dest: Array
) -> None:
    """The tapered kernel at a few hours, directly: the sum over lags of w(k) x(t - k)."""
    a, a_k, total = _kernel(half_life, memory)
    weights = a ** np.arange(memory) - a_k  # lag 0 first
    for i, col in enumerate(cols):
        lags = min(memory, int(col) + 1)
        dest[i] = weights[:lags][::-1] @ grid[col - lags + 1 : col + 1]
    np.maximum(dest, 0.0, out=dest)
    dest *= 1.0 / total


# -- health ----------------------------------------------------------------------------------


def _unhealthy_hours(
    health: pd.DataFrame, start: int, end: int, params: ScoreParams
) -> npt.NDArray[np.bool_]:
    """Per grid hour: flagged by the store, or collected far below its trailing median."""
    span = end - start + 1
    flags = np.zeros(span, dtype=bool)
    if health.empty:
        return flags
    numbers = _hour_numbers(health[HOUR], "health frame")
    first = int(min(numbers.min(), start))
    last = int(max(numbers.max(), end))
    collected = np.full(last - first + 1, np.nan)
    flagged = np.zeros(last - first + 1, dtype=bool)
    collected[numbers - first] = health[COLLECTED].to_numpy(dtype=float, na_value=np.nan)
    flagged[numbers - first] = health[UNHEALTHY].fillna(False).to_numpy(dtype=bool)
    norm = (
        pd.Series(collected)
        .rolling(params.window_hours, min_periods=1)
        .median()
        .shift(1)
        .to_numpy(dtype=float, na_value=np.nan)
    )
    with np.errstate(invalid="ignore"):
        collapsed = (norm > 0) & (collected < params.collapse_share * norm)
    both = flagged | collapsed
    return both[start - first : end - first + 1]


def _carry_healthy(grid: Array, unhealthy: npt.NDArray[np.bool_], max_carry: int) -> Array:
    """In unhealthy hours, each story's values raised to its last healthy hour's: a new float
    grid when any hour changes, else ``grid`` itself (which may be the caller's data, never
    written to)."""
    if not unhealthy.any() or max_carry == 0:
        return grid
    index = np.arange(len(unhealthy))
    last_healthy = np.maximum.accumulate(np.where(unhealthy, -1, index))
    cols = index[unhealthy]
    src = last_healthy[unhealthy]
    ok = (src >= 0) & (cols - src <= max_carry)
    cols, src = cols[ok], src[ok]
    grid = grid.astype(float)  # a copy
    grid[cols] = np.maximum(grid[cols], grid[src])
    return grid


# -- frames in and out -----------------------------------------------------------------------


def utc_hour(value: pd.Timestamp, what: str) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise ValueError(f"{what}: {stamp} has no timezone; pass a UTC timestamp")
    return stamp.tz_convert("UTC").floor("h")


def _hour_numbers(values: pd.Series, what: str) -> npt.NDArray[np.int64]:
    """Whole hours since the epoch of tz-aware timestamps."""
    index = pd.DatetimeIndex(values)
    if len(index) and index.tz is None:
        raise ValueError(f"{what}: hours must be timezone-aware UTC timestamps")
    per_hour = _SECONDS_PER_HOUR * {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[index.unit]
    numbers, rest = np.divmod(index.asi8, per_hour)
    if rest.any():
        raise ValueError(f"{what}: hours must be whole hours (floor them to the hour)")
    return numbers


def _story_codes(stories: pd.Series) -> tuple[pd.Index, npt.NDArray[np.int64]]:
    if isinstance(stories.dtype, pd.CategoricalDtype):
        codes = stories.cat.codes.to_numpy(dtype=np.int64)
        if len(codes) and codes.min() < 0:
            raise ValueError("hourly frame: story is missing on some rows")
        return pd.Index(stories.cat.categories), codes
    codes, uniques = pd.factorize(stories, sort=True)
    if len(codes) and codes.min() < 0:
        raise ValueError("hourly frame: story is missing on some rows")
    return pd.Index(uniques), codes.astype(np.int64)


def _frame(
    stories: pd.Index,
    targets: npt.NDArray[np.int64],
    unhealthy: npt.NDArray[np.bool_],
    out: Array,
    params: ScoreParams,
) -> pd.DataFrame:
    """The result frame, built once from ``out`` without copying its float columns."""
    n_stories, n_hours = len(stories), len(targets)
    floats = out.reshape(len(OUTPUT_FLOATS), n_hours * n_stories)
    codes = np.empty((n_hours, n_stories), dtype=np.int32)
    codes[:] = np.arange(n_stories, dtype=np.int32)
    hours = pd.DatetimeIndex(pd.to_datetime(targets * _SECONDS_PER_HOUR, unit="s", utc=True))
    stamps = np.empty((n_hours, n_stories), dtype=hours.asi8.dtype)
    stamps[:] = hours.asi8[:, None]
    flags = np.empty((n_hours, n_stories), dtype=bool)
    flags[:] = unhealthy[:, None]
    columns: dict[str, Any] = {
        STORY: pd.Categorical.from_codes(codes.ravel(), categories=stories, validate=False),
        AS_OF: pd.DatetimeIndex(stamps.ravel().view(hours.dtype.base), copy=False).tz_localize(
            "UTC"
        ),
        SCORE: floats[_SLOT[SCORE]],
        LEVEL: _levels_fast(floats[_SLOT[SCORE]], params.thresholds),
        UNHEALTHY: flags.ravel(),
    }
    for name in OUTPUT_FLOATS[1:]:
        columns[name] = floats[_SLOT[name]]
    return pd.DataFrame(columns, copy=False)


def _levels_fast(scores: Array, thresholds: Sequence[float]) -> pd.Categorical:
    """:func:`level_of` by counting thresholds at or below each score (NaN counts all, as in
    ``searchsorted``); four comparisons beat a binary search per score."""
    codes = np.zeros(len(scores), dtype=np.int8)
    for threshold in thresholds:
        codes += ~(scores < threshold)
    return pd.Categorical.from_codes(codes, dtype=LEVEL_DTYPE, validate=False)


def _empty_result() -> pd.DataFrame:
    columns: dict[str, Any] = {
        STORY: pd.Categorical([]),
        AS_OF: pd.DatetimeIndex([], tz="UTC"),
        SCORE: np.array([], dtype=float),
        LEVEL: pd.Categorical([], dtype=LEVEL_DTYPE),
        UNHEALTHY: np.array([], dtype=bool),
    }
    for name in COMPONENTS:
        for part in ("value", "norm", "contribution"):
            columns[f"{name}_{part}"] = np.array([], dtype=float)
    return pd.DataFrame(columns)
