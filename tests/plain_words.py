"""What published text may not contain: setting names, dotted config keys, underscores, model
jargon. Shared by the suggestion, forecast and web tests."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from noisecast.engine.config import Settings

# Words a reader of a story page should never meet (lower case, matched as word starts).
JARGON = (
    "cold start",
    "cold-start",
    "szabo",
    "huberman",
    "training",
    "sample",
    "series",
    "origin",
    "calibrat",
    "quantile",
    "conformal",
    "backtest",
    "model",
    "p10",
    "p50",
    "p90",
    "joblib",
    "scikit",
    "threshold",
    "setting",
    "config",
    "interval",
    "unhealthy",
)
DOTTED_KEY = re.compile(r"\b[a-z]+\.[a-z_]+")


def setting_names(model: type[BaseModel] = Settings, prefix: str = "") -> set[str]:
    """Every ``section.key`` of the settings, and every key with an underscore."""
    names: set[str] = set()
    for name, field in model.model_fields.items():
        dotted = f"{prefix}{name}"
        if "_" in name:
            names.add(name)
        if prefix:
            names.add(dotted)
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            names |= setting_names(kind, f"{dotted}.")
    return names


SETTING_NAMES = setting_names()


def jargon_in(text: str) -> list[str]:
    """What in ``text`` a reader should not see (empty: plain words)."""
    lowered = text.lower()
    found = [f"setting {n!r}" for n in SETTING_NAMES if n in lowered]
    found += [f"dotted key {m!r}" for m in DOTTED_KEY.findall(text)]
    found += ["an underscore"] if "_" in text else []
    found += [f"jargon {w!r}" for w in JARGON if re.search(rf"\b{re.escape(w)}", lowered)]
    return found


def published_strings(data: Any, skip: frozenset[str] = frozenset({"slug"})) -> list[str]:
    """Every string value in a JSON document, except those of the keys in ``skip``."""
    if isinstance(data, dict):
        return [s for k, v in data.items() if k not in skip for s in published_strings(v, skip)]
    if isinstance(data, list):
        return [s for v in data for s in published_strings(v, skip)]
    return [data] if isinstance(data, str) else []
