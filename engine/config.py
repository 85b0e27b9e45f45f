"""Settings: ``config.toml`` read once into validated, frozen objects.

Precedence, lowest first: the defaults below, the TOML file, then ``NOISECAST_<SECTION>_<KEY>``
environment variables (``NOISECAST_DATABASE_URL`` overrides ``[database] url``). Secrets never
live in the file: :class:`Secrets` reads them from the environment, or from a file outside the
repository named by ``NOISECAST_SECRETS_FILE``.

Every problem is reported as ``FILE: key.path: what is wrong`` (``config.toml: sources[3].url:
not a valid URL``); :func:`load_settings` raises one :class:`~noisecast.engine.errors.ConfigError`
listing all of them.
"""

from __future__ import annotations

import difflib
import ipaddress
import itertools
import math
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from noisecast.engine.errors import ConfigError
from noisecast.feeds import registry
from noisecast.feeds.http import unusable_url

ENV_PREFIX = "NOISECAST_"
DEFAULT_CONFIG = Path("config.toml")


def _check_url(value: str) -> str:
    if unusable_url(value):
        raise ValueError("not a valid URL")
    return value


def _check_url_template(value: str) -> str:
    _check_url(value.replace("{query}", "q"))
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    url: str = "sqlite:///var/noisecast.db"
    busy_timeout_ms: int = Field(5000, ge=0)
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql")):
            raise ValueError("expected a sqlite:/// or postgresql+psycopg:// URL")
        return value


class CollectorSettings(_Section):
    """How politely we fetch: identity, timeouts, limits, intervals and backoff."""

    user_agent: str = "noisecast/0.1 (+https://github.com/noisecast/noisecast)"
    contact: str = ""
    timeout_seconds: float = Field(20.0, gt=0)
    connect_timeout_seconds: float = Field(10.0, gt=0)
    max_body_bytes: int = Field(10_000_000, gt=0)
    concurrency: int = Field(8, ge=1)
    per_host_concurrency: int = Field(1, ge=1, le=4)
    per_host_min_gap_seconds: float = Field(1.0, ge=0)
    default_interval_minutes: int = Field(60, ge=1)
    min_interval_minutes: int = Field(15, ge=1)
    max_interval_minutes: int = Field(720, ge=1)
    backoff_base_minutes: int = Field(30, ge=1)
    backoff_max_minutes: int = Field(24 * 60, ge=1)
    retry_after_max_minutes: int = Field(24 * 60, ge=1)
    disable_after_failures: float = Field(10.0, gt=0)
    jitter_fraction: float = Field(0.1, ge=0, le=0.5)
    max_redirects: int = Field(5, ge=0, le=20)
    deadline_seconds: float = Field(60.0, gt=0)
    write_batch: int = Field(50, ge=1)
    write_every_seconds: float = Field(1.0, gt=0)
    # Private networks (CIDR) a feed may resolve to; public addresses are always allowed, and
    # link-local and cloud-metadata addresses never are. Checked on every redirect hop too.
    allow_private_networks: tuple[str, ...] = ()

    @field_validator("allow_private_networks")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"not a network in CIDR form: {item!r}") from None
        return value

    @model_validator(mode="after")
    def _intervals_ordered(self) -> CollectorSettings:
        if not (
            self.min_interval_minutes <= self.default_interval_minutes <= self.max_interval_minutes
        ):
            raise ValueError(
                "expected min_interval_minutes <= default_interval_minutes <= max_interval_minutes"
            )
        return self

    @property
    def identity(self) -> str:
        """The User-Agent header: our name plus the operator's contact, when given."""
        return f"{self.user_agent} {self.contact}".strip() if self.contact else self.user_agent


class ScheduleSettings(_Section):
    """``noisecast run``: when the hourly cycle runs, how collectors share sources, how to stop."""

    cycle_minute: int = Field(5, ge=0, le=59)
    timezone: str = "UTC"
    misfire_grace_minutes: int = Field(10, ge=1)
    collect_every_seconds: float = Field(30.0, gt=0)
    lease_seconds: float = Field(600.0, gt=0)
    shutdown_grace_seconds: float = Field(20.0, ge=0)
    catch_up_max_hours: int = Field(72, ge=1)
    cycle_retry_seconds: float = Field(60.0, gt=0)
    heartbeat_seconds: float = Field(60.0, gt=0)
    job_runs_keep_days: int = Field(30, ge=1)
    unhealthy_window_hours: int = Field(3, ge=1, le=48)
    unhealthy_share: float = Field(0.3, ge=0, le=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name such as 'UTC' or 'Europe/London')"
            ) from None
        return value


