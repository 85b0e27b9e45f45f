"""Time ``noisecast.engine.core.score.noise_level`` on 10,000 stories x 30 days of generated hourly
aggregates.

Usage: ``python bench/score.py [--stories N] [--days D] [--seed S]``

Measured in one run:

- "floor": one numpy pass that reads every story-hour once (``mentions.sum()`` on the column);
- "latest": the latest hour, given the rows the store would read for it (the last
  ``ScoreParams.lookback_hours`` hours), and also given the whole 30-day frame;
- "rebuild": every hour of the 30 days (7.2 M story-hours, 17 output columns);
- "write floor": filling a fresh float64 buffer the size of the rebuild's float output once:
  the rebuild cannot be cheaper than writing its result.

Ratios are against the floor (targets: latest <= 50x, rebuild <= 200x). Peak memory is
tracemalloc's peak during each call (numpy reports its buffers to it) and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from noisecast.engine.core.score import OUTPUT_FLOATS, ScoreParams, noise_level


def generate(stories: int, days: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bursty stories: a gamma background rate, a daily rhythm, and a few decaying bursts."""
    rng = np.random.default_rng(seed)
    hours = days * 24
    t = np.arange(hours)
    base = rng.gamma(0.5, 1.0, size=(stories, 1)) * (1 + 0.5 * np.sin(2 * np.pi * t / 24))
    burst_at = rng.integers(0, hours, size=(stories, 2))
    burst_size = rng.pareto(1.5, size=(stories, 2)) * 10
    rate = base.copy()
    for j in range(2):
        lag = t[None, :] - burst_at[:, j : j + 1]
        rate += np.where(lag >= 0, burst_size[:, j : j + 1] * np.exp(-np.maximum(lag, 0) / 6), 0)
    mentions = rng.poisson(rate).astype(np.int64)
    outlets = rng.binomial(mentions, 0.6)
    engagement = rng.poisson(mentions * 12)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    index = pd.date_range(start, periods=hours, freq="h")
    names = [f"story-{i:05d}" for i in range(stories)]
    frame = pd.DataFrame(
        {
            "story": pd.Categorical.from_codes(np.tile(np.arange(stories), hours), names),
            "hour": index.repeat(stories),
            "mentions": mentions.T.ravel(),
            "outlets": outlets.T.ravel(),
            "engagement": engagement.T.ravel(),
        }
    )
    collected = mentions.sum(axis=0)
    health = pd.DataFrame({"hour": index, "collected": collected, "unhealthy": False})
    return frame, health


def timed(run, repeat: int = 3) -> tuple[float, float]:
    """(best seconds, tracemalloc peak MB of the first call)."""
    tracemalloc.start()
    start = time.perf_counter()
    run()
    best = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    for _ in range(repeat - 1):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    params = ScoreParams()
    frame, health = generate(args.stories, args.days, args.seed)
    cells = len(frame)
    last = frame["hour"].max()
    recent = frame[frame["hour"] >= last - pd.Timedelta(hours=params.lookback_hours)]
    column = frame["mentions"].to_numpy()
    print(f"{args.stories:,} stories x {args.days * 24} hours = {cells:,} story-hours")

    floor = min(timed(lambda: column.sum(), repeat=20)[0], timed(lambda: column.sum(), 20)[0])
    write_floor = timed(lambda: np.empty((len(OUTPUT_FLOATS), cells)).fill(1.0), repeat=3)[0]
    latest, latest_mem = timed(lambda: noise_level(recent, health, params, hours=[last]), 5)
    latest_all, _ = timed(lambda: noise_level(frame, health, params, hours=[last]), 5)
    rebuild, rebuild_mem = timed(lambda: noise_level(frame, health, params), 2)

    def line(name: str, seconds: float, scored: int, mem: float | None = None) -> None:
        rate = f"{scored / seconds:>14,.0f} story-hours/s" if scored else " " * 27
        extra = f"  peak {mem:,.0f} MB" if mem is not None else ""
        print(f"{name:<34}{seconds * 1000:>9.1f} ms {seconds / floor:>8.0f}x floor {rate}{extra}")

    line("floor (numpy pass, read once)", floor, cells)
    line("write floor (fill rebuild output)", write_floor, cells)
    line(f"latest hour ({len(recent):,} rows in)", latest, args.stories, latest_mem)
    line("latest hour (whole frame in)", latest_all, args.stories)
    line("full rebuild", rebuild, cells, rebuild_mem)
    verdict = {True: "ok", False: "MISSED"}
    print(
        f"targets: latest {latest / floor:.0f}x <= 50x: {verdict[latest <= 50 * floor]};"
        f" rebuild {rebuild / floor:.0f}x <= 200x: {verdict[rebuild <= 200 * floor]}"
        f" ({rebuild / write_floor:.1f}x the write floor)"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {rss:,.0f} MB (input frame included); target < 2,048 MB")


if __name__ == "__main__":
    main()
