"""Build the forecast prior shipped with the package: `make prior`.

Fits :class:`noisecast.engine.core.prior.PriorForecaster` on the public UCI Facebook series
(``../shared/data/series/uci_facebook_palestine_hourly_dev.csv``, or under
``$NOISECAST_SHARED_DATA``: the 5,028 development series, CC BY 4.0, see
``engine/data/README.md``) with fixed seeds and one thread, and writes
``engine/data/forecast_prior.joblib`` (compress=3) and its sidecar ``forecast_prior.json``.
The same source gives the same predictions on every rebuild (``tests/test_prior.py`` checks it).

    python bench/build_prior.py [--source CSV_OR_CSV_GZ] [--out DIR] [--horizon 24]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import tempfile
from pathlib import Path

from noisecast.engine.core.features import build_features
from noisecast.engine.core.prior import PriorForecaster
from noisecast.engine.jobs.model_files import PRIOR_FILE, save_prior
from noisecast.engine.jobs.series_files import read_series_csv

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "engine" / "data"
SHARED_DATA = Path(os.environ.get("NOISECAST_SHARED_DATA") or ROOT.parent / "shared" / "data")
SOURCE = SHARED_DATA / "series" / "uci_facebook_palestine_hourly_dev.csv"
NAME = "UCI News Popularity in Multiple Social Media Platforms, Palestine, Facebook (dev)"


def raw_bytes(source: Path) -> bytes:
    data = source.read_bytes()
    return gzip.decompress(data) if source.suffix == ".gz" else data


def build(source: Path = SOURCE, out: Path = DATA, horizon: int = 24) -> dict[str, object]:
    """Fit the prior on ``source`` and write it to ``out``; the sidecar."""
    if not source.is_file():
        raise SystemExit(
            f"build_prior: {source} is absent: the prior is fitted on the shared public series "
            "(set NOISECAST_SHARED_DATA to the folder holding series/, or pass --source)"
        )
    data = raw_bytes(source)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "series.csv"
        csv.write_bytes(data)
        series = read_series_csv(csv)
    training = {
        "name": NAME,
        "file": source.name.removesuffix(".gz"),
        "sha256": hashlib.sha256(data).hexdigest(),
        "n_series": int(series["series"].nunique()),
        "licence": "CC BY 4.0 (Moniz & Torgo 2018, UCI dataset 432)",
    }
    model = PriorForecaster(horizon, training_data=training, random_state=0, n_threads=1)
    model.fit_table(build_features(series, horizon))
    out.mkdir(parents=True, exist_ok=True)
    return save_prior(model, out / PRIOR_FILE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--out", type=Path, default=DATA)
    parser.add_argument("--horizon", type=int, default=24)
    args = parser.parse_args()
    print(json.dumps(build(args.source, args.out, args.horizon), indent=2))


if __name__ == "__main__":
    main()
