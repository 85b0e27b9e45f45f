"""The Alerts pages of the review app (issue 13): ``/alerts`` for every editor (failing
destinations, rules, silences, recent alerts with their delivery state, the audit trail);
rules managed by admins (new, edit, enable, disable, delete); silences added and ended by any
editor, also from a story's review view ("Mute alerts for this story").

Each view makes one Store call per thing it shows (``engine/store/_alerts.py``) and hands the
results, shaped by the pure functions of :mod:`noisecast.engine.web.alerts_shape`, to a
template. The rules themselves are :mod:`noisecast.engine.core.alerts`'; the Store checks each
definition again (``save_alert_rule``) and writes the audit row in the same transaction. A
stale version is the review app's 409 page (``ReviewConflict``); a bad field comes back as a
422 form naming it; every POST carries the CSRF token (checked app-wide)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from noisecast.engine.core.review import ReviewInputError
from noisecast.engine.errors import AlreadyExistsError, ConfigError, NoisecastError
from noisecast.engine.web.alerts_shape import (
    MAX_AUDIT,
    MAX_RECENT,
    SILENCE_HOURS,
    alert_rows,
    audit_rows,
    check_silence,
    definition_from_form,
    destinations_of,
    failing_rows,
    field_of,
    rule_form_values,
    rule_rows,
    silence_rows,
)
from noisecast.engine.web.pages import error_page, local_path, render, store_of
from noisecast.engine.web.views import Editor

__all__ = ["failing_count", "router"]

log = logging.getLogger("noisecast.web")
router = APIRouter()

# A rule's name as core.alerts allows it: anything else in the path names nothing.
RuleName = Annotated[str, PathParam(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
SilenceId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
Version = Annotated[int, Form(ge=1, le=2**31 - 1)]
Text = Annotated[str, Form(max_length=2_000)]


def _admin_only(request: Request, editor: Mapping[str, Any], what: str) -> Response | None:
    if editor.get("role") == "admin":
        return None
    return error_page(
        request,
        403,
        f"Only an admin may {what}. Ask an admin, or mute the rule or the story for a while "
        "(any editor may add a silence on the Alerts page).",
    )


def _back(request: Request, message: str, next: str = "/alerts") -> Response:
    request.session["flash"] = message
    return RedirectResponse(local_path(next, "/alerts"), status_code=303)


def _failing_after(request: Request) -> int:
    return int(request.app.state.settings.alerts.failing_after)


def failing_count(request: Request) -> int:
    """How many destinations are failing now (the nav's count); 0 when it cannot be told.
    A template global (:func:`noisecast.engine.web.app.create_app` installs it)."""
    try:
        health = store_of(request).destination_health(
            now=request.app.state.now(), failing_after=_failing_after(request)
        )
    except NoisecastError as e:  # the page itself must still render
        log.warning("alerts: destination health unavailable: %s", e)
        return 0
    return sum(1 for h in health if h.get("failing"))


def _rule_or_404(request: Request, name: str) -> dict[str, Any] | Response:
    found = next((r for r in store_of(request).alert_rules() if r["name"] == name), None)
    if found is None:
        return error_page(request, 404, f"There is no alert rule {name!r}.")
    return found


def _story_slugs(request: Request) -> list[tuple[str, str]]:
    return [(str(s["slug"]), str(s["title"])) for s in store_of(request).list_stories()]


# --- the page --------------------------------------------------------------------------------


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, editor: Editor) -> Response:
    store = store_of(request)
    now = request.app.state.now()
    rules = store.alert_rules()
    return render(
        request,
        "alerts.html",
        failing=failing_rows(
            store.destination_health(now=now, failing_after=_failing_after(request))
        ),
        rules=rule_rows(rules),
        silences=silence_rows(store.silences(active_at=now), now),
        alerts=alert_rows(store.recent_alerts(limit=MAX_RECENT)),
        audit=audit_rows(store.alert_audit(limit=MAX_AUDIT)),
        destinations=destinations_of(request.app.state.settings),
        silence=_silence_form(request, rules=rules),
        is_admin=editor["role"] == "admin",
        now=now,
    )


# --- rules (admins) --------------------------------------------------------------------------


def _rule_form(
    request: Request,
    *,
    values: dict[str, Any],
    rule: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
    pointer: dict[str, Any] | None = None,
) -> Response:
    """The new-rule (``rule`` None) or edit form, first opened or returned with what the
    admin typed and the error (422) naming the field."""
    return render(
        request,
        "alerts_rule_form.html",
        status_code=status_code,
        rule=rule,
        values=values,
        error=error,
        field=field_of(error) if error else "",
        pointer=pointer,
        destinations=destinations_of(request.app.state.settings),
        stories=_story_slugs(request),
    )


def _save(
    request: Request,
    editor: Mapping[str, Any],
    form: Mapping[str, Any],
    rule: dict[str, Any] | None,
) -> Response:
    version = int(rule["version"]) if rule else None
    values = {**form, "version": version}
    known = {slug for slug, _ in _story_slugs(request)}
    try:
        definition = definition_from_form(form, known_stories=known)
        if rule is not None:
            definition["name"] = rule["name"]  # a rule keeps its name: its state is under it
        saved = store_of(request).save_alert_rule(
            definition,
            editor=str(editor["username"]),
            now=request.app.state.now(),
            version=version,
            destinations={
                d["name"]: d["audience"] for d in destinations_of(request.app.state.settings)
            },
        )
    except AlreadyExistsError:
        taken = f"name: there is already a rule {str(form.get('name', '')).strip().lower()!r}"
        error = f"{taken}: choose another name, or edit that rule."
        return _rule_form(request, values=values, rule=rule, error=error, status_code=422)
    except (ConfigError, ReviewInputError) as e:  # AlertRuleError is a ConfigError
        position = getattr(e, "position", None)
        pointer = None
        if isinstance(position, int) and field_of(str(e)) == "when":
            pointer = {"text": " ".join(str(form.get("when", "")).split()), "at": position}
        return _rule_form(
            request, values=values, rule=rule, error=str(e), status_code=422, pointer=pointer
        )
    verb = "Saved" if rule else "Created"
    return _back(request, f"{verb}: the alert rule “{saved['name']}”.")


@router.get("/alerts/rules/new", response_class=HTMLResponse)
def rule_new_form(request: Request, editor: Editor) -> Response:
    refused = _admin_only(request, editor, "add alert rules")
    if refused:
        return refused
    return _rule_form(request, values=rule_form_values(None))


@router.post("/alerts/rules/new", response_class=HTMLResponse)
def rule_create(
    request: Request,
    editor: Editor,
    name: Text = "",
    scope: Text = "all",
    stories: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies defaults)
    tag: Text = "",
    when: Text = "",
    to: Annotated[list[str], Form()] = [],  # noqa: B006
    repeat_hours: Text = "",
    send_resolved: Text = "",
    enabled: Text = "",
) -> Response:
    refused = _admin_only(request, editor, "add alert rules")
    if refused:
        return refused
    form = {
        "name": name,
        "scope": scope,
        "stories": stories,
        "tag": tag,
        "when": when,
        "to": to,
        "repeat_hours": repeat_hours,
        "send_resolved": bool(send_resolved),
        "enabled": bool(enabled),
    }
    return _save(request, editor, form, None)


@router.get("/alerts/rules/{name}/edit", response_class=HTMLResponse)
def rule_edit_form(request: Request, name: RuleName, editor: Editor) -> Response:
    refused = _admin_only(request, editor, "edit alert rules")
    if refused:
        return refused
    rule = _rule_or_404(request, name)
    if isinstance(rule, Response):
        return rule
    return _rule_form(
        request,
        rule=rule,
        values={**rule_form_values(rule["definition"]), "version": rule["version"]},
    )


@router.post("/alerts/rules/{name}/edit", response_class=HTMLResponse)
def rule_edit(
    request: Request,
    name: RuleName,
    editor: Editor,
    version: Version,
    scope: Text = "all",
    stories: Annotated[list[str], Form()] = [],  # noqa: B006
    tag: Text = "",
    when: Text = "",
    to: Annotated[list[str], Form()] = [],  # noqa: B006
    repeat_hours: Text = "",
    send_resolved: Text = "",
    enabled: Text = "",
) -> Response:
    """Save the admin's definition if the rule is still at the version they saw (else the
    409 page saying who changed it when)."""
    refused = _admin_only(request, editor, "edit alert rules")
    if refused:
        return refused
    rule = _rule_or_404(request, name)
    if isinstance(rule, Response):
        return rule
    form = {
        "name": name,
        "scope": scope,
        "stories": stories,
        "tag": tag,
        "when": when,
        "to": to,
        "repeat_hours": repeat_hours,
        "send_resolved": bool(send_resolved),
        "enabled": bool(enabled),
    }
    return _save(request, editor, form, {**rule, "version": version})


@router.post("/alerts/rules/{name}/{action}", response_class=HTMLResponse)
def rule_action(
    request: Request, name: RuleName, action: str, editor: Editor, version: Version
) -> Response:
    if action not in ("enable", "disable", "delete"):
        return error_page(request, 404, "There is no such page: the address names no action.")
    refused = _admin_only(request, editor, f"{action} alert rules")
    if refused:
        return refused
    rule = _rule_or_404(request, name)
    if isinstance(rule, Response):
        return rule
    store, who, now = store_of(request), str(editor["username"]), request.app.state.now()
    if action == "delete":
        store.delete_alert_rule(name, editor=who, now=now, version=version)
        note = (
            " It is still in config.toml: remove it there too, or it comes back when the "
            "rules are next read from the config."
            if rule.get("origin") == "config"
            else ""
        )
        return _back(request, f"Deleted: the alert rule “{name}”.{note}")
    store.set_alert_rule_enabled(name, action == "enable", editor=who, now=now, version=version)
    said = "enabled: it fires again" if action == "enable" else "disabled: it fires no alerts"
    return _back(request, f"The alert rule “{name}” is {said}.")


# --- silences (any editor) -------------------------------------------------------------------


def _silence_form(
    request: Request,
    *,
    rules: list[dict[str, Any]] | None = None,
    values: Mapping[str, Any] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """What the silence form needs: the rules and stories to choose from, the values, and
    the field an error names."""
    names = [
        str(r["name"]) for r in (rules if rules is not None else store_of(request).alert_rules())
    ]
    return {
        "rules": names,
        "stories": _story_slugs(request),
        "hours_choices": SILENCE_HOURS,
        "values": {"rule": "", "story": "", "hours": "24", "reason": "", **(values or {})},
        "error": error,
        "field": field_of(error) if error else "",
    }


@router.post("/alerts/silences", response_class=HTMLResponse)
def silence_add(
    request: Request,
    editor: Editor,
    rule: Text = "",
    story: Text = "",
    hours: Text = "",
    reason: Text = "",
    next: Text = "/alerts",
) -> Response:
    """Mute a rule, a story, or a rule for one story, from now for ``hours`` (1..720)."""
    store, now = store_of(request), request.app.state.now()
    values = {"rule": rule, "story": story, "hours": hours, "reason": reason}
    rules = store.alert_rules()
    try:
        rule_, slug, span, reason_ = check_silence(
            rule,
            story,
            hours,
            reason,
            rules={str(r["name"]) for r in rules},
            stories={slug for slug, _ in _story_slugs(request)},
        )
        silence_id = store.add_silence(
            rule=rule_,
            slug=slug,
            starts_at=now,
            ends_at=now + timedelta(hours=span),
            reason=reason_,
            editor=str(editor["username"]),
            now=now,
        )
    except ReviewInputError as e:
        return render(
            request,
            "alerts_silence.html",
            status_code=422,
            silence=_silence_form(request, rules=rules, values=values, error=str(e)),
            next=local_path(next, "/alerts"),
        )
    what = " for ".join(
        p for p in (f"rule “{rule_}”" if rule_ else "", f"story “{slug}”" if slug else "") if p
    )
    until = (now + timedelta(hours=span)).strftime("%Y-%m-%d %H:%M UTC")
    return _back(
        request,
        f"Muted: alerts of {what} are recorded, not sent, until {until} (silence {silence_id}).",
        local_path(next, "/alerts"),
    )


@router.post("/alerts/silences/{silence_id}/end", response_class=HTMLResponse)
def silence_end(
    request: Request, silence_id: SilenceId, editor: Editor, next: Text = "/alerts"
) -> Response:
    try:
        store_of(request).end_silence(
            silence_id, editor=str(editor["username"]), now=request.app.state.now()
        )
    except ReviewInputError:  # no such silence (one already ended is a ReviewConflict: 409)
        return error_page(request, 404, f"There is no silence {silence_id}.")
    return _back(request, f"Ended silence {silence_id}: its alerts are sent again.", next)
