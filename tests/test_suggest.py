"""noisecast.engine.core.suggest: the hedged sentence and its probability bands."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from noisecast.engine.core.suggest import CAUSES, hedge_word, suggest
from tests.plain_words import jargon_in


@pytest.mark.parametrize(
    ("p", "word"),
    [
        (1.0, "very likely"),
        (0.9, "very likely"),
        (0.89, "likely"),
        (0.66, "likely"),
        (0.5, "may"),
        (0.33, "may"),
        (0.32, "unlikely"),
        (0.11, "unlikely"),
        (0.1, "very unlikely"),
        (0.0, "very unlikely"),
    ],
)
def test_bands(p: float, word: str) -> None:
    assert hedge_word(p) == word


def test_the_sentence_opens_with_the_lead_and_ends_with_the_hedge() -> None:
    s = suggest("Port strike", horizon_hours=24, p10=120.4, p90=310.6, prob_rising=0.8)
    assert s.word == "likely"
    assert s.text == (
        "Based on current signals, attention to “Port strike” is likely to grow over the next "
        "24 hours, with 120 to 311 new mentions expected. Events may develop differently."
    )


def test_easing_quiet_and_low_confidence() -> None:
    s = suggest(
        "Flood",
        horizon_hours=6,
        p10=0,
        p90=0.4,
        prob_rising=0.05,
        low_confidence=True,
        causes=["history"],
    )
    assert "is very likely to ease over the next 6 hours" in s.text
    assert "few or no new mentions" in s.text
    assert "mentions expected. Confidence is low: too little history yet. Events may" in s.text
    assert s.text.endswith("Events may develop differently.")
    both = suggest("Flood", horizon_hours=6, p10=0, p90=1, prob_rising=0.5, low_confidence=True,
                   causes=["collection", "new"])  # fmt: skip
    assert (
        "Confidence is low: the story is too new to judge, and some of the sources we follow "
        "could not be read." in both.text
    )
    bare = suggest("Flood", horizon_hours=6, p10=0, p90=1, prob_rising=0.5, low_confidence=True)
    assert "Confidence is low. Events may develop differently." in bare.text
    with pytest.raises(ValueError, match="causes"):
        suggest("Flood", horizon_hours=6, p10=0, p90=1, prob_rising=0.5, low_confidence=True,
                causes=["forecast.min_training_series"])  # type: ignore[list-item]  # fmt: skip


def test_published_text_is_plain_on_every_confidence_path() -> None:
    """What readers see once a suggestion is approved: no setting names, dotted keys,
    underscores or model jargon, whatever the confidence and its causes."""
    cause_sets = [
        list(c) for n in range(len(CAUSES) + 1) for c in itertools.combinations(CAUSES, n)
    ]
    seen = set()
    for low in (False, True):
        for causes in cause_sets:
            for p in (0.0, 0.2, 0.5, 0.7, 0.95):
                for p10, p90 in ((0, 0), (3, 3), (12, 4_000)):
                    s = suggest("Port strike", horizon_hours=24, p10=p10, p90=p90,
                                prob_rising=p, low_confidence=low, causes=causes)  # fmt: skip
                    assert jargon_in(s.text) == [], s.text
                    seen.add(s.text)
    assert len(seen) > 50
    assert jargon_in("… it needs 20, forecast.min_training_series)") != []  # the checker works
    assert jargon_in("cold start: 40 training samples") != []


def test_custom_hedge_and_bad_input() -> None:
    s = suggest("X", horizon_hours=1, p10=3, p90=3, prob_rising=0.5, lead="On signals so far",
                close="Things change.")  # fmt: skip
    assert s.text == (
        "On signals so far, attention to “X” may grow or ease over the next hour, with about 3 "
        "new mentions expected. Things change."
    )
    with pytest.raises(ValueError, match="prob_rising"):
        suggest("X", horizon_hours=24, p10=0, p90=1, prob_rising=1.5)
    with pytest.raises(ValueError, match="p10"):
        suggest("X", horizon_hours=24, p10=5, p90=1, prob_rising=0.5)


@given(p=st.floats(0, 1), lo=st.floats(0, 1e6), width=st.floats(0, 1e6))
def test_every_suggestion_is_hedged(p: float, lo: float, width: float) -> None:
    s = suggest("T", horizon_hours=24, p10=lo, p90=lo + width, prob_rising=p)
    assert s.text.startswith("Based on current signals, ")
    assert s.text.endswith(" Events may develop differently.")
    assert s.word == hedge_word(p)
