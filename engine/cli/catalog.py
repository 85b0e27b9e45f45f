"""``noisecast sources ...`` and ``noisecast stories ...``: what noisecast tracks (internal;
:mod:`noisecast.engine.cli` assembles the commands)."""

from __future__ import annotations

from datetime import datetime

import click
from rich.table import Table

from noisecast.engine.cli._common import App, fail, handle_errors, pass_app, print_json, safe, when
from noisecast.engine.store._sources import REMOVED

# --- sources ---------------------------------------------------------------------------------


@click.group()
def sources() -> None:
    """Feeds and other sources to collect from."""


@sources.command("add")
@click.argument("url")
@click.option(
    "--kind",
    default=None,
    help="Source kind: rss, atom, reddit, hackernews, mastodon (default: rss, or atom when "
    "the page announces an Atom feed).",
)
@click.option(
    "--name", default=None, help="Unique name (default: the feed's host and a slug of its path)."
)
@click.option("--replace", is_flag=True, help="Replace the source that has this name.")
@click.option(
    "--no-check",
    "no_check",
    is_flag=True,
    help="Add without fetching it once (by default a web feed is fetched and parsed, and a "
    "homepage's <link rel=alternate> feed is found and added instead).",
)
@click.option("--json", "as_json", is_flag=True)
@pass_app
@handle_errors
def sources_add(
    app: App,
    url: str,
    kind: str | None,
    name: str | None,
    replace: bool,
    no_check: bool,
    as_json: bool,
) -> None:
    """Add a source. A taken name is refused unless --replace."""
    from noisecast.engine.jobs.catalog import add_source

    with app.store() as store:
        added = add_source(
            store,
            app.settings,
            url,
            kind=kind,
            name=name,
            now=app.now(),
            replace=replace,
            check=not no_check,
        )
    found = added.check
    if as_json:
        print_json(
            {
                "name": added.name,
                "url": added.url,
                "kind": added.kind,
                "created": added.created,
                "checked": bool(found and found.reachable),
                "discovered_from": found.page if found else None,
                "entries": found.entries if found and found.reachable else None,
            }
        )
        return
    c = app.console
    if found and found.page:
        c.print(f"Found the feed {safe(found.url)} on {safe(found.page)}.", highlight=False)
    if found and found.reachable:
        title = f" {safe(found.title)!r}" if found.title else ""
        c.print(f"Checked: the feed{title} has {found.entries} entries.", highlight=False)
    elif found:
        c.print(
            f"[yellow]Not checked[/]: {safe(found.note)} (the network did not answer; the "
            "first collection will tell).",
            highlight=False,
        )
    verb = "Added" if added.created else "Replaced"
    c.print(f"{verb} source [bold]{safe(added.name)}[/] ({safe(added.url)})", highlight=False)


@sources.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include removed sources.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@handle_errors
def sources_list(app: App, show_all: bool, as_json: bool) -> None:
    """List sources with their schedule and health."""
    with app.store() as store:
        rows = store.list_sources(removed=show_all)
    keys = (
        "name",
        "kind",
        "url",
        "interval_minutes",
        "next_due_at",
        "last_fetched_at",
        "last_status",
        "failures",
        "last_error",
        "disabled_at",
        "disabled_reason",
    )
    if as_json:
        print_json([{k: r[k] for k in keys} for r in rows])
        return
    table = Table("name", "kind", "url", "every", "next due", "last", "failures", "state")
    for r in rows:
        if r["disabled_reason"] == REMOVED:
            state = "[dim]removed[/]"
        elif r["disabled_at"]:
            state = f"[red]disabled[/]: {safe(r['disabled_reason'])}"
        else:
            state = safe(r["last_error"] or "ok")
        table.add_row(
            safe(r["name"]),
            safe(r["kind"]),
            safe(r["url"]),
            f"{r['interval_minutes']} min",
            when(r["next_due_at"]),
            str(r["last_status"] or "-"),
            f"{r['failures']:g}",
            state,
        )
    app.console.print(table)


@sources.command("disable")
@click.argument("name")
@click.option("--reason", default="disabled by hand", show_default=True)
@pass_app
@handle_errors
def sources_disable(app: App, name: str, reason: str) -> None:
    """Stop collecting from a source (its mentions stay; `sources enable` undoes it)."""
    if reason == REMOVED:
        fail(f"--reason: {reason!r} is kept for `noisecast sources remove`", 2)
    with app.store() as store:
        store.disable_source(name, reason=reason, now=app.now())
    app.console.print(f"Disabled source [bold]{safe(name)}[/].")


