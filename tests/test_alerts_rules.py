"""Alert rules (engine/core/alerts.py), pure: the condition grammar, rules as dicts, the
Alertmanager semantics of evaluate (dedupe, reminders, resolved, silences, point events),
the words, grouping into messages, quiet hours across midnight and DST, backoff."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noisecast.engine.core.alerts import (
    AlertEvent,
    AlertRuleError,
    AlertState,
    Condition,
    Rule,
    Silence,
    StoryFacts,
    backoff,
    evaluate,
    group_messages,
    parse_condition,
    parse_quiet_hours,
    quiet_until,
    rule_from_dict,
    rule_to_dict,
)
from noisecast.engine.errors import ConfigError
from noisecast.engine.schema import LEVELS

H0 = datetime(2025, 3, 3, 9, tzinfo=UTC)
BASE = "https://noise.example.org"


def hour(i: int) -> datetime:
    return H0 + timedelta(hours=i)


def level_rule(repeat_hours: int = 24, send_resolved: bool = True, **kw: object) -> Rule:
    return rule_from_dict(
        {
            "name": "desk-high",
            "when": 'level >= "High"',
            "to": ["desk"],
            "repeat_hours": repeat_hours,
            "send_resolved": send_resolved,
            **kw,
        }
    )


def facts(i: int, loud: bool, slug: str = "port-strike", **kw: object) -> StoryFacts:
    base: dict[str, object] = {
        "score": 71.0 if loud else 41.0,
        "level": "High" if loud else "Moderate",
        "scores_before": {6: 33.0},
        "drivers": "driven by breadth: 16 outlets",
        "hedge_word": "likely",
        "prob_rising": 0.7,
    }
    base.update(kw)
    return StoryFacts(slug, "Port strike", hour(i), **base)  # type: ignore[arg-type]


class Run:
    """Drives evaluate hour by hour as the cycle does, keeping the states it returns."""

    def __init__(self, rules: Sequence[Rule], silences: Sequence[Silence] = ()) -> None:
        self.rules, self.silences = list(rules), list(silences)
        self.states: dict[tuple[str, str], AlertState] = {}
        self.events: list[AlertEvent] = []

    def step(self, i: int, story_facts: Sequence[StoryFacts]) -> list[AlertEvent]:
        events, changed = evaluate(
            self.rules, story_facts, self.states, self.silences, hour=hour(i), base_url=BASE
        )
        for state in changed:
            self.states[(state.rule, state.slug)] = state
        self.events += events
        return events

    def kinds(self, *, sent: bool | None = None) -> list[str]:
        return [e.kind for e in self.events if sent is None or (e.silenced_by is None) == sent]


# --- the condition grammar ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "op", "value", "hours", "words"),
    [
        ('level >= "High"', "level", ">=", 3.0, None, "level reaches High"),
        ('LEVEL > "moderate"', "level", ">", 2.0, None, "level reaches High"),
        ('level == "Very high"', "level", "==", 4.0, None, "level is Very high"),
        ("score >= 70", "score", ">=", 70.0, None, "score reaches 70"),
        ("score > 62.5", "score", ">", 62.5, None, "score goes above 62.5"),
        ("jump >= 20 in 6h", "jump", ">=", 20.0, 6, "score jumps by 20 in 6 hours"),
        ("jump > 5 in 1 hour", "jump", ">", 5.0, 1, "score jumps by more than 5 in 1 hour"),
        ("Rising >= 0.7", "rising", ">=", 0.7, None, "forecast chance of rising is at least 70%"),
        ("forecast  Approved", "approved", "", 0.0, None, "a forecast is approved"),
        ("unhealthy", "unhealthy", "", 0.0, None, "the story's data is unhealthy"),
        ("emerging", "emerging", "", 0.0, None, "an emerging story is proposed"),
    ],
)
def test_conditions_parse_and_describe(
    text: str, kind: str, op: str, value: float, hours: int | None, words: str
) -> None:
    cond = parse_condition(f"  {text} ")
    assert (cond.kind, cond.op, cond.value, cond.hours, cond.text) == (
        kind,
        op,
        value,
        hours,
        text,
    )
    assert cond.describe().startswith(words)
    assert parse_condition(cond.text) == cond


@pytest.mark.parametrize(
    ("text", "position", "says"),
    [
        ('level = "High"', 6, "expected >=, > or =="),
        ("level >= High", 9, "a level in quotes"),
        ('level >= "Loud"', 9, "unknown level 'Loud'"),
        ('level >= "High', 9, "unclosed quote"),
        ('level > "Very high"', 8, "nothing is above"),
        ("score >= 170", 9, "between 0 and 100"),
        ("score == 70", 6, "expected >= or >"),
        ("jump >= 20", 10, "'in' and a number of hours"),
        ("jump >= 20 in 49h", 14, "from 1 to 48"),
        ("jump >= 20 in 1.5h", 14, "whole number"),
        ("rising >= 70", 10, "between 0 and 1"),
        ("forecast", 8, "'approved'"),
        ("loudness >= 3", 0, "expected level, score"),
        ("score >= 7 or more", 11, "unexpected 'or'"),
        ("", 0, "empty condition"),
        ("   ", 0, "empty condition"),
    ],
)
def test_grammar_errors_name_the_position(text: str, position: int, says: str) -> None:
    with pytest.raises(AlertRuleError) as info:
        parse_condition(text)
    assert info.value.position == position
    assert says in str(info.value)
    assert isinstance(info.value, ConfigError)
    if text.strip():
        shown = "the end" if position >= len(text.rstrip()) else f"character {position + 1}"
        assert f"at {shown} of {text!r}" in str(info.value)


def test_the_position_counts_leading_spaces() -> None:
    with pytest.raises(AlertRuleError) as info:
        parse_condition("   score >= x")
    assert info.value.position == 12
    assert "character 13" in str(info.value)


GRAMMAR_PIECES = st.sampled_from(
    [
        "level", "score", "jump", "rising", "forecast", "approved", "unhealthy", "emerging",
        "in", ">=", ">", "==", "=", "<", '"High"', '"high', "'Low'", "6h", "6", "0.5", "120",
        " ", "  ", "h", "hours", "x", "(", '"', "é", "-1", "1e3",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(GRAMMAR_PIECES, max_size=7).map("".join) | st.text(max_size=30))
def test_the_parser_never_crashes(text: str) -> None:
    try:
        cond = parse_condition(text)
    except AlertRuleError as e:
        assert e.position is not None and 0 <= e.position <= len(text)
        return
    assert parse_condition(cond.text) == cond
    assert cond.kind in ("level", "score", "jump", "rising", "approved", "unhealthy", "emerging")


def _spaced(*parts: str) -> st.SearchStrategy[str]:
    return st.tuples(*(st.sampled_from([" ", "  ", "\t"]) for _ in parts)).map(
        lambda gaps: "".join(p + g for p, g in zip(parts, gaps, strict=True)).strip()
    )


SLUGS = st.from_regex(r"[a-z0-9][a-z0-9-]{0,10}", fullmatch=True)
VALID_CONDITIONS = st.one_of(
    st.tuples(
        st.sampled_from(["level", "LEVEL", "Level"]),
        st.sampled_from([">=", "=="]),
        st.sampled_from(LEVELS),
    ).flatmap(lambda t: _spaced(t[0], t[1], f'"{t[2].upper()}"')),
    st.tuples(st.sampled_from([">=", ">"]), st.integers(0, 100)).flatmap(
        lambda t: _spaced("score", t[0], str(t[1]))
    ),
    st.tuples(st.integers(1, 100), st.integers(1, 48), st.sampled_from(["h", " h", " hours"])).map(
        lambda t: f"jump >= {t[0]} in {t[1]}{t[2]}"
    ),
    st.floats(0, 1, allow_nan=False).map(lambda p: f"rising > {p:.2f}"),
    st.sampled_from(["forecast approved", "Forecast APPROVED", "unhealthy", "emerging"]),
)


@settings(max_examples=200, deadline=None)
@given(
    when=VALID_CONDITIONS,
    stories=st.none() | st.lists(SLUGS, min_size=1, max_size=3),
    repeat=st.integers(1, 72),
    flags=st.tuples(st.booleans(), st.booleans()),
)  # fmt: skip
def test_rules_round_trip_through_dicts(
    when: str, stories: list[str] | None, repeat: int, flags: tuple[bool, bool]
) -> None:
    cond = parse_condition(when)
    assert parse_condition(cond.text) == cond
    rule = Rule(
        name="r-1",
        condition=cond,
        to=("desk", "ops"),
        stories=None if stories is None else tuple(dict.fromkeys(stories)),
        repeat_hours=repeat,
        send_resolved=flags[0],
        enabled=flags[1],
    )
    as_dict = rule_to_dict(rule)
    assert rule_from_dict(as_dict) == rule
    import json

    assert rule_from_dict(json.loads(json.dumps(as_dict))) == rule


# --- rules as dicts ----------------------------------------------------------------------------


DESTS = {"desk": "desk", "ops": "admins"}


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"name": "Desk High"}, "name", "not a rule name"),
        ({"when": 'level = "High"'}, "when", "when: expected >=, > or == after 'level'"),
        ({"when": ""}, "when", "when: missing"),
        ({"to": ["nowhere"]}, "to", "to: unknown destination 'nowhere' (known: desk, ops)"),
        ({"to": []}, "to", "to: expected a list of destination names"),
        ({"when": "unhealthy"}, "to", "audience 'desk': data-health alerts"),
        ({"stories": ["Port strike"]}, "stories", "not a story slug"),
        ({"stories": []}, "stories", 'expected "all" or a list'),
        ({"stories": ["a"], "tag": "politics"}, "tag", "stories or a tag, not both"),
        ({"repeat_hours": 0}, "repeat_hours", "from 1 to"),
        ({"repeat_hours": "often"}, "repeat_hours", "whole number"),
        ({"send_resolved": "maybe"}, "send_resolved", "true or false"),
    ],
)
def test_rule_from_dict_names_the_field(change: dict[str, object], field: str, says: str) -> None:
    d = {"name": "desk-high", "when": 'level >= "High"', "to": ["desk"], **change}
    with pytest.raises(AlertRuleError) as info:
        rule_from_dict(d, destinations=DESTS)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert says in str(info.value)


def test_rule_from_dict_takes_form_values() -> None:
    rule = rule_from_dict(
        {
            "name": "ops-health",
            "when": "unhealthy",
            "to": "ops",
            "stories": "port-strike, ai-act",
            "repeat_hours": "6",
            "send_resolved": "off",
            "enabled": "on",
        },
        destinations=DESTS,
    )
    assert rule.to == ("ops",) and rule.stories == ("port-strike", "ai-act")
    assert (rule.repeat_hours, rule.send_resolved, rule.enabled) == (6, False, True)


def test_covers_all_a_list_or_a_tag() -> None:
    assert level_rule().covers("any", ())
    listed = level_rule(stories=["a", "b"])
    assert listed.covers("a", ()) and not listed.covers("c", ("politics",))
    tagged = level_rule(tag="politics")
    assert tagged.covers("c", ("politics", "uk")) and not tagged.covers("a", ("uk",))


# --- evaluate: the Alertmanager semantics ------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    before=st.integers(0, 5),
    k=st.integers(1, 80),
    after=st.integers(0, 4),
    repeat=st.integers(1, 30),
    send_resolved=st.booleans(),
)
def test_k_hours_holding_give_one_firing_and_reminders_every_repeat_hours(
    before: int, k: int, after: int, repeat: int, send_resolved: bool
) -> None:
    run = Run([level_rule(repeat, send_resolved)])
    pattern = [False] * before + [True] * k + [False] * after
    for i, loud in enumerate(pattern):
        run.step(i, [facts(i, loud)])
    kinds = run.kinds()
    assert kinds.count("firing") == 1 and kinds[0] == "firing"
    assert kinds.count("reminder") == (k - 1) // repeat
    expected_resolved = 1 if send_resolved and after > 0 else 0
    assert kinds.count("resolved") == expected_resolved
    if expected_resolved:
        assert kinds[-1] == "resolved"
        assert run.events[-1].hour == hour(before + k)
    assert run.events[0].hour == hour(before)
    reminders = [e.hour for e in run.events if e.kind == "reminder"]
    assert reminders == [hour(before + n * repeat) for n in range(1, len(reminders) + 1)]
    assert len({e.key for e in run.events}) == len(run.events)


@settings(max_examples=150, deadline=None)
@given(pattern=st.lists(st.booleans(), max_size=60), repeat=st.integers(1, 12))
def test_each_run_of_holding_hours_fires_once_and_resolves_once(
    pattern: list[bool], repeat: int
) -> None:
    run = Run([level_rule(repeat)])
    for i, loud in enumerate(pattern):
        run.step(i, [facts(i, loud)])
    runs = [len(list(g)) for loud, g in itertools.groupby(pattern) if loud]
    ended = sum(1 for a, b in itertools.pairwise(pattern) if a and not b)
    kinds = run.kinds()
    assert kinds.count("firing") == len(runs)
    assert kinds.count("reminder") == sum((n - 1) // repeat for n in runs)
    assert kinds.count("resolved") == ended


@settings(max_examples=150, deadline=None)
@given(pattern=st.lists(st.booleans(), min_size=1, max_size=40), repeat=st.integers(1, 6))
def test_re_evaluating_an_evaluated_hour_gives_nothing(pattern: list[bool], repeat: int) -> None:
    run = Run([level_rule(repeat)])
    for i, loud in enumerate(pattern):
        run.step(i, [facts(i, loud)])
        for j in range(max(0, i - 2), i + 1):  # the same hour again, and older ones
            again = evaluate(
                run.rules, [facts(j, not loud)], run.states, [], hour=hour(j), base_url=BASE
            )
            assert again == ([], [])


@settings(max_examples=200, deadline=None)
@given(
    k=st.integers(1, 30),
    quiet=st.tuples(st.integers(-3, 32), st.integers(0, 20)),
    after=st.integers(0, 2),
    repeat=st.integers(1, 8),
)
def test_silences_record_muted_events_and_send_the_firing_when_they_end(
    k: int, quiet: tuple[int, int], after: int, repeat: int
) -> None:
    first, length = quiet  # the silence mutes the hours first .. first+length-1
    silence = Silence(
        7, starts_at=hour(first) + timedelta(hours=1), ends_at=hour(first + length + 1)
    )
    muted = {i for i in range(k + after) if first <= i < first + length}
    run = Run([level_rule(repeat)], [silence])
    for i in range(k + after):
        for e in run.step(i, [facts(i, i < k)]):
            assert (e.silenced_by == 7) == (i in muted)
    sent = [e for e in run.events if e.silenced_by is None]
    recorded = [e for e in run.events if e.silenced_by is not None]
    loud_unmuted = [i for i in range(k) if i not in muted]
    if loud_unmuted:  # the firing is sent once, at the first hour the silence does not cover
        assert [e.kind for e in sent].count("firing") == 1
        assert next(e for e in sent if e.kind == "firing").hour == hour(loud_unmuted[0])
    else:
        assert not any(e.kind == "firing" for e in sent)
    if 0 in muted:
        assert recorded and recorded[0].kind == "firing" and recorded[0].hour == hour(0)
    # one muted event per silence while the condition holds, not one per hour
    assert sum(1 for e in recorded if e.kind != "resolved") <= 1
    if after and loud_unmuted:
        assert run.events[-1].kind == "resolved"
        assert (run.events[-1].silenced_by is None) == (k not in muted)
    elif after:
        assert not any(e.kind == "resolved" for e in run.events)  # nothing was sent to resolve


def test_a_silence_for_another_story_or_rule_does_not_mute() -> None:
    silences = [
        Silence(1, hour(0), hour(10), slug="other-story"),
        Silence(2, hour(0), hour(10), rule="other-rule"),
        Silence(3, hour(0), hour(10), rule="desk-high", slug="port-strike"),
    ]
    assert not silences[0].mutes("desk-high", "port-strike", hour(1))
    assert not silences[1].mutes("desk-high", "port-strike", hour(1))
    assert silences[2].mutes("desk-high", "port-strike", hour(1))
    assert not silences[2].mutes("desk-high", "port-strike", hour(10))  # ends_at is excluded
    events, _ = evaluate(
        [level_rule()], [facts(0, True)], {}, silences[:2], hour=hour(0), base_url=BASE
    )
    assert [e.silenced_by for e in events] == [None]


def test_silences_are_checked_at_now() -> None:
    """An editor mutes at 10:30; the cycle evaluates the 10:00 hour at 11:05: muted."""
    silence = Silence(4, starts_at=hour(1) + timedelta(minutes=30), ends_at=hour(5))
    events, _ = evaluate(
        [level_rule()],
        [facts(1, True)],
        {},
        [silence],
        hour=hour(1),
        base_url=BASE,
        now=hour(2) + timedelta(minutes=5),
    )
    assert [e.silenced_by for e in events] == [4]


@settings(max_examples=100, deadline=None)
@given(
    ids=st.lists(st.none() | st.integers(1, 6), max_size=30).map(
        lambda xs: sorted(xs, key=lambda x: x or 0)
    )
)
def test_approved_fires_once_per_forecast(ids: list[int | None]) -> None:  # fmt: skip
    rule = rule_from_dict({"name": "approved", "when": "forecast approved", "to": ["desk"]})
    run = Run([rule])
    for i, fid in enumerate(ids):
        run.step(i, [facts(i, True, approved_forecast_id=fid, approved_text="Likely to grow.")])
    assert run.kinds() == ["firing"] * len({x for x in ids if x is not None})
    assert [e.facts["approved_forecast_id"] for e in run.events] == sorted(
        {x for x in ids if x is not None}
    )


def test_emerging_fires_once_per_new_proposal() -> None:
    rule = rule_from_dict({"name": "new-stories", "when": "emerging", "to": ["desk"]})
    run = Run([rule])
    for i, proposed in enumerate([(), ("a",), ("a",), ("a", "b"), ("b",), ()]):
        run.step(i, [facts(i, True, emerging=proposed)])
    assert [(e.kind, e.hour) for e in run.events] == [("firing", hour(1)), ("firing", hour(3))]
    assert "b" in run.events[1].text
    many = Run([rule])  # a long list of proposals: AlertState.ref stays short (64 characters)
    for i in range(12):
        many.step(i, [facts(i, True, emerging=tuple(f"proposal-{n}" for n in range(i + 1)))])
    assert len(many.events) == 12
    assert all(len(s.ref) <= 64 for s in many.states.values())


def test_unknown_values_change_nothing() -> None:
    run = Run([level_rule(repeat_hours=1)])
    run.step(0, [facts(0, True)])
    run.step(1, [facts(1, True, score=None, level=None)])  # no score this hour: no resolved
    run.step(2, [facts(2, True)])
    assert run.kinds() == ["firing", "reminder"]


def test_disabled_rules_and_uncovered_stories_give_nothing() -> None:
    rules = [level_rule(enabled=False), level_rule(name="tagged", tag="politics")]
    events, states = evaluate(rules, [facts(0, True)], {}, [], hour=hour(0), base_url=BASE)
    assert (events, states) == ([], [])
    events, _ = evaluate(
        rules, [facts(0, True, tags=("politics",))], {}, [], hour=hour(0), base_url=BASE
    )
    assert [e.rule for e in events] == ["tagged"]


def test_every_evaluated_pair_returns_its_state() -> None:
    _, states = evaluate([level_rule()], [facts(0, False)], {}, [], hour=hour(0), base_url=BASE)
    assert states == [AlertState("desk-high", "port-strike", evaluated_hour=hour(0))]
    run = Run([level_rule()])
    run.step(0, [facts(0, True)])
    state = run.states[("desk-high", "port-strike")]
    assert (state.firing, state.since, state.notified_at, state.evaluated_hour) == (
        True,
        hour(0),
        hour(0),
        hour(0),
    )


def test_jump_rising_score_unhealthy_hold_on_their_numbers() -> None:
    def fired(when: str, **kw: object) -> bool:
        rule = rule_from_dict(
            {"name": "r", "when": when, "to": ["ops"]}, destinations={"ops": "admins"}
        )
        events, _ = evaluate([rule], [facts(0, True, **kw)], {}, [], hour=hour(0), base_url=BASE)
        return bool(events)

    assert fired("jump >= 38 in 6h") and not fired("jump > 38 in 6h")
    assert not fired("jump >= 5 in 3h")  # the score 3 hours ago is unknown
    assert fired("score >= 71") and not fired("score > 71")
    assert fired("rising >= 0.7") and not fired("rising >= 0.71")
    assert fired("unhealthy", low_confidence=True) and not fired("unhealthy")
    assert fired('level == "High"') and not fired('level == "Very high"')


# --- words -------------------------------------------------------------------------------------


def test_the_words_of_a_firing_a_reminder_and_a_resolved() -> None:
    run = Run([level_rule(repeat_hours=6)])
    for i in range(7):
        run.step(i, [facts(i, True)])
    run.step(7, [facts(7, False)])
    firing, reminder, resolved = run.events
    assert firing.key == "desk-high/port-strike/20250303T09/firing"
    assert firing.title == "Port strike reached High"
    assert firing.text == (
        "Port strike reached High (71, up 38 in 6 h; driven by breadth: 16 outlets). "
        "Forecast: likely to grow."
    )
    assert firing.link == f"{BASE}/stories/port-strike"
    assert firing.to == ("desk",)
    assert firing.facts["score"] == 71.0 and firing.facts["change"] == "up 38 in 6 h"
    assert reminder.title == "Port strike still High"
    assert reminder.text.startswith("Port strike still High since 09:00 UTC (6 hours): 71, up 38")
    assert resolved.title == "Port strike is back below High"
    assert resolved.text == "Port strike is back below High (now Moderate, 41)."


def test_low_confidence_is_said() -> None:
    events, _ = evaluate(
        [level_rule()],
        [facts(0, True, low_confidence=True, confidence_note="4 of 9 sources failed")],
        {},
        [],
        hour=hour(0),
        base_url=BASE,
    )
    assert events[0].text.endswith("Low confidence: 4 of 9 sources failed.")


# --- messages ----------------------------------------------------------------------------------


def _event(rule: str, slug: str, i: int, kind: str = "firing") -> AlertEvent:
    return AlertEvent(
        key=f"{rule}/{slug}/{hour(i):%Y%m%dT%H}/{kind}",
        rule=rule,
        slug=slug,
        kind=kind,
        hour=hour(i),
        title=f"{slug} {kind}",
        text=f"{slug} {kind} at {i}.",
        link=f"{BASE}/stories/{slug}",
        to=("desk",),
    )


EVENTS = st.lists(
    st.builds(
        _event,
        st.sampled_from(["desk-high", "jumps"]),
        st.sampled_from(["port-strike", "ai-act", "floods"]),
        st.integers(0, 5),
        st.sampled_from(["firing", "reminder", "resolved"]),
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda e: e.key,
)


@settings(max_examples=150, deadline=None)
@given(events=EVENTS, data=st.data())
def test_grouping_is_stable_under_order(events: list[AlertEvent], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(events))
    one, two = group_messages("desk", events), group_messages("desk", shuffled)
    assert one == two
    assert one.keys == tuple(sorted(e.key for e in events))
    assert len(one.idempotency_key) == 16 and int(one.idempotency_key, 16) >= 0
    assert one.body.endswith(f"ref: {one.idempotency_key}")
    if len(events) == 1:
        assert one.title == events[0].title
        assert one.body.startswith(f"{events[0].text}\n{events[0].link}")
    else:
        assert one.title.startswith(f"noisecast: {len(events)} alerts")
        first = min(events, key=lambda e: (e.hour, e.rule, e.slug, e.kind, e.key))
        assert len(one.title) <= 120 and first.title in one.title
        assert one.body.count("\n- ") + one.body.startswith("- ") == len(events)


def test_a_grouped_title_names_what_fits_and_counts_the_rest() -> None:
    two = group_messages("desk", [_event("r", "a", 0), _event("r", "b", 0)])
    assert (
        two.title
        == f"noisecast: 2 alerts: {_event('r', 'a', 0).title}; {_event('r', 'b', 0).title}"
    )
    many = group_messages("desk", [_event("r", f"story-{i:02d}", 0) for i in range(12)])
    assert many.title.startswith("noisecast: 12 alerts: ") and len(many.title) <= 120
    shown = many.title.count(";") + 1 - many.title.endswith("more")
    assert many.title.endswith(f"; and {12 - shown} more")


def test_different_events_have_different_message_keys() -> None:
    a = group_messages("desk", [_event("r", "a", 0)])
    b = group_messages("desk", [_event("r", "a", 0), _event("r", "b", 0)])
    assert a.idempotency_key != b.idempotency_key
    with pytest.raises(ValueError, match="no events"):
        group_messages("desk", [])


# --- quiet hours and backoff -------------------------------------------------------------------


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "zone", "at", "until"),
    [
        # across midnight, winter (GMT = UTC)
        ("22:00-07:00", "Europe/London", utc(2025, 1, 15, 23, 0), utc(2025, 1, 16, 7, 0)),
        ("22:00-07:00", "Europe/London", utc(2025, 1, 16, 3, 0), utc(2025, 1, 16, 7, 0)),
        ("22:00-07:00", "Europe/London", utc(2025, 1, 15, 22, 0), utc(2025, 1, 16, 7, 0)),
        ("22:00-07:00", "Europe/London", utc(2025, 1, 15, 21, 59), None),
        ("22:00-07:00", "Europe/London", utc(2025, 1, 16, 7, 0), None),
        # summer (BST = UTC+1): 22:00 local is 21:00 UTC
        ("22:00-07:00", "Europe/London", utc(2025, 7, 1, 21, 30), utc(2025, 7, 2, 6, 0)),
        ("22:00-07:00", "Europe/London", utc(2025, 7, 1, 20, 59), None),
        # the night the clocks go forward (30 March 2025, 01:00 UTC) and back (26 October)
        ("22:00-07:00", "Europe/London", utc(2025, 3, 30, 0, 30), utc(2025, 3, 30, 6, 0)),
        ("22:00-07:00", "Europe/London", utc(2025, 10, 25, 22, 0), utc(2025, 10, 26, 7, 0)),
        # an end the clocks skip (01:30 on 30 March): ends when they jump, 01:00 UTC
        ("23:00-01:30", "Europe/London", utc(2025, 3, 30, 0, 45), utc(2025, 3, 30, 1, 0)),
        # an end the clocks show twice (01:30 on 26 October): the first time, in BST
        ("23:00-01:30", "Europe/London", utc(2025, 10, 26, 0, 10), utc(2025, 10, 26, 0, 30)),
        # within one day, another zone
        ("12:00-13:30", "America/New_York", utc(2025, 1, 15, 17, 15), utc(2025, 1, 15, 18, 30)),
        ("12:00-13:30", "America/New_York", utc(2025, 1, 15, 18, 30), None),
        ("", "UTC", utc(2025, 1, 15, 3, 0), None),
    ],
)
def test_quiet_hours(period: str, zone: str, at: datetime, until: datetime | None) -> None:
    assert quiet_until(period, zone, at) == until


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(0, 23 * 60 + 59),
    end=st.integers(0, 23 * 60 + 59),
    zone=st.sampled_from(["UTC", "Europe/London", "America/New_York", "Australia/Sydney"]),
    at=st.datetimes(datetime(2024, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC)),
)
def test_quiet_until_ends_after_now_and_outside_the_period(
    start: int, end: int, zone: str, at: datetime
) -> None:
    if start == end:
        return
    period = f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
    until = quiet_until(period, zone, at)
    if until is not None:
        assert at < until <= at + timedelta(hours=25)
        assert quiet_until(period, zone, until) is None or until - at > timedelta(hours=20)


@pytest.mark.parametrize(
    ("text", "position"),
    [("22:00", 5), ("22-07", 0), ("22:00-7", 6), ("24:00-07:00", 0), ("22:00-07:60", 6)],
)
def test_quiet_hours_errors(text: str, position: int) -> None:
    with pytest.raises(AlertRuleError, match="HH:MM-HH:MM") as info:
        parse_quiet_hours(text)
    assert info.value.position == position
    with pytest.raises(AlertRuleError, match="same time"):
        parse_quiet_hours("07:00-07:00")
    assert parse_quiet_hours(" 22:30 – 06:15 ") == (time(22, 30), time(6, 15))


def test_backoff_doubles_up_to_the_cap() -> None:
    waits = [backoff(n, base=30, cap=3600).total_seconds() for n in range(1, 10)]
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert backoff(500, base=30, cap=3600) == timedelta(hours=1)
    with pytest.raises(ValueError, match="attempt"):
        backoff(0, base=30, cap=3600)


def test_condition_is_a_frozen_value() -> None:
    cond = parse_condition('level >= "High"')
    assert cond == Condition("level", ">=", 3.0, None, 'level >= "High"')
    assert hash(cond) == hash(parse_condition('level >= "High"'))
