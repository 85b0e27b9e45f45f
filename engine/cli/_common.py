"""What every ``noisecast`` command shares: the App in the click context, error handling, output
helpers. Internal: :mod:`noisecast.engine.cli` assembles the commands; command modules import from
here and never from ``noisecast.engine.cli``, so nothing imports back up."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import InterfaceError, OperationalError

from noisecast.engine.config import Settings, load_settings
from noisecast.engine.errors import BacktestInputError, ConfigError, NoisecastError, QueryError
from noisecast.engine.store import Store
from noisecast.feeds.text import printable

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class App:
    """The state of one ``noisecast`` invocation: which config, which database, what time."""

    config: str | None
    now_override: datetime | None
    database: str | None = None  # --database: overrides [database] url
    console: Console = field(default_factory=lambda: Console(stderr=False))
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            settings = load_settings(self.config)
            if self.database:
                db = settings.database.model_copy(update={"url": self.database})
                settings = settings.model_copy(update={"database": db})
            self._settings = settings
        return self._settings

    def now(self) -> datetime:
        return self.now_override or datetime.now(UTC)

    @contextmanager
    def store(self, *, migrate: bool = False) -> Iterator[Store]:
        store = Store.open(self.settings.database)
        try:
            if migrate:
                store.migrate()
            else:
                store.check_schema()
            yield store
        finally:
            store.close()


def fail(message: str, code: int) -> NoReturn:
    for line in message.splitlines() or [""]:
        click.echo(f"noisecast: {line}", err=True)
    sys.exit(code)


def handle_errors(func: F) -> F:
    """Map our errors to exit codes: configuration 2, anything else that failed 1.

    A database that goes away in the middle of a command (the driver's OperationalError that
    the store did not wrap) is one line too, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, QueryError, BacktestInputError) as e:
            fail(str(e), 2)
        except NoisecastError as e:
            fail(str(e), 1)
        except (OperationalError, InterfaceError) as e:
            text = str(getattr(e, "orig", e)).strip().splitlines() or [type(e).__name__]
            fail(f"database: {text[0]}", 1)

    return wrapper  # type: ignore[return-value]


pass_app = click.make_pass_decorator(App)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def parse_time(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    """A click callback: an ISO 8601 time, naive read as UTC."""
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"expected an ISO 8601 time, got {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def last_completed_hour(now: datetime) -> datetime:
    """The start of the last hour that has ended by ``now``."""
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


def safe(value: object) -> str:
    """Text from outside (a feed, a server, a user) made safe to print on a terminal through
    rich: control characters and escape sequences made visible, markup escaped."""
    return escape(printable("" if value is None else str(value)))


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"