@sources.command("enable")
@click.argument("name")
@pass_app
@handle_errors
def sources_enable(app: App, name: str) -> None:
    """Collect from a disabled or removed source again: its failures are forgotten and it is
    due at once."""
    with app.store() as store:
        was_disabled = store.enable_source(name, now=app.now())
    state = "Enabled" if was_disabled else "Source was not disabled; reset failures of"
    app.console.print(f"{state} source [bold]{safe(name)}[/]; it is due now.")


@sources.command("remove")
@click.argument("name")
@pass_app
@handle_errors
def sources_remove(app: App, name: str) -> None:
    """Stop collecting from a source and hide it from lists and config sync. Its mentions and
    fetch history stay (`sources enable` brings it back)."""
    with app.store() as store:
        removed = store.remove_source(name, now=app.now())
    if removed:
        app.console.print(f"Removed source [bold]{safe(name)}[/]; its mentions are kept.")
    else:
        app.console.print(f"Source [bold]{safe(name)}[/] was removed already.")


# --- stories ---------------------------------------------------------------------------------


@click.group()
def stories() -> None:
    """Stories the newsroom tracks, each with its query."""


@stories.command("add")
@click.argument("slug")
@click.option("--title", required=True)
@click.option("--query", required=True, help="Boolean query, e.g. '\"port strike\" OR dockers'.")
@click.option(
    "--replace", is_flag=True, help="Replace the title and query of a known story (and track it)."
)
@click.option("--json", "as_json", is_flag=True)
@pass_app
@handle_errors
def stories_add(app: App, slug: str, title: str, query: str, replace: bool, as_json: bool) -> None:
    """Add a story. A taken slug is refused unless --replace. Try the query first with
    `noisecast stories test`."""
    from noisecast.engine.jobs.catalog import add_story

    with app.store() as store:
        created = add_story(store, app.settings, slug, title, query, now=app.now(), replace=replace)
    if as_json:
        print_json({"slug": slug, "title": title, "query": query, "created": created})
    else:
        app.console.print(f"{'Added' if created else 'Replaced'} story [bold]{safe(slug)}[/].")


@stories.command("test")
@click.argument("query")
@click.option(
    "--days", default=7, show_default=True, type=click.IntRange(1, 3650), help="How far back."
)
@click.option("--samples", default=10, show_default=True, type=click.IntRange(0, 1000))
@click.option("--json", "as_json", is_flag=True)
@pass_app
@handle_errors
def stories_test(app: App, query: str, days: int, samples: int, as_json: bool) -> None:
    """Show how many stored mentions QUERY matches, with the newest of them; stores nothing."""
    from noisecast.engine.jobs.rematch import preview_query

    with app.store() as store:
        preview = preview_query(store, query, now=app.now(), days=days, samples=samples)
    rows = [{**r, "when": _iso(r["when"])} for r in preview.samples]
    if as_json:
        print_json(
            {
                "query": query,
                "since": preview.since.isoformat(),
                "checked": preview.checked,
                "matched": preview.matched,
                "samples": rows,
            }
        )
        return
    c = app.console
    c.print(
        f"[bold]{preview.matched}[/] of {preview.checked} mentions of the last {days} days "
        f"match {safe(query)!r}.",
        highlight=False,
    )
    if preview.samples:
        table = Table("when", "source", "title", title="Newest matches")
        for r in preview.samples:
            table.add_row(when(r["when"]), safe(r["source"]), safe(r["title"]))
        c.print(table)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@stories.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include archived stories.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@handle_errors
def stories_list(app: App, show_all: bool, as_json: bool) -> None:
    """List stories with their mention counts."""
    with app.store() as store:
        rows = store.list_stories(None if show_all else "active")
        counts = store.mention_counts()
    if as_json:
        print_json(
            [
                {
                    "slug": r["slug"],
                    "title": r["title"],
                    "query": r["query"],
                    "status": r["status"],
                    "mentions": counts.get(r["slug"], 0),
                }
                for r in rows
            ]
        )
        return
    table = Table("slug", "title", "query", "status", "mentions")
    for r in rows:
        table.add_row(
            safe(r["slug"]),
            safe(r["title"]),
            safe(r["query"]),
            r["status"],
            str(counts.get(r["slug"], 0)),
        )
    app.console.print(table)


@stories.command("archive")
@click.argument("slug")
@pass_app
@handle_errors
def stories_archive(app: App, slug: str) -> None:
    """Stop tracking a story (its history stays)."""
    with app.store() as store:
        store.archive_story(slug, now=app.now())
    app.console.print(f"Archived story [bold]{safe(slug)}[/].")
