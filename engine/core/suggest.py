"""The hedged suggestion an editor reviews: a forecast put into calibrated words. Pure.

The words follow the probability that attention rises (the next H hours above the current rate
x H), in bands whose hit rates the backtest reports (``hedge_words`` in its output), so "likely"
means what it says:

=============  ==========================  =====================================
P(rising)      phrase                      the claim, read as
=============  ==========================  =====================================
>= 0.9         "is very likely to grow"    rising, at least 9 times in 10
>= 0.66        "is likely to grow"         rising, about 2 times in 3 or more
0.33 - 0.66    "may grow or ease"          either way
> 0.1          "is likely to ease"         not rising, about 2 times in 3 or more
<= 0.1         "is very likely to ease"    not rising, at least 9 times in 10
=============  ==========================  =====================================

Every suggestion opens with the lead ("Based on current signals, ...") and ends with the close
("Events may develop differently."), both from ``[review]`` in config; an editor may edit the
middle, and only an admin may remove the hedge (issue 7). A low-confidence forecast says so
and why, in a sentence of its own.

**Published words only.** The suggestion is what readers see once it is approved, so it never
carries the editor-facing reason (``forecasts.confidence_note``, which may name settings and
models: the review app shows it). A low-confidence sentence is built from a fixed set of
causes (:data:`CAUSES`), each in plain newsroom English: "Confidence is low: too little
history yet."
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["BANDS", "CAUSES", "Cause", "Suggestion", "hedge_word", "suggest"]

Cause = Literal["history", "prior", "new", "collection"]

# Why a forecast's confidence is low, as readers may read it (order of mention).
CAUSES: dict[Cause, str] = {
    "history": "too little history yet",
    # the prior, learnt on public data, not yet checked against this newsroom's own stories
    "prior": "these forecasts have not yet been checked against our own stories",
    "new": "the story is too new to judge",
    "collection": "some of the sources we follow could not be read",
}

# (lowest probability, band name, phrase), highest first.
BANDS: tuple[tuple[float, str, str], ...] = (
    (0.9, "very likely", "is very likely to grow"),
    (0.66, "likely", "is likely to grow"),
    (0.33, "may", "may grow or ease"),
    (0.1, "unlikely", "is likely to ease"),
    (-math.inf, "very unlikely", "is very likely to ease"),
)


def hedge_word(prob_rising: float) -> str:
    """The band of a probability of rising: very likely, likely, may, unlikely, very unlikely."""
    return _band(prob_rising)[1]


def _band(prob_rising: float) -> tuple[float, str, str]:
    if math.isnan(prob_rising) or not 0.0 <= prob_rising <= 1.0:
        raise ValueError(f"prob_rising: {prob_rising!r} is not a probability in [0, 1]")
    for band in BANDS[:3]:  # at or above the band's lowest probability
        if prob_rising >= band[0]:
            return band
    return BANDS[3] if prob_rising > BANDS[3][0] else BANDS[4]  # above 0.1, else at most


@dataclass(frozen=True, slots=True)
class Suggestion:
    text: str
    word: str  # the band of the probability (see BANDS)


def _count(value: float) -> str:
    return f"{round(value):,}"


def suggest(
    title: str,
    *,
    horizon_hours: int,
    p10: float,
    p90: float,
    prob_rising: float,
    low_confidence: bool = False,
    causes: Iterable[Cause] = (),
    lead: str = "Based on current signals",
    close: str = "Events may develop differently.",
) -> Suggestion:
    """The suggested sentence for one story's forecast.

    ``title`` is used as given: escaping it is the job of whatever displays the text.
    ``causes`` say why confidence is low (keys of :data:`CAUSES`); the editor-facing reason
    never enters the text.
    """
    if p10 > p90:
        raise ValueError(f"p10 ({p10}) is above p90 ({p90})")
    _, word, phrase = _band(prob_rising)
    span = f"the next {horizon_hours} hours" if horizon_hours != 1 else "the next hour"
    if round(p90) <= 0:
        amount = "with few or no new mentions expected"
    elif round(p10) == round(p90):
        amount = f"with about {_count(p90)} new mentions expected"
    else:
        amount = f"with {_count(p10)} to {_count(p90)} new mentions expected"
    text = f"{lead}, attention to “{title.strip()}” {phrase} over {span}, {amount}."
    if low_confidence:
        text += f" {_low_confidence(causes)}"
    return Suggestion(f"{text} {close}".strip(), word)


def _low_confidence(causes: Iterable[Cause]) -> str:
    unknown = sorted(set(causes) - set(CAUSES))
    if unknown:
        raise ValueError(f"causes: {', '.join(map(repr, unknown))}: expected {', '.join(CAUSES)}")
    wanted = set(causes)
    said = [phrase for cause, phrase in CAUSES.items() if cause in wanted]
    if not said:
        return "Confidence is low."
    return f"Confidence is low: {', and '.join(said)}."
