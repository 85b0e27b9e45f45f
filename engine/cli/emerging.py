"""``noisecast emerging``: the stories getting loud that nobody tracks yet, and tracking or
dismissing one (engine/jobs/emerging.py does the work; the review app's Emerging tab does the
same with a form)."""

from __future__ import annotations

import getpass
import re
from datetime import datetime
from typing import Any

import click
from rich.table import Table

from noisecast.engine.cli._common import App, handle_errors, pass_app, print_json, safe
from noisecast.engine.errors import NoisecastError


def actor() -> str:
    """Who acts from the command line, in the audit trail: ``cli:<login name>``."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without a passwd entry)
        user = "unknown"
    return f"cli:{user}"[:80]


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def slug_for(title: str) -> str:
    """A story slug from a headline: lowercase words joined by '-', at most 6 words."""
    words = re.findall(r"[a-z0-9]+", title.casefold())
    return "-".join(words[:6])[:80].strip("-") or "emerging-story"


@click.group("emerging", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the proposals as JSON.")
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Every proposal, tracked, merged, dismissed and expired too.",
)
@click.pass_context
@handle_errors
def emerging(ctx: click.Context, as_json: bool, every: bool) -> None:
    """Stories getting loud that nobody tracks yet, loudest first (see `emerging track`)."""
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(App)
    assert app is not None
    with app.store() as store:
        rows = store.list_proposals(None if every else "proposed")
    if as_json:
        print_json([jsonable(r) for r in rows])
        return
    if not rows:
        app.console.print(
            "No emerging stories proposed: nothing untracked is loud enough yet "
            "([emerging] min_score, min_mentions and min_outlets set the bar)."
        )
        return
    table = Table("id", "score", "level", "title", "size", "outlets", "suggested query", "P / R")
    if every:
        table.add_column("status")
    for r in rows:
        quality = r["quality"] or {}
        cells = [
            str(r["id"]),
            f"{r['score']:.0f}",
            safe(r["level"]),
            safe(r["title"]),
            str(r["size"]),
            str(r["outlets"]),
            safe(r["query"]),
            f"{quality.get('precision', 0):.2f} / {quality.get('recall', 0):.2f}",
        ]
        if every:
            cells.append(r["status"] + (f" ({r['story_slug']})" if r["story_slug"] else ""))
        table.add_row(*cells)
    app.console.print(table)
    app.console.print(
        "Track one with `noisecast emerging track ID`, or dismiss it with "
        "`noisecast emerging dismiss ID`."
    )


def _proposal(store: Any, proposal_id: int) -> dict[str, Any]:
    found = store.proposal(proposal_id)
    if found is None:
        raise NoisecastError(
            f"there is no emerging proposal {proposal_id} (see `noisecast emerging`)"
        )
    return dict(found)


@emerging.command("track")
@click.argument("proposal_id", type=click.IntRange(1))
@click.option("--slug", default=None, help="The new story's slug (default: from its title).")
@click.option("--title", default=None, help="The new story's title (default: the proposal's).")
@click.option("--query", default=None, help="Its query (default: the suggested one).")
@pass_app
@handle_errors
def track(
    app: App, proposal_id: int, slug: str | None, title: str | None, query: str | None
) -> None:
    """Track proposal PROPOSAL_ID as a new story: its mentions are matched at once and it is
    scored back to its first mention."""
    from noisecast.engine.jobs.emerging import track_proposal

    with app.store() as store:
        found = _proposal(store, proposal_id)
        title = title or str(found["title"])
        done = track_proposal(
            store,
            app.settings,
            proposal_id,
            slug=slug or slug_for(title),
            title=title,
            query=query or str(found["query"]),
            actor=actor(),
            expected_version=int(found["version"]),
            now=app.now(),
        )
        matched = store.mention_counts().get(done, 0)
    app.console.print(
        f"Tracking {safe(done)!r}: {matched} mentions matched, scored back to its first "
        "mention; its page is in the review app (`noisecast serve`)."
    )


@emerging.command("dismiss")
@click.argument("proposal_id", type=click.IntRange(1))
@click.option("--note", default="", help="Why (kept in the audit trail).")
@pass_app
@handle_errors
def dismiss(app: App, proposal_id: int, note: str) -> None:
    """Dismiss proposal PROPOSAL_ID: its cluster is never proposed again."""
    from noisecast.engine.jobs.emerging import dismiss_proposal

    with app.store() as store:
        found = _proposal(store, proposal_id)
        dismiss_proposal(
            store,
            proposal_id,
            actor=actor(),
            expected_version=int(found["version"]),
            note=note,
            now=app.now(),
        )
    app.console.print(f"Dismissed proposal {proposal_id}: {safe(found['title'])}")
