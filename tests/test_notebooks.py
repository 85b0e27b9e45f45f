"""Every notebook under notebooks/ runs, top to bottom, against a freshly built demo database,
and is committed with its outputs stripped."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import copy_demo

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
# What each notebook must print, and how many plots (inline images) it must draw at least.
EXPECTED = {
    "forecast_backtest.ipynb": (["scored forecasts at origins", "production: blended"], 6),
    "trends.ipynb": (["the slow burn overtakes the spike at"], 0),
}


@pytest.fixture(scope="module")
def demo_db(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_demo(demo_template, tmp_path_factory.mktemp("notebooks"))


def test_there_are_notebooks() -> None:
    assert [p.name for p in NOTEBOOKS] == sorted(EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}: strip outputs"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(
    path: Path, demo_db: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    if path.name == "forecast_backtest.ipynb":  # the backtest reads ../shared/data's series
        monkeypatch.setenv("NOISECAST_SHARED_DATA", str(request.getfixturevalue("shared_data")))
    monkeypatch.setenv("NOISECAST_DB", str(demo_db))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    printed = "".join(
        o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs
    )
    texts, plots = EXPECTED[path.name]
    for text in texts:
        assert text in printed, f"{path.name}: {text!r} not printed"
    images = [
        o
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    assert len(images) >= plots, f"{path.name}: {len(images)} plots drawn, expected {plots}"
    assert os.environ["NOISECAST_DB"] == str(demo_db)
