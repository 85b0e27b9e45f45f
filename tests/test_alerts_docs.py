"""docs/alerts.md is copy-paste material: its destination URLs are ones Apprise accepts, its
conditions parse, and the messages it quotes are the ones noisecast writes."""

from __future__ import annotations

import re
from pathlib import Path

import apprise
import pytest

from noisecast.engine.core.alerts import parse_condition
from noisecast.engine.jobs.alerts import missing_url

DOC = (Path(__file__).resolve().parents[1] / "docs" / "alerts.md").read_text(encoding="utf-8")
URL = re.compile(
    r"(?:slack|workflows|mailtos?|jsons?)://[^\s'`\"]+"
    r"|https://[^\s'`\"]*(?:hooks\.slack\.com|logic\.azure\.com)[^\s'`\"]*"
)
PLUGINS = {
    "slack": "NotifySlack",
    "hooks.slack.com": "NotifySlack",
    "workflows": "NotifyWorkflows",
    "logic.azure.com": "NotifyWorkflows",
    "mailto": "NotifyEmail",
    "mailtos": "NotifyEmail",
    "json": "NotifyJSON",
    "jsons": "NotifyJSON",
}


def doc_urls() -> list[str]:
    found = [u.rstrip(".,):") for u in URL.findall(DOC)]
    # "…" marks an example cut short in the prose; PORT is the demo's ephemeral port.
    return sorted({u for u in found if "…" not in u and "PORT" not in u})


def test_the_doc_has_an_example_for_each_service() -> None:
    schemes = {u.split("://", 1)[0] for u in doc_urls()}
    assert {"slack", "workflows", "mailtos", "mailto", "json", "jsons", "https"} <= schemes


@pytest.mark.parametrize("url", doc_urls())
def test_every_destination_url_in_the_doc_is_one_apprise_accepts(url: str) -> None:
    plugin = apprise.Apprise.instantiate(url)
    assert plugin is not None, url
    scheme = url.split("://", 1)[0]
    if scheme == "https":
        scheme = next(host for host in ("hooks.slack.com", "logic.azure.com") if host in url)
    assert type(plugin).__name__ == PLUGINS[scheme], url


def test_every_condition_in_the_doc_parses() -> None:
    section = DOC.split("## What fires", 1)[1].split("### Rules", 1)[0]
    rows = re.findall(r"^\| `([^`]+)`", section, flags=re.M)
    conditions = [c for c in rows if c != "when"]  # not the header
    assert len(conditions) == 7
    kinds = [parse_condition(c).kind for c in conditions]
    assert kinds == ["level", "score", "jump", "rising", "approved", "unhealthy", "emerging"]
    rules = re.findall(r"^when = (['\"])(.+)\1$", DOC, flags=re.M)  # the config examples
    assert len(rules) >= 2
    for _, when in rules:
        parse_condition(when)


def test_the_doc_quotes_the_missing_url_message() -> None:
    assert missing_url("desk", "desk") in DOC
