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
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
)

from noisecast.engine.errors import ConfigError
from noisecast.engine.settings import (
    AlertDestinationSettings,
    AlertRuleSettings,
    AlertSettings,
    CollectorSettings,
    DatabaseSettings,
    EmergingSettings,
    ForecastSettings,
    MatchingSettings,
    OutletSettings,
    PublicSettings,
    ReviewSettings,
    ScheduleSettings,
    ScoringSettings,
    Settings,
    SourceSettings,
    StorySettings,
    TimelineSettings,
)
from noisecast.feeds import registry

__all__ = [
    "AlertDestinationSettings",
    "AlertRuleSettings",
    "AlertSettings",
    "CollectorSettings",
    "DatabaseSettings",
    "EmergingSettings",
    "ForecastSettings",
    "MatchingSettings",
    "OutletSettings",
    "PublicSettings",
    "ReviewSettings",
    "ScheduleSettings",
    "ScoringSettings",
    "Secrets",
    "Settings",
    "SourceSettings",
    "StorySettings",
    "TimelineSettings",
    "config_path",
    "load_settings",
]

ENV_PREFIX = "NOISECAST_"
DEFAULT_CONFIG = Path("config.toml")


class Secrets(BaseModel):
    """Credentials, read only from the environment or a secrets file outside the repository.

    ``alert_urls`` maps an alert destination's secret name to its Apprise URL: env
    ``NOISECAST_ALERT_URL_<NAME>`` (upper case, ``-`` as ``_``) or the secrets file's
    ``[alert_urls]`` table (the environment wins). URLs carry tokens: they are left out of
    ``repr`` and never put in a message (:meth:`alert_url_env` names where to set one)."""

    model_config = ConfigDict(frozen=True)

    reddit_client_id: str | None = None
    reddit_client_secret: str | None = None
    reddit_user_agent: str | None = None
    secret_key: str | None = None
    alert_urls: dict[str, str] = Field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Secrets:
        env = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        secrets_file = env.get(f"{ENV_PREFIX}SECRETS_FILE")
        if secrets_file:
            values.update(_read_secrets_file(Path(secrets_file)))
        for name in cls.model_fields:
            if name != "alert_urls" and f"{ENV_PREFIX}{name.upper()}" in env:
                values[name] = env[f"{ENV_PREFIX}{name.upper()}"]
        urls = dict(values.get("alert_urls", {}))
        for var, url in env.items():
            if var.startswith(ALERT_URL_PREFIX) and len(var) > len(ALERT_URL_PREFIX) and url:
                name = var[len(ALERT_URL_PREFIX) :].lower()
                for key in [k for k in urls if _alert_key(k) == _alert_key(name)]:
                    del urls[key]  # the environment overrides the file
                urls[name] = url
        values["alert_urls"] = urls
        return cls(**values)

    def alert_url(self, name: str) -> str | None:
        """The Apprise URL stored for the destination secret ``name`` (any case, - or _)."""
        key = _alert_key(name)
        return next((url for k, url in self.alert_urls.items() if _alert_key(k) == key), None)

    @staticmethod
    def alert_url_env(name: str) -> str:
        """The environment variable that holds the URL of secret ``name``."""
        return f"{ALERT_URL_PREFIX}{_alert_key(name)}"


ALERT_URL_PREFIX = f"{ENV_PREFIX}ALERT_URL_"


def _alert_key(name: str) -> str:
    return name.strip().upper().replace("-", "_")


def _read_secrets_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read secrets file: {e}") from e
    unknown = sorted(set(data) - set(Secrets.model_fields))
    if unknown:
        raise ConfigError(f"{path}: {unknown[0]}: unknown secret")
    values: dict[str, Any] = {k: str(v) for k, v in data.items() if k != "alert_urls"}
    urls = data.get("alert_urls", {})
    if not isinstance(urls, dict):
        raise ConfigError(
            f'{path}: alert_urls: expected a table, one line per destination (desk = "slack://...")'
        )
    for name, url in urls.items():
        if not isinstance(url, str) or not url.strip():
            raise ConfigError(  # the value may be a token: never repeat it
                f"{path}: alert_urls.{name}: expected the destination's Apprise URL in quotes"
            )
    values["alert_urls"] = {str(k): v.strip() for k, v in urls.items()}
    return values


SECTIONS = (
    "database",
    "collector",
    "schedule",
    "matching",
    "scoring",
    "forecast",
    "review",
    "timeline",
    "public",
    "alerts",
)


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
        elif sep and _names_own_key(head, model, loc):  # "rules[0].to: ..." in alerts
            path, message = (f"{path}.{head}" if path else head), rest
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


_KEY_PATH = re.compile(r"([a-z_][a-z0-9_]*)(?:\[\d+\]|\.[A-Za-z0-9_-]+)*")


def _names_own_key(head: str, model: type[BaseModel], loc: tuple[Any, ...]) -> bool:
    """Whether a table's check named one of the table's own keys ("rules[0].to", "retry_...")
    at the head of its message, so that the key path can take it."""
    if not loc or isinstance(loc[-1], int):
        return False
    m = _KEY_PATH.fullmatch(head)
    return m is not None and head != loc[-1] and m.group(1) in _known_keys(model, loc)


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
