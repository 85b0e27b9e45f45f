"""``noisecast serve``, ``noisecast editors add|list`` and ``noisecast export``.

The commands take the CLI's :class:`~noisecast.engine.cli._common.App` from the click context
(``pass_obj``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from noisecast.engine.cli._common import App, handle_errors
from noisecast.engine.config import DatabaseSettings, Secrets, Settings
from noisecast.engine.core.review import ROLES
from noisecast.engine.store import Store

_database_option = click.option(
    "--database",
    "database_url",
    default=None,
    help="Database URL (default: [database] url of the config; env NOISECAST_DATABASE_URL).",
)


def _run(func: Callable[..., None], *args: Any) -> None:
    """Run a command body under the CLI's error handling (exit codes and messages)."""
    handle_errors(func)(*args)


def _settings(app: App, database_url: str | None) -> Settings:
    settings = app.settings
    if database_url:
        settings = settings.model_copy(update={"database": DatabaseSettings(url=database_url)})
    return settings


@contextmanager
def _store(settings: Settings) -> Iterator[Store]:
    store = Store.open(settings.database)
    try:
        store.check_schema()
        yield store
    finally:
        store.close()


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


# --- serve -------------------------------------------------------------------------------------


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--dev",
    is_flag=True,
    help="Start without NOISECAST_SECRET_KEY: sessions are signed with a random key that lasts "
    "as long as the process. For trying the app locally, not for a newsroom.",
)
@click.option(
    "--secure-cookie",
    is_flag=True,
    help="Send the session cookie over HTTPS only (when a TLS proxy is in front).",
)
@_database_option
@click.pass_obj
def serve(
    app: App, host: str, port: int, dev: bool, secure_cookie: bool, database_url: str | None
) -> None:
    """Serve the readers' story pages and widgets (/stories/SLUG, /embed/SLUG/...), the editor
    review pages, and the published JSON (/api/stories).

    Needs NOISECAST_SECRET_KEY (at least 32 random characters) to sign session cookies,
    unless --dev."""
    _run(_serve, app, host, port, dev, secure_cookie, database_url)


def _serve(
    app: App, host: str, port: int, dev: bool, secure_cookie: bool, database_url: str | None
) -> None:
    import uvicorn

    from noisecast.engine.web.app import create_app

    settings = _settings(app, database_url)
    key = Secrets.from_env().secret_key
    with _store(settings) as store:
        web = create_app(store, settings, key, dev=dev, now=app.now, secure_cookie=secure_cookie)
        where = store.engine.url.render_as_string(hide_password=True)
        if dev and not key:
            click.echo(
                "noisecast: --dev: sessions are signed with a random key for this process "
                "only; set NOISECAST_SECRET_KEY outside a trial.",
                err=True,
            )
        click.echo(f"noisecast: review page on http://{host}:{port}/ over {where}", err=True)
        uvicorn.run(web, host=host, port=port, log_level="info", server_header=False)


# --- editors -----------------------------------------------------------------------------------


@click.group()
def editors() -> None:
    """The editors who review forecasts (user names, roles, passwords)."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@editors.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default="editor", show_default=True)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts); this is "
    "also what happens when standard input is not a terminal.",
)
@click.option("--replace", is_flag=True, help="Set a new password and role for an editor.")
@_database_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def editors_add(
    app: App,
    username: str,
    role: str,
    password_stdin: bool,
    replace: bool,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Add an editor; the password is prompted for (or read from standard input)."""
    _run(_editors_add, app, username, role, password_stdin, replace, database_url, as_json)


def _editors_add(
    app: App,
    username: str,
    role: str,
    password_stdin: bool,
    replace: bool,
    database_url: str | None,
    as_json: bool,
) -> None:
    from noisecast.engine.web.accounts import add_editor

    password = _read_password(password_stdin)
    with _store(_settings(app, database_url)) as store:
        created = add_editor(store, username, password, role=role, now=app.now(), replace=replace)
    if as_json:
        _print_json({"username": username, "role": role, "created": created})
    else:
        verb = "Added" if created else "Updated"
        app.console.print(f"{verb} editor [bold]{escape(username)}[/] ({role}).")


@editors.command("list")
@_database_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def editors_list(app: App, database_url: str | None, as_json: bool) -> None:
    """List editors and their roles."""
    _run(_editors_list, app, database_url, as_json)


def _editors_list(app: App, database_url: str | None, as_json: bool) -> None:
    with _store(_settings(app, database_url)) as store:
        rows = store.list_editors()
    if as_json:
        _print_json([{**r, "created_at": r["created_at"].isoformat()} for r in rows])
        return
    table = Table("editor", "role", "created")
    for r in rows:
        table.add_row(escape(r["username"]), r["role"], f"{r['created_at']:%Y-%m-%d %H:%M}")
    app.console.print(table)


# --- export ------------------------------------------------------------------------------------


@click.command()
@click.option("--story", "slug", default=None, help="Only this story.")
@_database_option
@click.option("--json", "as_json", is_flag=True, help="The JSON of /api/stories.")
@click.pass_obj
def export(app: App, slug: str | None, database_url: str | None, as_json: bool) -> None:
    """Export what is published: each story's noise level and its approved forecast."""
    _run(_export, app, slug, database_url, as_json)


def _export(app: App, slug: str | None, database_url: str | None, as_json: bool) -> None:
    from noisecast.engine.web.api import published

    settings = _settings(app, database_url)
    with _store(settings) as store:
        if slug:
            store.story_id(slug)  # a clear error for an unknown story
        rows = published(store, settings, slug)
    if as_json:
        _print_json({"stories": rows})
        return
    table = Table("story", "level", "score", "approved forecast", "updated")
    for r in rows:
        f = r["forecast"]
        table.add_row(
            r["slug"],
            r["level"] or "-",
            "-" if r["score"] is None else f"{r['score']:.0f}",
            "-" if f is None else escape(f["text"]),
            r["updated"] or "-",
        )
    app.console.print(table)
