"""The shape of ``config.toml``: one frozen pydantic model per section, with its defaults and
checks. :mod:`noisecast.engine.config` reads the file and the environment into :class:`Settings`
(import the models from there)."""

from __future__ import annotations

import difflib
import ipaddress
import itertools
import math
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from noisecast.engine.core.alerts import (
    AlertRuleError,
    parse_condition,
    parse_quiet_hours,
    rule_from_dict,
)
from noisecast.engine.core.score import ScoreParams
from noisecast.engine.schema import COMPONENTS
from noisecast.feeds import registry
from noisecast.feeds.http import unusable_url


def _check_url(value: str) -> str:
    if unusable_url(value):
        raise ValueError("not a valid URL")
    return value


def _check_url_template(value: str) -> str:
    _check_url(value.replace("{query}", "q"))
    return value


_SCORE_DEFAULTS = ScoreParams()
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
_TAG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_DESTINATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (an IANA name such as 'UTC' or 'Europe/London')"
        ) from None
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
        return _known_zone(value)


class MatchingSettings(_Section):
    rematch_days: int = Field(7, ge=0, le=365)


class ScoringSettings(_Section):
    """The noise level's settings (docs/scoring.md). Checked here, when config is read, so
    that a bad value stops ``init`` rather than crash ``score`` later."""

    # The defaults are the score's documented definition (engine/core/score.py ScoreParams).
    window_hours: int = Field(_SCORE_DEFAULTS.window_hours, ge=24)
    thresholds: tuple[float, float, float, float] = _SCORE_DEFAULTS.thresholds
    weights: dict[str, float] = Field(default_factory=lambda: dict(_SCORE_DEFAULTS.weights))
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
    # The prior fitted on public data (engine/data): forecasts from day one, blended with the
    # local model as history grows (weight n / (n + prior_blend_k) for n local stories).
    use_prior: bool = True
    prior_path: str = ""  # empty: the bundled file
    prior_blend_k: float = Field(300.0, gt=0)
    # stories of local history with a scored forecast needed before the prior counts as
    # checked on this newsroom (until then its forecasts say confidence is low)
    prior_check_series: int = Field(10, ge=1)


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


class EmergingSettings(_Section):
    """``[emerging]``: stories getting loud that nobody tracks yet (engine/jobs/emerging.py).

    Every collected mention joins an event cluster as it is stored; each hour, clusters that no
    tracked story owns are scored with the stories' noise level and the loudest proposed."""

    enabled: bool = True  # false: nothing is clustered or proposed
    window_hours: int = Field(48, ge=1, le=24 * 30)  # clusters (and their mentions) age out
    min_mentions: int = Field(5, ge=1)  # counted mentions (a syndicated group once)
    min_outlets: int = Field(2, ge=1)  # distinct outlets
    min_score: float = Field(25.0, ge=0, le=100)  # noise score at the newest hour
    max_proposals: int = Field(20, ge=1, le=1000)
    # a cluster whose counted mentions are at least this share matched to one tracked story
    # belongs to that story: not proposed, and read for the story's query suggestions
    tracked_share: float = Field(0.5, gt=0, le=1)


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
    # Labels alert rules select by ([[alerts.rules]] tag = "politics").
    tags: tuple[str, ...] = ()

    @field_validator("tags")
    @classmethod
    def _tag_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for tag in value:
            if not _TAG.match(tag):
                raise ValueError(
                    f"{tag!r} is not a tag (lowercase letters, digits and '-', e.g. 'politics')"
                )
        return tuple(dict.fromkeys(value))

    @field_validator("query")
    @classmethod
    def _parses(cls, value: str) -> str:
        from noisecast.engine.core.match import (
            check_query,  # late: the query language is its own module
        )

        check_query(value)
        return value


class AlertDestinationSettings(_Section):
    """One ``[alerts.destinations.NAME]``: where alerts go. The Apprise URL is a secret,
    found by ``secret`` (the destination's name when empty): env NOISECAST_ALERT_URL_<SECRET>,
    or the secrets file's [alert_urls] table."""

    secret: str = Field("", pattern=r"^([A-Za-z0-9][A-Za-z0-9_-]{0,63})?$")  # "": the name
    audience: Literal["desk", "admins"] = "desk"
    # Local times in `timezone`, e.g. "22:00-07:00": messages are held until it ends.
    quiet_hours: str = ""
    timezone: str = "UTC"

    @field_validator("quiet_hours")
    @classmethod
    def _period(cls, value: str) -> str:
        if value.strip():
            parse_quiet_hours(value)
        return value.strip()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _known_zone(value)