class MatchingSettings(_Section):
    rematch_days: int = Field(7, ge=0, le=365)


class ScoringSettings(_Section):
    """The noise level's settings (docs/scoring.md). Checked here, when config is read, so
    that a bad value stops ``init`` rather than crash ``score`` later."""

    window_hours: int = Field(24 * 7, ge=24)
    thresholds: tuple[float, float, float, float] = (20.0, 40.0, 60.0, 80.0)
    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "volume": 0.4,
            "velocity": 0.2,
            "breadth": 0.25,
            "engagement": 0.15,
        }
    )
    unhealthy_failed_share: float = Field(0.5, ge=0, le=1)

    @field_validator("thresholds")
    @classmethod
    def _increasing(
        cls, value: tuple[float, float, float, float]
    ) -> tuple[float, float, float, float]:
        ordered = all(a < b for a, b in itertools.pairwise(value))
        if not ordered or not all(0 <= t <= 100 for t in value):
            raise ValueError(
                "thresholds: expected 4 increasing numbers between 0 and 100 (the scores where "
                f"Low, Moderate, High and Very high start), got {[_num(t) for t in value]}"
            )
        return value

    @field_validator("weights")
    @classmethod
    def _known_non_negative(cls, value: dict[str, float]) -> dict[str, float]:
        from noisecast.engine.schema import COMPONENTS  # late: only validation needs it

        for key, weight in value.items():
            if key not in COMPONENTS:
                close = difflib.get_close_matches(key, COMPONENTS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"weights.{key}: unknown component{hint}; expected {', '.join(COMPONENTS)}"
                )
            if not math.isfinite(weight) or weight < 0:
                raise ValueError(f"weights.{key}: expected a number of at least 0, got {weight}")
        if sum(value.values()) <= 0:
            raise ValueError("weights: expected at least one weight above 0")
        return value


class ForecastSettings(_Section):
    horizon_hours: int = Field(24, ge=1, le=168)
    refit_every_hours: int = Field(24, ge=1)
    min_training_series: int = Field(20, ge=1)
    model_dir: str = "var/models"  # fitted models (joblib), one file per model_runs row
    training_days: int = Field(60, ge=1)  # how much stored history a fit reads


class ReviewSettings(_Section):
    supersede_min_change: float = Field(0.25, ge=0)
    hedge_lead: str = Field("Based on current signals", min_length=1)
    hedge_close: str = Field("Events may develop differently.", min_length=1)


class TimelineSettings(_Section):
    """How the Timeline's rules read the signals (engine/core/timeline.py)."""

    # "Picked up on social": the first hour with at least social_min_mentions social mentions
    # (Reddit, Hacker News, Mastodon) and at least social_factor times the story's own mean
    # social mentions per hour over the social_baseline_hours before it.
    social_min_mentions: int = Field(3, ge=1)
    social_factor: float = Field(3.0, ge=1.0)
    social_baseline_hours: int = Field(24, ge=1)


class OutletSettings(_Section):
    """One ``[[outlets]]`` entry: how the newsroom ranks a publisher (by host)."""

    host: str = Field(min_length=1, max_length=253)  # matches the host and its subdomains
    name: str = Field("", max_length=200)  # shown in the Timeline; the host when empty
    tier: Literal["major", "standard"] = "major"

    @field_validator("host")
    @classmethod
    def _bare_host(cls, value: str) -> str:
        host = value.strip().lower().removeprefix("www.")
        if not host or "/" in host or ":" in host or " " in host:
            raise ValueError(f"expected a host name such as 'bbc.co.uk', got {value!r}")
        return host


class PublicSettings(_Section):
    """The reader-facing story page and its embeddable widgets (``noisecast serve``)."""

    # Origins allowed to frame /embed/... widgets (CSP frame-ancestors), e.g.
    # ["https://www.example-news.com"]. Empty: no site may frame them.
    frame_ancestors: tuple[str, ...] = ()
    # The base URL the page is reached at, for links in alerts and the embed snippet.
    base_url: str = "http://127.0.0.1:8000"
    cache_seconds: int = Field(60, ge=0)

    @field_validator("frame_ancestors")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            parts = urlsplit(origin)
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or parts.path
                not in (
                    "",
                    "/",
                )
            ):
                raise ValueError(
                    f"not an origin: {origin!r} (expected scheme://host[:port], no path)"
                )
        return tuple(o.rstrip("/") for o in value)


