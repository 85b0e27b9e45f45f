"""Alerts in the store (issue 13 §3), on SQLite and PostgreSQL: rules with versions, conflicts
and their audit trail, config sync, silences, the outbox written once, claims that two senders
never share, attempts and destination health."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from noisecast.engine.core.alerts import AlertEvent, AlertState
from noisecast.engine.core.review import ReviewConflict, ReviewInputError
from noisecast.engine.errors import AlertRuleError, AlreadyExistsError
from noisecast.engine.settings import AlertRuleSettings
from noisecast.engine.store import Store
from noisecast.engine.store.tables import alert_deliveries, alert_events, alert_state

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DESTINATIONS = {"desk": "desk", "ops": "admins"}


def rule(name: str = "desk-high", **over: object) -> dict[str, object]:
    d: dict[str, object] = {"name": name, "when": 'level >= "High"', "to": ["desk"]}
    d.update(over)
    return d


def add_story(store: Store, slug: str = "port-strike", tags: tuple[str, ...] = ()) -> int:
    return store.upsert_story(slug, slug.replace("-", " ").title(), slug, now=T0, tags=tags).id


def event(slug: str, n: int = 0, *, to: tuple[str, ...] = ("desk",), **over: object) -> AlertEvent:
    hour = T0 + timedelta(hours=n)
    values: dict[str, object] = {
        "key": f"desk-high/{slug}/{hour:%Y%m%dT%H}/firing",
        "rule": "desk-high",
        "slug": slug,
        "kind": "firing",
        "hour": hour,
        "title": f"{slug} reached High",
        "text": f"{slug} reached High (71).",
        "link": f"http://news.example/stories/{slug}",
        "to": to,
        "facts": {"score": 71.0, "level": "High"},
    }
    values.update(over)
    return AlertEvent(**values)  # type: ignore[arg-type]


def count(store: Store, table: object, *where: object) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())  # type: ignore[arg-type]


# --- rules -------------------------------------------------------------------------------------


def test_rules_have_versions_conflicts_and_an_audit_trail(store: Store) -> None:
    made = store.save_alert_rule(
        rule(), editor="ann", now=T0, version=None, destinations=DESTINATIONS
    )
    assert (made["name"], made["version"], made["origin"], made["enabled"]) == (
        "desk-high",
        1,
        "app",
        True,
    )
    assert made["rule"].condition.kind == "level"
    with pytest.raises(AlreadyExistsError, match="desk-high"):
        store.save_alert_rule(rule(), editor="bob", now=T0, version=None, destinations=DESTINATIONS)

    later = T0 + timedelta(minutes=5)
    edited = store.save_alert_rule(
        rule(when="score >= 70"), editor="bob", now=later, version=1, destinations=DESTINATIONS
    )
    assert edited["version"] == 2 and edited["definition"]["when"] == "score >= 70"
    with pytest.raises(ReviewConflict, match=r"bob saved it at .*version 1|version 1.*bob"):
        store.save_alert_rule(rule(), editor="ann", now=later, version=1, destinations=DESTINATIONS)

    off = store.set_alert_rule_enabled("desk-high", False, editor="ann", now=later, version=2)
    assert (off["enabled"], off["version"]) == (False, 3)
    assert [r["name"] for r in store.alert_rules(include_disabled=False)] == []
    assert [r["enabled"] for r in store.alert_rules()] == [False]

    with pytest.raises(ReviewConflict):
        store.delete_alert_rule("desk-high", editor="ann", now=later, version=2)
    store.delete_alert_rule("desk-high", editor="ann", now=later, version=3)
    assert store.alert_rules() == []
    with pytest.raises(ReviewConflict, match="no longer exists"):
        store.set_alert_rule_enabled("desk-high", True, editor="ann", now=later, version=3)

    audit = store.alert_audit()
    assert [(a["action"], a["editor"]) for a in reversed(audit)] == [
        ("create", "ann"),
        ("update", "bob"),
        ("disable", "ann"),
        ("delete", "ann"),
    ]
    assert audit[-1]["before"] is None and audit[-1]["after"]["version"] == 1
    assert audit[0]["after"] is None and audit[0]["before"]["enabled"] is False
    assert audit[2]["before"]["definition"]["when"] == 'level >= "High"'
    assert audit[2]["after"]["definition"]["when"] == "score >= 70"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"when": 'level >= "Huge"'}, "when"),
        ({"to": ["nowhere"]}, "to"),
        ({"name": "Not A Name"}, "name"),
        ({"when": "unhealthy", "to": ["desk"]}, "to"),  # data health goes to admins only
    ],
)
def test_a_bad_rule_is_refused_naming_the_field(
    store: Store, bad: dict[str, object], field: str
) -> None:
    with pytest.raises(AlertRuleError, match=field):
        store.save_alert_rule(
            rule(**bad), editor="ann", now=T0, version=None, destinations=DESTINATIONS
        )
    assert store.alert_rules() == [] and store.alert_audit() == []


def test_config_rules_sync_but_an_admins_edit_is_left_alone(store: Store) -> None:
    config = [
        AlertRuleSettings(name="desk-high", when='level >= "High"', to=("desk",)),
        AlertRuleSettings(name="ops-health", when="unhealthy", to=("ops",)),
    ]
    assert store.sync_alert_rules(config, now=T0) == (2, 0)
    assert store.sync_alert_rules(config, now=T0) == (0, 0)  # unchanged: nothing written
    assert {r["name"]: r["origin"] for r in store.alert_rules()} == {
        "desk-high": "config",
        "ops-health": "config",
    }
    changed = [config[0].model_copy(update={"repeat_hours": 6}), config[1]]
    assert store.sync_alert_rules(changed, now=T0) == (0, 1)
    desk = store.alert_rule("desk-high")
    assert desk is not None and desk["version"] == 2 and desk["rule"].repeat_hours == 6

    store.set_alert_rule_enabled("desk-high", False, editor="ann", now=T0, version=2)
    again = [config[0].model_copy(update={"repeat_hours": 12}), config[1]]
    assert store.sync_alert_rules(again, now=T0) == (0, 0)
    desk = store.alert_rule("desk-high")
    assert desk is not None
    assert (desk["origin"], desk["enabled"], desk["rule"].repeat_hours) == ("app", False, 6)

    assert store.sync_alert_rules([again[0]], now=T0) == (0, 0)  # ops-health left config
    assert [r["name"] for r in store.alert_rules()] == ["desk-high"]
    assert [a["action"] for a in store.alert_audit() if a["editor"] == "config"] == [
        "delete",
        "update",
        "create",
        "create",
    ]


def test_stories_keep_their_tags(store: Store) -> None:
    add_story(store, "port-strike", ("economy", "transport"))
    store.upsert_story("port-strike", "Port strike", "port strike", now=T0)  # tags left alone
    assert store.list_stories()[0]["tags"] == ["economy", "transport"]
    store.upsert_story("port-strike", "Port strike", "port strike", now=T0, tags=())
    assert store.list_stories()[0]["tags"] == []


# --- silences ----------------------------------------------------------------------------------


def test_silences_are_checked_listed_ended_and_audited(store: Store) -> None:
    add_story(store)
    store.save_alert_rule(rule(), editor="ann", now=T0, version=None, destinations=DESTINATIONS)
    later = T0 + timedelta(hours=4)

    def silence(**over: object) -> int:
        values: dict[str, object] = {
            "rule": None,
            "slug": "port-strike",
            "starts_at": T0,
            "ends_at": later,
            "reason": "  covered  it \n already ",
            "editor": "ann",
            "now": T0,
        }
        values.update(over)
        return store.add_silence(**values)  # type: ignore[arg-type]

    for over, field in [
        ({"ends_at": T0}, "ends_at"),
        ({"ends_at": T0 + timedelta(hours=1), "now": T0 + timedelta(hours=2)}, "ends_at"),
        ({"slug": "no-such-story"}, "story"),
        ({"rule": "no-such-rule"}, "rule"),
        ({"reason": "x" * 501}, "reason"),
    ]:
        with pytest.raises(ReviewInputError, match=field):
            silence(**over)
    first = silence()
    second = silence(rule="desk-high", slug=None, starts_at=T0 + timedelta(hours=1))
    assert [s["id"] for s in store.silences()] == [second, first]
    assert [s["id"] for s in store.silences(active_at=T0)] == [first]
    assert {s["id"] for s in store.silences(active_at=T0 + timedelta(hours=2))} == {first, second}
    assert store.silences(active_at=later) == []
    row = store.silences()[1]
    assert (row["slug"], row["rule"], row["reason"]) == ("port-strike", None, "covered it already")

    store.end_silence(first, editor="bob", now=T0 + timedelta(hours=1))
    assert [s["id"] for s in store.silences(active_at=T0 + timedelta(hours=2))] == [second]
    with pytest.raises(ReviewConflict, match="already ended by bob"):
        store.end_silence(first, editor="ann", now=T0 + timedelta(hours=2))
    with pytest.raises(ReviewInputError, match="no silence"):
        store.end_silence(999, editor="ann", now=T0)
    muting = store.silence_rules(since=T0)
    assert {(s.id, s.ends_at) for s in muting} == {
        (first, T0 + timedelta(hours=1)),
        (second, later),
    }
    silence_audit = [a for a in store.alert_audit() if a["target"] == "silence"]
    assert [(a["action"], a["name"]) for a in reversed(silence_audit)] == [
        ("create", f"#{first}"),
        ("create", f"#{second}"),
        ("end", f"#{first}"),
    ]


# --- the outbox --------------------------------------------------------------------------------


def test_the_outbox_is_written_once_however_often_an_hour_is_redone(store: Store) -> None:
    add_story(store, "port-strike")
    add_story(store, "heatwave")
    events = [
        event("port-strike", to=("desk", "ops", "gone")),
        event("heatwave", silenced_by=7),
    ]
    states = [
        AlertState(
            "desk-high", "port-strike", firing=True, since=T0, notified_at=T0, evaluated_hour=T0
        ),
        AlertState("desk-high", "heatwave", firing=True, since=T0, evaluated_hour=T0),
    ]
    first = store.write_alerts(events, states, destinations={"desk", "ops"}, now=T0)
    assert first == {"events": 2, "muted": 1, "deliveries": 3}
    again = store.write_alerts(events, states, destinations={"desk", "ops"}, now=T0)
    assert again == {"events": 0, "muted": 0, "deliveries": 0}
    assert count(store, alert_events) == 2 and count(store, alert_deliveries) == 3
    assert count(store, alert_deliveries, alert_deliveries.c.status == "muted") == 1
    assert count(store, alert_state) == 2
    got = store.alert_states()
    assert got[("desk-high", "port-strike")].notified_at == T0
    assert got[("desk-high", "heatwave")].notified_at is None

    moved = [
        AlertState("desk-high", "port-strike", firing=False, evaluated_hour=T0 + timedelta(hours=1))
    ]
    store.write_alerts([], moved, destinations={"desk"}, now=T0)
    assert store.alert_states()[("desk-high", "port-strike")] == moved[0]

    recent = store.recent_alerts()
    assert [r["slug"] for r in recent] == ["heatwave", "port-strike"]
    assert recent[0]["silenced"] and [d["status"] for d in recent[0]["deliveries"]] == ["muted"]
    assert [(d["destination"], d["status"]) for d in recent[1]["deliveries"]] == [
        ("desk", "pending"),
        ("ops", "pending"),
    ]
    assert store.recent_alerts(slug="port-strike")[0]["facts"] == {"score": 71.0, "level": "High"}


def test_two_senders_never_claim_the_same_delivery(db_url: str, store: Store) -> None:
    add_story(store)
    store.write_alerts(
        [event("port-strike", n) for n in range(40)], [], destinations={"desk"}, now=T0
    )
    others = [Store.from_url(db_url) for _ in range(4)]
    got: dict[str, list[int]] = {}
    barrier = threading.Barrier(len(others))

    def claim(i: int, s: Store) -> None:
        barrier.wait()
        mine: list[int] = []
        while True:
            rows = s.claim_deliveries("desk", now=T0, claim_seconds=300, token=f"t{i}", limit=3)
            if not rows:
                break
            mine += [r["delivery_id"] for r in rows]
        got[f"t{i}"] = mine

    threads = [threading.Thread(target=claim, args=(i, s)) for i, s in enumerate(others)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for s in others:
        s.close()
    claimed = [d for ids in got.values() for d in ids]
    assert len(claimed) == 40 and len(set(claimed)) == 40, got


def test_a_claim_left_by_a_dead_sender_is_taken_after_claim_seconds(store: Store) -> None:
    add_story(store)
    store.write_alerts([event("port-strike")], [], destinations={"desk"}, now=T0)
    first = store.claim_deliveries("desk", now=T0, claim_seconds=300, token="dead")
    assert [r["key"] for r in first] == ["desk-high/port-strike/20261120T12/firing"]
    assert (
        store.claim_deliveries(
            "desk", now=T0 + timedelta(seconds=299), claim_seconds=300, token="early"
        )
        == []
    )
    assert store.due_deliveries("desk", now=T0 + timedelta(seconds=299), claim_seconds=300) == 0
    late = T0 + timedelta(seconds=300)
    retaken = store.claim_deliveries("desk", now=late, claim_seconds=300, token="alive")
    assert [r["delivery_id"] for r in retaken] == [first[0]["delivery_id"]]
    delivery = first[0]["delivery_id"]
    # the dead sender's late write changes nothing: its claim was taken over
    assert (
        store.finish_deliveries(
            destination="desk",
            token="dead",
            message_key="m1",
            ok=True,
            error=None,
            now=late,
            outcomes={delivery: ("sent", None)},
        )
        == 0
    )
    assert (
        store.finish_deliveries(
            destination="desk",
            token="alive",
            message_key="m2",
            ok=True,
            error=None,
            now=late,
            outcomes={delivery: ("sent", None)},
        )
        == 1
    )
    sent = store.recent_alerts()[0]["deliveries"][0]
    assert (sent["status"], sent["attempts"], sent["sent_at"]) == ("sent", 1, late)


def test_attempts_make_a_destination_failing_until_one_succeeds(store: Store) -> None:
    add_story(store)
    store.write_alerts(
        [event("port-strike", to=("desk", "ops"))], [], destinations={"desk", "ops"}, now=T0
    )
    for i in range(3):
        now = T0 + timedelta(minutes=i)
        rows = store.claim_deliveries("desk", now=now, claim_seconds=300, token=f"t{i}")
        retry = now + timedelta(seconds=30)
        store.finish_deliveries(
            destination="desk",
            token=f"t{i}",
            message_key="m",
            ok=False,
            error="HTTP 500",
            now=now,
            outcomes={rows[0]["delivery_id"]: ("pending", retry)},
        )
        # the retry is not due before its time
        assert store.claim_deliveries("desk", now=now, claim_seconds=300, token="x") == []
    health = {h["destination"]: h for h in store.destination_health(now=T0, failing_after=3)}
    desk = health["desk"]
    assert (desk["failing"], desk["consecutive_failures"], desk["pending"]) == (True, 3, 1)
    assert desk["last_error"] == "HTTP 500" and desk["last_ok_at"] is None
    assert (health["ops"]["failing"], health["ops"]["pending"]) == (False, 1)

    now = T0 + timedelta(minutes=10)
    rows = store.claim_deliveries("desk", now=now, claim_seconds=300, token="ok")
    store.finish_deliveries(
        destination="desk",
        token="ok",
        message_key="m",
        ok=True,
        error=None,
        now=now,
        outcomes={rows[0]["delivery_id"]: ("sent", None)},
    )
    desk = next(
        h for h in store.destination_health(now=now, failing_after=3) if h["destination"] == "desk"
    )
    assert (desk["failing"], desk["consecutive_failures"], desk["pending"]) == (False, 0, 0)
    assert desk["last_ok_at"] == now and desk["last_error"] is None
    assert store.recent_alerts()[0]["deliveries"][0]["attempts"] == 4


def test_config_sync_writes_story_tags_and_alert_rules(store: Store) -> None:
    from noisecast.engine.jobs.catalog import sync_from_config
    from noisecast.engine.settings import AlertSettings, Settings, StorySettings

    settings = Settings(
        stories=(StorySettings(slug="port-strike", title="Port strike", query="port strike",
                               tags=("economy",)),),
        alerts=AlertSettings(
            destinations={"desk": {"secret": "desk"}},  # type: ignore[dict-item]
            rules=(AlertRuleSettings(name="economy-high", tag="economy",
                                     when='level >= "High"', to=("desk",)),),
        ),
        matching={"rematch_days": 0},  # type: ignore[arg-type]
    )  # fmt: skip
    report = sync_from_config(store, settings, now=T0)
    assert (report.stories_created, report.alert_rules_created) == (1, 1)
    assert store.list_stories()[0]["tags"] == ["economy"]
    [stored] = store.alert_rules()
    assert stored["rule"].tag == "economy" and stored["origin"] == "config"
    again = sync_from_config(store, settings, now=T0)
    assert (again.alert_rules_created, again.alert_rules_updated) == (0, 0)
