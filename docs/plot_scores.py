"""Draw docs/img/demo-scores.png: the demo stories' noise level over 72 hours.

.venv/bin/python docs/plot_scores.py     (runs the offline demo into a temporary database)
"""

from __future__ import annotations

import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from noisecast.engine import analysis
from noisecast.engine.config import Settings
from noisecast.engine.core.score import LEVELS
from noisecast.engine.demo.run import DEMO_START, run_demo


def main() -> None:
    out = Path(__file__).with_name("img") / "demo-scores.png"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        run_demo(Settings(), database_url=url, console=Console(quiet=True), quiet=True)
        store = analysis.open_store(url)
        scores = analysis.scores(store)
        store.close()
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    for story, frame in scores.groupby("story"):
        hours = (frame["as_of"] - DEMO_START) / timedelta(hours=1)
        ax.plot(hours, frame["score"], label=story, linewidth=1.8)
    settings = Settings().scoring
    for threshold, level in zip(settings.thresholds, LEVELS[1:], strict=True):
        ax.axhline(threshold, color="grey", linewidth=0.6, linestyle=":")
        ax.text(72.5, threshold + 1, level, fontsize=8, color="grey")
    ax.set(xlim=(0, 80), ylim=(0, 100), xlabel="simulated hour", ylabel="noise level (0-100)")
    ax.set_title("The demo's five stories, scored every hour")
    ax.legend(loc="upper left", fontsize=8, ncols=2)
    fig.tight_layout()
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out)
    print(out)


if __name__ == "__main__":
    main()