class SourceSettings(_Section):
    """One ``[[sources]]`` entry. ``options`` are the kind's own settings (see config.toml)."""

    kind: str = "rss"
    name: str = Field(min_length=1, max_length=200)
    url: str | None = None
    interval_minutes: int | None = Field(None, ge=1)
    enabled: bool = True
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        known = registry.kinds()
        if value not in known:
            raise ValueError(f"expected one of {', '.join(known)}, got {value!r}")
        return value

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url_template(value)

    @model_validator(mode="after")
    def _default_url(self) -> SourceSettings:
        if self.url is None:
            default = registry.collector_class(self.kind).default_url
            if default is None:
                raise ValueError(f"url: missing (required for kind {self.kind!r})")
            object.__setattr__(self, "url", default)
        return self

    @property
    def endpoint(self) -> str:
        assert self.url is not None  # filled in by validation
        return self.url


class StorySettings(_Section):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,79}$")
    title: str = Field(min_length=1)
    query: str = Field(min_length=1)

    @field_validator("query")
    @classmethod
    def _parses(cls, value: str) -> str:
        from noisecast.engine.core.match import (
            check_query,  # late: the query language is its own module
        )

        check_query(value)
        return value


class Settings(_Section):
    """Everything noisecast reads from configuration; frozen once loaded."""

    database: DatabaseSettings = DatabaseSettings()
    collector: CollectorSettings = CollectorSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    matching: MatchingSettings = MatchingSettings()
    scoring: ScoringSettings = ScoringSettings()
    forecast: ForecastSettings = ForecastSettings()
    review: ReviewSettings = ReviewSettings()
    timeline: TimelineSettings = TimelineSettings()
    public: PublicSettings = PublicSettings()
    outlets: tuple[OutletSettings, ...] = ()
    sources: tuple[SourceSettings, ...] = ()
    stories: tuple[StorySettings, ...] = ()
    path: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _lease_outlives_a_fetch(self) -> Settings:
        if self.schedule.lease_seconds <= self.collector.deadline_seconds:
            raise ValueError(
                f"schedule.lease_seconds: {self.schedule.lease_seconds:g} must be longer than "
                f"collector.deadline_seconds ({self.collector.deadline_seconds:g}), so that no "
                "source's lease runs out while one of its requests is still allowed to run"
            )
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        for attr, key in (("sources", "name"), ("stories", "slug")):
            seen: set[str] = set()
            for item in getattr(self, attr):
                value = getattr(item, key)
                if value in seen:
                    raise ValueError(f"{attr}: duplicate {key} {value!r}")
                seen.add(value)
        return self


class Secrets(BaseModel):
    """Credentials, read only from the environment or a secrets file outside the repository."""

    model_config = ConfigDict(frozen=True)

    reddit_client_id: str | None = None
    reddit_client_secret: str | None = None
    reddit_user_agent: str | None = None
    secret_key: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Secrets:
        env = dict(os.environ if environ is None else environ)
        values: dict[str, str] = {}
        secrets_file = env.get(f"{ENV_PREFIX}SECRETS_FILE")
        if secrets_file:
            values.update(_read_secrets_file(Path(secrets_file)))
        for name in cls.model_fields:
            if f"{ENV_PREFIX}{name.upper()}" in env:
                values[name] = env[f"{ENV_PREFIX}{name.upper()}"]
        return cls(**values)


def _read_secrets_file(path: Path) -> dict[str, str]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read secrets file: {e}") from e
    unknown = sorted(set(data) - set(Secrets.model_fields))
    if unknown:
        raise ConfigError(f"{path}: {unknown[0]}: unknown secret")
    return {k: str(v) for k, v in data.items()}


SECTIONS = ("database", "collector", "schedule", "matching", "scoring", "forecast", "review")


def config_path(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, bool]:
    """The config file to read, and whether the user named it (then it must exist)."""
    if explicit is not None:
        return Path(explicit), True
    if os.environ.get(f"{ENV_PREFIX}CONFIG"):
        return Path(os.environ[f"{ENV_PREFIX}CONFIG"]), True
    return DEFAULT_CONFIG, False


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read, merge and validate the configuration; raise ConfigError naming every bad key."""
    env = os.environ if environ is None else environ
    file, required = config_path(path)
    label = str(file)
    data: dict[str, Any] = {}
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{label}: {e}") from e
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{label}: cannot read: {e}") from e
    elif required:
        raise ConfigError(f"{label}: no such config file")

    data, from_env = _apply_env(data, env)
    settings = validate(Settings, data, label, from_env)
    check_source_options(settings.sources, label)
    db = settings.database
    base = file.resolve().parent if file.exists() else Path.cwd()
    return settings.model_copy(
        update={
            "path": file if file.exists() else None,
            "database": db.model_copy(update={"url": _resolve_sqlite(db.url, base)}),
        }
    )


M = TypeVar("M", bound=BaseModel)


def check_source_options(sources: tuple[SourceSettings, ...], label: str) -> None:
    """Each source's ``options`` against its kind's own model; all problems at once."""
    problems: list[str] = []
    for i, src in enumerate(sources):
        model = registry.collector_class(src.kind).Options
        try:
            validate(model, src.options, label)
        except ConfigError as e:
            prefix = f"{label}: "
            problems += [
                p.replace(prefix, f"{prefix}sources[{i}].options.", 1)
                if p.startswith(prefix) and not p.startswith(f"{prefix}{model.__name__}")
                else p
                for p in e.problems
            ]
    if problems:
        raise ConfigError("\n".join(problems), problems)


def validate(
    model: type[M],
    data: Mapping[str, Any],
    label: str,
    from_env: Mapping[tuple[str, str], str] | None = None,
) -> M:
    """Validate ``data`` as ``model``; a ConfigError lists every problem as LABEL: key: what."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = [_describe(err, label, from_env or {}, model) for err in e.errors()]
        raise ConfigError("\n".join(problems), problems) from None