class AlertRuleSettings(_Section):
    """One ``[[alerts.rules]]``: which stories, which condition, which destinations."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    stories: Literal["all"] | tuple[str, ...] = "all"
    tag: str = ""
    when: str
    to: tuple[str, ...]
    repeat_hours: int = Field(24, ge=1, le=24 * 365)
    send_resolved: bool = True
    enabled: bool = True

    @field_validator("when")
    @classmethod
    def _parses(cls, value: str) -> str:
        return parse_condition(value).text

    @field_validator("stories", mode="before")
    @classmethod
    def _slugs(cls, value: Any) -> Any:
        if value == "all":
            return value
        if not isinstance(value, list | tuple) or not value:
            raise ValueError(f'expected "all" or a list of story slugs, got {value!r}')
        for slug in value:
            if not isinstance(slug, str) or not _SLUG.match(slug):
                raise ValueError(f"{slug!r} is not a story slug")
        return tuple(dict.fromkeys(value))

    @field_validator("to")
    @classmethod
    def _some(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("list at least one destination (a name in [alerts.destinations])")
        return tuple(dict.fromkeys(value))

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        if value and not _TAG.match(value):
            raise ValueError(f"{value!r} is not a tag (lowercase letters, digits and '-')")
        return value

    @model_validator(mode="after")
    def _stories_or_tag(self) -> AlertRuleSettings:
        if self.tag and self.stories != "all":
            raise ValueError(
                'tag: a rule names its stories or a tag, not both: use stories = "all" with a tag'
            )
        return self


class AlertSettings(_Section):
    """``[alerts]``: rules evaluated in the hourly cycle, and the delivery of their messages."""

    enabled: bool = True  # false: rules are not evaluated (nothing written)
    max_attempts: int = Field(8, ge=1, le=100)
    retry_base_seconds: float = Field(30.0, gt=0)
    retry_max_seconds: float = Field(3600.0, gt=0)
    deliver_every_seconds: float = Field(30.0, gt=0)
    timeout_seconds: float = Field(10.0, gt=0)
    claim_seconds: float = Field(300.0, gt=0)
    failing_after: int = Field(3, ge=1)
    destinations: dict[str, AlertDestinationSettings] = Field(default_factory=dict)
    rules: tuple[AlertRuleSettings, ...] = ()

    @field_validator("destinations")
    @classmethod
    def _destination_names(
        cls, value: dict[str, AlertDestinationSettings]
    ) -> dict[str, AlertDestinationSettings]:
        for name in value:
            if not _DESTINATION.match(name):
                raise ValueError(
                    f"destinations.{name}: not a destination name (letters, digits, '-' and "
                    "'_', at most 64)"
                )
        return value

    @model_validator(mode="after")
    def _rules_fit(self) -> AlertSettings:
        if self.retry_max_seconds < self.retry_base_seconds:
            raise ValueError(
                f"retry_max_seconds: {self.retry_max_seconds:g} is less than "
                f"retry_base_seconds ({self.retry_base_seconds:g})"
            )
        for name, dest in self.destinations.items():  # secret defaults to the name
            if not dest.secret:
                self.destinations[name] = dest.model_copy(update={"secret": name})
        audiences = self.destination_audiences()
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.name in seen:
                raise ValueError(f"rules[{i}].name: duplicate rule name {rule.name!r}")
            seen.add(rule.name)
            try:
                rule_from_dict(rule.model_dump(), destinations=audiences)
            except AlertRuleError as e:
                raise ValueError(f"rules[{i}].{e}") from None
        return self

    def destination_audiences(self) -> dict[str, str]:
        """Destination name -> audience, what ``rule_from_dict`` checks ``to`` against."""
        return {name: d.audience for name, d in self.destinations.items()}


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
    alerts: AlertSettings = AlertSettings()
    emerging: EmergingSettings = EmergingSettings()
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


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
