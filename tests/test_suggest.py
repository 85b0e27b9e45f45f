"""engine.suggest: the hedged sentence and its probability bands."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.suggest import hedge_word, suggest


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
        reason="too little stored history to fit the model.",
    )
    assert "is very likely to ease over the next 6 hours" in s.text
    assert "few or no new mentions" in s.text
    assert (
        "Confidence in this forecast is low: too little stored history to fit the model." in s.text
    )
    assert s.text.endswith("Events may develop differently.")


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