def _resolve_sqlite(url: str, base: Path) -> str:
    """Make a relative SQLite path relative to the config file, not to the caller's cwd."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == "sqlite:///:memory:":
        return url
    rest = url[len(prefix) :]
    if rest.startswith("/"):
        return url
    return prefix + str(base / rest)


def _apply_env(
    data: dict[str, Any], env: Mapping[str, str]
) -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
    """Overlay NOISECAST_<SECTION>_<KEY> variables; remember which keys came from where."""
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    from_env: dict[tuple[str, str], str] = {}
    for var, value in env.items():
        if not var.startswith(ENV_PREFIX):
            continue
        rest = var[len(ENV_PREFIX) :].lower()
        for section in SECTIONS:
            if rest.startswith(section + "_"):
                key = rest[len(section) + 1 :]
                target = merged.setdefault(section, {})
                if isinstance(target, dict):
                    target[key] = value
                    from_env[(section, key)] = var
                break
    return merged, from_env


_BOUND_WORDS = {
    "less_than_equal": "at most",
    "less_than": "less than",
    "greater_than_equal": "at least",
    "greater_than": "more than",
}

_TYPE_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "dict": "a table",
    "model": "a table",
    "tuple": "a list",
    "list": "a list",
}


def _describe(
    err: Any, label: str, from_env: Mapping[tuple[str, str], str], model: type[BaseModel]
) -> str:
    loc = tuple(err["loc"])
    where = label
    if len(loc) == 2 and (loc[0], loc[1]) in from_env:
        where = f"environment {from_env[(loc[0], loc[1])]}"
    path = _key_path(loc)
    kind: str = err["type"]
    given = err.get("input")
    if kind == "extra_forbidden":
        message = "unknown key"
        known = _known_keys(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
    elif kind == "missing":
        message = "missing (required)"
    elif kind == "literal_error":
        message = f"expected {err['ctx']['expected']}, got {given!r}"
    elif kind == "string_pattern_mismatch":
        message = f"{given!r} is not valid (lowercase letters, digits and '-')"
    elif kind == "string_too_short":
        message = "must not be empty"
    elif kind in _BOUND_WORDS:
        message = f"expected {_BOUND_WORDS[kind]} {next(iter(err['ctx'].values()))}, got {given!r}"
    elif kind == "value_error":
        message = str(err["ctx"]["error"])
        head, sep, rest = message.partition(": ")
        if sep and loc and head.startswith(f"{loc[-1]}."):  # "weights.volume: ..." in weights
            path, message = path + head[len(str(loc[-1])) :], rest
        elif sep and head.isidentifier() and head.islower():
            if loc and head == loc[-1]:  # "query: query: ..." says the key once
                message = rest
            elif not loc or isinstance(loc[-1], int):  # a table's check names its own key
                path, message = (f"{path}.{head}" if path else head), rest
    elif kind.endswith(("_parsing", "_type", "_from_float")) and kind.split("_")[0] in _TYPE_WORDS:
        message = f"expected {_TYPE_WORDS[kind.split('_')[0]]}, got {given!r}"
    else:
        message = err["msg"][0].lower() + err["msg"][1:]
        if given is not None and not isinstance(given, dict | list):
            message += f", got {given!r}"
    return f"{where}: {path}: {message}" if path else f"{where}: {message}"


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or str(part).startswith("function-"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _known_keys(root: type[BaseModel], parent: tuple[Any, ...]) -> list[str]:
    model: Any = root
    for part in parent:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        model = next((a for a in (annotation, *args) if isinstance(a, type)), None)
        if model is None or not issubclass(model, BaseModel):
            return []
    return list(model.model_fields)
