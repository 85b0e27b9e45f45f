"""The Alerts pages of the review app, over HTTP (FastAPI's test client) on SQLite and
PostgreSQL: any editor sees rules, silences, recent alerts with their delivery state, failing
destinations and the audit trail, and mutes a rule or a story (also from the story view); only
admins create, edit, enable, disable and delete rules, each with its audit row; stale versions
are conflicts; bad input names its field; forms need the CSRF token; hostile text stays inert.
Also the pure shaping of noisecast.engine.web.alerts_shape."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from noisecast.engine.config import (
    AlertDestinationSettings,
    AlertRuleSettings,
    AlertSettings,
    Settings,
)
from noisecast.engine.core.review import ReviewInputError
from noisecast.engine.store import Store
from noisecast.engine.store.tables import alert_attempts, alert_deliveries, alert_events
from noisecast.engine.web.accounts import add_editor
from noisecast.engine.web.alerts_shape import (
    alert_rows,
    audit_rows,
    check_silence,
    definition_from_form,
    duration,
    failing_rows,
    field_of,
    rule_form_values,
    silence_rows,
    stories_in_words,
)
from noisecast.engine.web.app import create_app
from tests.web_helpers import csrf_of, use_cheap_hashes
from tests.web_helpers import login as log_in

SECRET = "a" * 40
CLOCK = datetime(2026, 11, 26, 9, 20, tzinfo=UTC)
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
PASSWORDS = {"alice": "alice-password", "root": "root-password"}
HOSTILE = "<script>alert(1)</script>"
DESTINATIONS = {"desk": "desk", "ops": "admins"}


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_cheap_hashes(monkeypatch)


def alert_settings() -> Settings:
    return Settings(
        alerts=AlertSettings(
            destinations={
                "desk": AlertDestinationSettings(secret="desk", audience="desk"),
                "ops": AlertDestinationSettings(
                    secret="ops",
                    audience="admins",
                    quiet_hours="22:00-07:00",
                    timezone="Europe/London",
                ),
            },
        )
    )


@pytest.fixture
def al_store(store: Store) -> Iterator[Store]:
    store.upsert_story("breach", "Northmere Bank data breach", "northmere", now=T0)
    store.upsert_story("port-strike", "Port strike", "port strike", now=T0)
    add_editor(store, "alice", PASSWORDS["alice"], role="editor", now=CLOCK)
    add_editor(store, "root", PASSWORDS["root"], role="admin", now=CLOCK)
    store.save_alert_rule(
        {"name": "desk-high", "when": 'level >= "High"', "to": ["desk"], "stories": "all"},
        editor="root",
        now=T0,
        version=None,
        destinations=DESTINATIONS,
    )
    yield store


@pytest.fixture
def app(al_store: Store) -> Any:
    return create_app(al_store, alert_settings(), SECRET, now=lambda: CLOCK)


def login(app: Any, name: str) -> TestClient:
    return log_in(app, name, PASSWORDS[name])


def post(client: TestClient, path: str, **form: Any) -> Any:
    token = csrf_of(client.get("/alerts").text)
    data: dict[str, Any] = {"csrf": token}
    for key, value in form.items():
        data[key] = [str(v) for v in value] if isinstance(value, list) else str(value)
    return client.post(path, data=data)


def flash_after(client: TestClient, response: Any, where: str = "/alerts") -> str:
    assert response.status_code == 303, response.text
    assert response.headers["location"] == where
    page = client.get(where).text
    found = re.search(r'<p class="flash" role="status">(.*?)</p>', page)
    assert found, "no flash message after the action"
    return found.group(1)


def rule(store: Store, name: str) -> dict[str, Any]:
    [found] = [r for r in store.alert_rules() if r["name"] == name]
    return found


def audit(store: Store) -> list[dict[str, Any]]:
    return list(reversed(store.alert_audit()))  # oldest first


NEW_RULE = {
    "name": "breach-jump",
    "scope": "list",
    "stories": ["breach"],
    "when": "jump >= 20 in 6h",
    "to": ["desk"],
    "repeat_hours": "12",
    "send_resolved": "1",
    "enabled": "1",
}


# --- sessions, roles and CSRF -------------------------------------------------------------------


def test_alerts_need_a_session_and_every_form_the_csrf_token(app: Any, al_store: Store) -> None:
    anonymous = TestClient(app, follow_redirects=False)
    assert anonymous.get("/alerts").status_code == 303
    assert anonymous.get("/alerts").headers["location"] == "/login?next=/alerts"
    version = rule(al_store, "desk-high")["version"]
    root = login(app, "root")
    for client in (anonymous, root):
        for path, form in (
            ("/alerts/rules/new", dict(NEW_RULE)),
            ("/alerts/rules/desk-high/disable", {"version": version}),
            ("/alerts/rules/desk-high/delete", {"version": version, "csrf": "forged"}),
            ("/alerts/silences", {"story": "breach", "hours": "4", "reason": "covered"}),
        ):
            response = client.post(path, data=form)
            assert response.status_code == 403, path
            assert "security token" in response.text
    assert [r["name"] for r in al_store.alert_rules()] == ["desk-high"]
    assert rule(al_store, "desk-high")["enabled"]
    assert al_store.silences() == []
    assert len(audit(al_store)) == 1  # the fixture's rule


def test_an_editor_sees_alerts_but_only_admins_change_rules(app: Any, al_store: Store) -> None:
    alice = login(app, "alice")
    page = alice.get("/alerts")
    assert page.status_code == 200
    assert '<a href="/alerts" aria-current="page">Alerts' in page.text  # the nav
    assert "desk-high" in page.text and "level reaches High" in page.text.replace("“", "")
    assert "/alerts/rules/new" not in page.text and "/alerts/rules/desk-high/edit" not in page.text
    assert "Only admins change rules" in page.text
    version = rule(al_store, "desk-high")["version"]
    assert alice.get("/alerts/rules/new").status_code == 403
    assert alice.get("/alerts/rules/desk-high/edit").status_code == 403
    for path, form in (
        ("/alerts/rules/new", dict(NEW_RULE)),
        ("/alerts/rules/desk-high/edit", {**NEW_RULE, "version": version}),
        ("/alerts/rules/desk-high/disable", {"version": version}),
        ("/alerts/rules/desk-high/delete", {"version": version}),
    ):
        response = post(alice, path, **form)
        assert response.status_code == 403, path
        assert "Only an admin may" in response.text
    assert [r["name"] for r in al_store.alert_rules()] == ["desk-high"]
    assert rule(al_store, "desk-high")["version"] == version
    assert len(audit(al_store)) == 1
    root = login(app, "root")
    page = root.get("/alerts").text
    assert 'href="/alerts/rules/new"' in page and 'href="/alerts/rules/desk-high/edit"' in page


# --- rules: create, edit, enable, disable, delete -------------------------------------------------


def test_an_admin_creates_and_edits_a_rule(app: Any, al_store: Store) -> None:
    root = login(app, "root")
    form = root.get("/alerts/rules/new")
    assert form.status_code == 200
    assert 'name="to" value="desk"' in form.text and 'name="to" value="ops"' in form.text
    assert 'value="breach"' in form.text  # the stories to choose from
    said = flash_after(root, post(root, "/alerts/rules/new", **NEW_RULE))
    assert "Created: the alert rule “breach-jump”" in said
    made = rule(al_store, "breach-jump")
    assert (made["origin"], made["version"], made["enabled"]) == ("app", 1, True)
    assert made["updated_by"] == "root"
    definition = made["definition"]
    assert definition["when"] == "jump >= 20 in 6h"
    assert list(definition["stories"]) == ["breach"] and list(definition["to"]) == ["desk"]
    assert definition["repeat_hours"] == 12 and definition["send_resolved"] is True
    last = audit(al_store)[-1]
    assert (last["editor"], last["target"], last["name"]) == ("root", "rule", "breach-jump")
    assert last["before"] is None and last["after"]["definition"]["when"] == "jump >= 20 in 6h"

    row = root.get("/alerts").text.split('id="rule-breach-jump"')[1].split("</tr>")[0]
    assert "score jumps by 20" in row and "jump &gt;= 20 in 6h" in row
    assert "breach" in row and "desk" in row and "every 12 h" in row

    edit = root.get("/alerts/rules/breach-jump/edit")
    assert edit.status_code == 200
    assert 'name="version" value="1"' in edit.text
    assert 'value="jump &gt;= 20 in 6h"' in edit.text
    changed = {**NEW_RULE, "when": "rising >= 0.7", "to": ["desk", "ops"], "send_resolved": ""}
    said = flash_after(root, post(root, "/alerts/rules/breach-jump/edit", version=1, **changed))
    assert "Saved: the alert rule “breach-jump”" in said
    now = rule(al_store, "breach-jump")
    assert now["version"] == 2 and now["definition"]["when"] == "rising >= 0.7"
    assert list(now["definition"]["to"]) == ["desk", "ops"]
    assert now["definition"]["send_resolved"] is False
    last = audit(al_store)[-1]
    assert last["before"]["definition"]["when"] == "jump >= 20 in 6h"
    assert last["after"]["definition"]["when"] == "rising >= 0.7"
    trail = root.get("/alerts").text.split('class="events al-audit"')[1]
    assert "<em>condition:</em> jump &gt;= 20 in 6h" in trail
    assert "<em>condition:</em> rising &gt;= 0.7" in trail
    assert "<em>resolved message:</em> no" in trail
    assert "<em>repeat:</em>" not in trail.split("</tr>")[1]  # only what changed


def test_enable_disable_and_delete_leave_audit_rows(app: Any, al_store: Store) -> None:
    root = login(app, "root")
    v = rule(al_store, "desk-high")["version"]
    said = flash_after(root, post(root, "/alerts/rules/desk-high/disable", version=v))
    assert "is disabled" in said
    off = rule(al_store, "desk-high")
    assert not off["enabled"] and off["version"] > v
    row = root.get("/alerts").text.split('id="rule-desk-high"')[1].split("</tr>")[0]
    assert "al-state-off" in row and 'action="/alerts/rules/desk-high/enable"' in row
    said = flash_after(root, post(root, "/alerts/rules/desk-high/enable", version=off["version"]))
    assert "is enabled" in said
    on = rule(al_store, "desk-high")
    assert on["enabled"]
    said = flash_after(root, post(root, "/alerts/rules/desk-high/delete", version=on["version"]))
    assert "Deleted: the alert rule “desk-high”" in said
    assert al_store.alert_rules() == []
    actions = [(a["editor"], a["target"], a["name"]) for a in audit(al_store)[1:]]
    assert actions == [("root", "rule", "desk-high")] * 3
    assert len({a["action"] for a in audit(al_store)}) == 4  # create, disable, enable, delete
    page = root.get("/alerts").text
    assert "No alert rules yet" in page
    assert page.split('class="events al-audit"')[1].count("desk-high") == 4


def test_a_stale_version_is_a_conflict(app: Any, al_store: Store) -> None:
    root = login(app, "root")
    seen = rule(al_store, "desk-high")["version"]
    flash_after(root, post(root, "/alerts/rules/desk-high/disable", version=seen))
    after = rule(al_store, "desk-high")
    for path, form in (
        ("/alerts/rules/desk-high/enable", {}),
        ("/alerts/rules/desk-high/delete", {}),
        ("/alerts/rules/desk-high/edit", {**NEW_RULE, "scope": "all"}),
    ):
        response = post(root, path, version=seen, **form)
        assert response.status_code == 409, (path, response.text)
        assert "Conflict" in response.text
    assert rule(al_store, "desk-high") == after
    assert len(audit(al_store)) == 2


def test_a_config_rule_edited_in_the_app_becomes_the_apps(app: Any, al_store: Store) -> None:
    al_store.sync_alert_rules(
        [AlertRuleSettings(name="ops-health", when="unhealthy", to=("ops",), tag="politics")],
        now=T0,
    )
    root = login(app, "root")
    row = root.get("/alerts").text.split('id="rule-ops-health"')[1].split("</tr>")[0]
    assert "config.toml" in row and "stories tagged “politics”" in row
    form = root.get("/alerts/rules/ops-health/edit").text
    assert "This rule comes from config.toml" in form
    assert 'name="scope" value="tag" checked' in form and 'value="politics"' in form
    assert 'name="to" value="ops" checked' in form
    v = rule(al_store, "ops-health")["version"]
    edited = {**NEW_RULE, "scope": "tag", "tag": "politics", "when": "unhealthy", "to": ["ops"]}
    flash_after(root, post(root, "/alerts/rules/ops-health/edit", version=v, **edited))
    now = rule(al_store, "ops-health")
    assert now["origin"] == "app" and now["definition"]["repeat_hours"] == 12
    trail = root.get("/alerts").text.split('class="events al-audit"')[1].split("</tr>")[1]
    assert "<em>origin:</em> config" in trail and "<em>origin:</em> app" in trail
    said = flash_after(root, post(root, "/alerts/rules/ops-health/delete", version=now["version"]))
    assert "Deleted" in said and "config.toml" not in said  # it was the app's by then


@pytest.mark.parametrize(
    ("form", "field", "says"),
    [
        ({"name": ""}, "name", "name"),
        ({"name": "Desk High!"}, "name", "not a rule name"),
        ({"name": "desk-high"}, "name", "desk-high"),  # taken
        ({"when": 'level >= "Hgh"'}, "when", "when"),
        ({"when": "score >= 70 and more"}, "when", "at character 13"),
        ({"when": ""}, "when", "when"),
        ({"to": []}, "to", "to"),
        ({"to": ["nowhere"]}, "to", "nowhere"),
        ({"when": "unhealthy", "to": ["desk"]}, "to", "admins"),
        ({"repeat_hours": "0"}, "repeat_hours", "repeat_hours"),
        ({"repeat_hours": "soon"}, "repeat_hours", "whole number"),
        ({"scope": "list", "stories": []}, "stories", "at least one story"),
        ({"scope": "list", "stories": ["nope"]}, "stories", "nope"),
        ({"scope": "tag", "tag": " "}, "tag", "tag"),
    ],
)
def test_bad_rule_input_names_the_field(
    app: Any, al_store: Store, form: dict[str, Any], field: str, says: str
) -> None:
    root = login(app, "root")
    response = post(root, "/alerts/rules/new", **{**NEW_RULE, **form})
    assert response.status_code == 422, response.text
    alert = re.search(r'<p class="error" role="alert">(.*?)</p>', response.text)
    assert alert, response.text
    assert field_of(html.unescape(alert.group(1))) == field, alert.group(1)
    assert says in html.unescape(alert.group(1)), alert.group(1)
    if field in ("stories", "to", "scope", "tag"):
        assert 'aria-invalid="true"' in response.text
    else:
        assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', response.text)
    if form.get("when"):
        assert f'value="{escape(form["when"])}"' in response.text  # what was typed comes back
    assert [r["name"] for r in al_store.alert_rules()] == ["desk-high"]
    assert len(audit(al_store)) == 1
    # the same check on an edit, which keeps the form's values
    if field != "name":
        edit = post(
            root,
            "/alerts/rules/desk-high/edit",
            version=rule(al_store, "desk-high")["version"],
            **{**NEW_RULE, **form},
        )
        assert edit.status_code == 422 and says in html.unescape(edit.text)
        assert rule(al_store, "desk-high")["version"] == 1


def test_a_bad_condition_names_its_position(app: Any) -> None:
    root = login(app, "root")
    response = post(root, "/alerts/rules/new", **{**NEW_RULE, "when": "score >= seventy"})
    assert response.status_code == 422
    alert = re.search(r'<p class="error" role="alert">(.*?)</p>', response.text)
    assert alert and alert.group(1).startswith("when:"), response.text
    assert re.search(r"position \d+|column \d+|character \d+", alert.group(1)), alert.group(1)


@pytest.mark.parametrize(
    "path",
    [
        "/alerts/rules/nope/edit",
        "/alerts/rules/nope/disable",
        "/alerts/rules/Bad%20Name/edit",
        "/alerts/rules/desk-high/publish",
        "/alerts/silences/0/end",
        "/alerts/silences/abc/end",
        f"/alerts/silences/{2**63}/end",
        f"/alerts/silences/{2**63 - 1}/end",
    ],
)
def test_what_cannot_exist_is_not_found(app: Any, path: str) -> None:
    root = login(app, "root")
    assert post(root, path, version=1, **NEW_RULE).status_code == 404, path
    if path.endswith("/edit"):
        assert root.get(path).status_code == 404


# --- silences ------------------------------------------------------------------------------------


def test_an_editor_mutes_a_story_and_ends_the_silence(app: Any, al_store: Store) -> None:
    alice = login(app, "alice")
    said = flash_after(
        alice, post(alice, "/alerts/silences", story="breach", hours="24", reason="Desk knows")
    )
    assert "Muted" in said and "2026-11-27 09:20 UTC" in said
    [silence] = al_store.silences(active_at=CLOCK)
    assert (silence["slug"], silence["rule"], silence["created_by"]) == ("breach", None, "alice")
    assert silence["ends_at"] == CLOCK + timedelta(hours=24)
    assert silence["reason"] == "Desk knows"
    made = audit(al_store)[-1]
    assert (made["editor"], made["target"]) == ("alice", "silence")
    page = alice.get("/alerts").text
    row = page.split(f'id="silence-{silence["id"]}"')[1].split("</tr>")[0]
    assert "story “breach”, every rule" in row and "24 h left" in row and "Desk knows" in row
    said = flash_after(alice, post(alice, f"/alerts/silences/{silence['id']}/end"))
    assert f"Ended silence {silence['id']}" in said
    assert al_store.silences(active_at=CLOCK) == []
    ended = audit(al_store)[-1]
    assert (ended["editor"], ended["target"]) == ("alice", "silence")
    assert ended["action"] != made["action"]
    assert "Nothing is muted." in alice.get("/alerts").text
    again = post(alice, f"/alerts/silences/{silence['id']}/end")
    assert again.status_code == 409 and "already ended by alice" in again.text
    # a rule, for one story
    flash_after(
        alice,
        post(
            alice, "/alerts/silences", rule="desk-high", story="port-strike", hours="1", reason="x"
        ),
    )
    [both] = al_store.silences(active_at=CLOCK)
    assert (both["rule"], both["slug"]) == ("desk-high", "port-strike")


def test_the_story_view_mutes_its_story(app: Any, al_store: Store) -> None:
    alice = login(app, "alice")
    story = alice.get("/stories/breach").text
    form = story.split('id="mute-alerts"')[1].split("</form>")[0]
    assert 'action="/alerts/silences"' in form
    assert 'name="story" value="breach"' in form and 'name="next" value="/stories/breach"' in form
    token = csrf_of(story)
    response = alice.post(
        "/alerts/silences",
        data={
            "csrf": token,
            "story": "breach",
            "hours": "6",
            "reason": "On it",
            "next": "/stories/breach",
        },
    )
    said = flash_after(alice, response, "/stories/breach")
    assert "Muted" in said
    assert [s["slug"] for s in al_store.silences(active_at=CLOCK)] == ["breach"]
    # next= stays on this site
    off_site = alice.post(
        "/alerts/silences",
        data={
            "csrf": token,
            "story": "breach",
            "hours": "6",
            "reason": "x",
            "next": "//evil.example/",
        },
    )
    assert off_site.status_code == 303 and off_site.headers["location"] == "/alerts"


@pytest.mark.parametrize(
    ("form", "field", "says"),
    [
        ({"hours": "0"}, "hours", "1 to 720"),
        ({"hours": "721"}, "hours", "1 to 720"),
        ({"hours": "a day"}, "hours", "whole number"),
        ({"hours": ""}, "hours", "hours"),
        ({"reason": "   "}, "reason", "required"),
        ({"story": "", "rule": ""}, "rule", "rule or a story"),
        ({"rule": "nope"}, "rule", "nope"),
        ({"story": "nope"}, "story", "nope"),
    ],
)
def test_bad_silence_input_names_the_field(
    app: Any, al_store: Store, form: dict[str, str], field: str, says: str
) -> None:
    alice = login(app, "alice")
    good = {"story": "breach", "hours": "24", "reason": "Desk knows", "next": "/stories/breach"}
    response = post(alice, "/alerts/silences", **{**good, **form})
    assert response.status_code == 422, response.text
    alert = re.search(r'<p class="error" role="alert">(.*?)</p>', response.text)
    assert alert and field_of(alert.group(1)) == field and says in alert.group(1), response.text
    assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', response.text)
    assert 'name="next" value="/stories/breach"' in response.text
    assert al_store.silences() == [] and len(audit(al_store)) == 1


# --- recent alerts, delivery state, failing destinations ------------------------------------------


def plant_alerts(
    store: Store, *, title: str = "Port strike reached High", error: str = "", hour_offset: int = 0
) -> None:
    """Alert events as the hourly job writes them, with one delivery of each state, and the
    attempts that make "ops" a failing destination (three failures in a row)."""
    sid = store.story_id("port-strike")
    hour = datetime(2026, 11, 26, 8, 0, tzinfo=UTC) + timedelta(hours=hour_offset)
    stamp = f"{hour:%Y%m%dT%H}"
    with store.transaction() as conn:

        def event(key: str, kind: str, silenced: int | None = None) -> int:
            return int(
                conn.execute(
                    alert_events.insert().values(
                        key=key,
                        rule="desk-high",
                        story_id=sid,
                        kind=kind,
                        hour=hour,
                        title=title,
                        text=f"{title} (71, up 38 in 6 h; driven by breadth: 16 outlets).",
                        link="http://127.0.0.1/stories/port-strike",
                        facts={"score": 71},
                        silenced_by=silenced,
                        created_at=CLOCK - timedelta(minutes=30),
                    )
                ).inserted_primary_key[0]
            )

        fired = event(f"desk-high/port-strike/{stamp}/firing", "firing")
        muted = event(f"desk-high/port-strike/{stamp}/reminder", "reminder", silenced=7)
        rows = [
            (fired, "desk", "sent", 1, None, CLOCK - timedelta(minutes=20)),
            (fired, "ops", "pending", 3, error or "HTTP 500 from the receiver", None),
            (muted, "desk", "muted", 0, None, None),
        ]
        for event_id, destination, status, attempts, last_error, sent_at in rows:
            conn.execute(
                alert_deliveries.insert().values(
                    event_id=event_id,
                    destination=destination,
                    status=status,
                    attempts=attempts,
                    next_attempt_at=CLOCK + timedelta(minutes=4),
                    sent_at=sent_at,
                    last_error=last_error,
                )
            )
        for minutes, ok, destination in (
            (25, True, "desk"),
            (20, False, "ops"),
            (15, False, "ops"),
            (10, False, "ops"),
        ):
            conn.execute(
                alert_attempts.insert().values(
                    destination=destination,
                    message_key=f"m{minutes}-{stamp}",
                    at=CLOCK - timedelta(minutes=minutes),
                    ok=ok,
                    error=None if ok else (error or "HTTP 500 from the receiver"),
                    delivery_ids=[],
                )
            )


def test_recent_alerts_show_each_destinations_delivery(app: Any, al_store: Store) -> None:
    plant_alerts(al_store)
    alice = login(app, "alice")
    page = alice.get("/alerts").text
    recent = page.split('id="recent"')[1].split("</section>")[0]
    assert "Port strike reached High" in recent and "up 38 in 6 h" in recent
    assert '<a href="/stories/port-strike">port-strike</a>' in recent
    assert re.search(
        r'al-sent">sent</span> desk <small class="muted">at 2026-11-26 09:00 UTC', recent
    )
    assert re.search(
        r'al-pending">pending</span> ops <small class="muted">'
        r"next attempt 2026-11-26 09:24 UTC after 3 failed: HTTP 500",
        recent,
    )
    assert re.search(r'al-muted">muted</span> desk', recent)
    # ops fails: a banner naming it, its last error, and the nav's count on every page
    banner = page.split('class="al-failing"')[1].split("</section>")[0]
    assert "<strong>ops</strong>" in banner and "HTTP 500 from the receiver" in banner
    assert "3 attempts in a row failed" in banner and "Nothing has ever been sent to it" in banner
    for path in ("/alerts", "/", "/stories/breach"):
        nav = alice.get(path).text.split("</nav>")[0]
        assert '<span class="nav-count" title="failing alert destinations">1' in nav, path


def test_no_failing_destination_no_banner(app: Any) -> None:
    alice = login(app, "alice")
    page = alice.get("/alerts").text
    assert 'class="al-failing"' not in page and "nav-count" not in page
    assert "No alerts yet." in page


def test_hostile_text_is_inert(app: Any, al_store: Store) -> None:
    plant_alerts(al_store, title=HOSTILE, error='<img src=x onerror="alert(2)">')
    al_store.upsert_story("hostile", HOSTILE, "x", now=T0)
    root = login(app, "root")
    flash_after(
        root,
        post(root, "/alerts/silences", story="hostile", hours="2", reason=HOSTILE),
    )
    response = post(root, "/alerts/rules/new", **{**NEW_RULE, "scope": "tag", "tag": HOSTILE})
    assert response.status_code in (303, 422)
    bad = post(root, "/alerts/rules/new", **{**NEW_RULE, "when": HOSTILE})
    assert bad.status_code == 422
    for page in (root.get("/alerts").text, bad.text, root.get("/alerts/rules/new").text):
        assert "<script>" not in page and "<img src=x" not in page
    page = root.get("/alerts").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=" in page


# --- the pure shaping ----------------------------------------------------------------------------


def test_field_of() -> None:
    assert field_of("when: expected a number at position 9") == "when"
    assert field_of("alerts.rules[0].to: unknown destination 'x'") == "to"
    assert field_of("Hours: give a whole number") == "hours"
    assert field_of("repeat_hours: at least 1") == "repeat_hours"
    assert field_of("slug: no story") == "story"
    assert field_of("Something else went wrong") == ""
    assert field_of("https://x: no") == ""


def test_definition_from_form() -> None:
    known = {"breach", "port-strike"}
    d = definition_from_form(
        {**NEW_RULE, "name": " Breach-Jump ", "when": " jump  >= 20 in 6h "}, known_stories=known
    )
    assert d == {
        "name": "breach-jump",
        "stories": ["breach"],
        "tag": "",
        "when": "jump >= 20 in 6h",
        "to": ["desk"],
        "repeat_hours": 12,
        "send_resolved": True,
        "enabled": True,
    }
    assert (
        definition_from_form({**NEW_RULE, "scope": "all"}, known_stories=known)["stories"] == "all"
    )
    tagged = definition_from_form(
        {**NEW_RULE, "scope": "tag", "tag": "politics"}, known_stories=known
    )
    assert (tagged["stories"], tagged["tag"]) == ("all", "politics")
    assert rule_form_values(d)["scope"] == "list" and rule_form_values(tagged)["scope"] == "tag"
    assert rule_form_values(None)["repeat_hours"] == "24"
    for form, start in (
        ({"name": "x y"}, "name:"),
        ({"scope": "list", "stories": []}, "stories:"),
        ({"scope": "list", "stories": ["nope"]}, "stories:"),
        ({"scope": "tag", "tag": ""}, "tag:"),
        ({"scope": "some"}, "scope:"),
        ({"repeat_hours": "1.5"}, "repeat_hours:"),
    ):
        with pytest.raises(ReviewInputError, match=f"^{start}"):
            definition_from_form({**NEW_RULE, **form}, known_stories=known)


def test_check_silence() -> None:
    ok = check_silence(" ", "breach", "720", "  on  it ", rules={"r"}, stories={"breach"})
    assert ok == (None, "breach", 720, "on it")
    assert check_silence("r", "", "1", "x", rules={"r"}, stories=set())[:3] == ("r", None, 1)
    for args, start in (
        (("", "", "1", "x"), "rule:"),
        (("q", "", "1", "x"), "rule:"),
        (("", "q", "1", "x"), "story:"),
        (("r", "", "0", "x"), "hours:"),
        (("r", "", "721", "x"), "hours:"),
        (("r", "", "-3", "x"), "hours:"),
        (("r", "", "", "x"), "hours:"),
        (("r", "", "1", ""), "reason:"),
        (("r", "", "1", "x" * 501), "reason:"),
    ):
        with pytest.raises(ReviewInputError, match=f"^{start}"):
            check_silence(*args, rules={"r"}, stories={"breach"})


def test_shaping_rows() -> None:
    assert [duration(s) for s in (-5, 59, 3600, 3600 * 3 + 1200, 3600 * 50)] == [
        "0 min",
        "0 min",
        "1 h",
        "3 h 20 min",
        "2 d 2 h",
    ]
    assert stories_in_words({"stories": "all"}) == "all stories"
    assert stories_in_words({"stories": ["a", "b"]}) == "a, b"
    assert stories_in_words({"stories": "all", "tag": "politics"}) == "stories tagged “politics”"
    [s] = silence_rows(
        [
            {
                "id": 3,
                "rule": "r",
                "slug": None,
                "starts_at": CLOCK,
                "ends_at": CLOCK + timedelta(hours=2),
                "reason": "x",
                "created_by": "alice",
            }
        ],
        CLOCK + timedelta(minutes=30),
    )
    assert s["target"] == "rule “r”, every story" and s["left"] == "1 h 30 min"
    [a] = alert_rows(
        [
            {
                "kind": "resolved",
                "deliveries": [
                    {
                        "destination": "d",
                        "status": "failed",
                        "attempts": 8,
                        "last_error": "  boom\n",
                    },
                    {
                        "destination": "e",
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": CLOCK,
                    },
                ],
            }
        ]
    )
    assert a["kind_name"] == "resolved"
    assert [d["detail"] for d in a["deliveries"]] == [
        "after 8 attempts: boom",
        "next attempt 2026-11-26 09:20 UTC",
    ]
    assert (
        failing_rows(
            [{"destination": "a", "failing": False}, {"destination": "b", "failing": True}]
        )[0]["destination"]
        == "b"
    )
    [created, updated] = audit_rows(
        [
            {
                "action": "create",
                "before": None,
                "after": {"name": "r", "when": "score >= 70", "to": ["d"]},
            },
            {
                "action": "update",
                "before": {"name": "r", "when": "score >= 70", "to": ["d"], "repeat_hours": 24},
                "after": {"name": "r", "when": "score >= 80", "to": ["d"], "repeat_hours": 24},
            },
        ]
    )
    assert created["before"] == [] and created["after"] == [
        ("condition", "score >= 70"),
        ("destinations", "d"),
    ]
    assert updated["before"] == [("condition", "score >= 70")]
    assert updated["after"] == [("condition", "score >= 80")]
