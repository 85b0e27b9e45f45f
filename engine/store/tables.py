"""The tables, as SQLAlchemy Core metadata. Migrations (``migrations/versions``) create them.

Every timestamp is stored as UTC. :class:`UTCDateTime` refuses naive datetimes on the way in
and hands back aware ones on the way out, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    type_coerce,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import false, true
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: noisecast stores UTC-aware times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite only autoincrements INTEGER keys


def _id() -> Column[int]:
    return Column("id", Id, primary_key=True, autoincrement=True)


def _fk(name: str, target: str, **kw: Any) -> Column[int]:
    return Column(name, Id, ForeignKey(target, ondelete="CASCADE"), **kw)


stories = Table(
    "stories",
    metadata,
    _id(),
    Column("slug", String(80), nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("query", Text, nullable=False),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # migration 0009: the story's tags from config ([[stories]] tags), which alert rules select on
    Column("tags", JSON, nullable=False, server_default="[]"),
)

sources = Table(
    "sources",
    metadata,
    _id(),
    Column("kind", String(32), nullable=False),
    Column("name", String(200), nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("settings", JSON, nullable=False, default=dict),
    Column("interval_minutes", Integer, nullable=False),
    Column("next_due_at", UTCDateTime, nullable=False),
    Column("failures", Float, nullable=False, server_default="0"),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("last_fetched_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("disabled_at", UTCDateTime),
    Column("disabled_reason", Text),
    Column("lease_owner", String(200)),
    Column("lease_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "next_due_at"),
)

# Per task of a source (key "" is the source's own URL; see noisecast.feeds.base.Task for the
# others): the HTTP validators saved when the content last changed, and the collector's own state.
source_cursors = Table(
    "source_cursors",
    metadata,
    _fk("source_id", "sources.id", primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("body_hash", String(64)),
    Column("state", JSON),
    Column("updated_at", UTCDateTime, nullable=False),
)

fetches = Table(
    "fetches",
    metadata,
    _id(),
    _fk("source_id", "sources.id", nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("started_at", UTCDateTime, nullable=False, index=True),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("http_status", Integer),
    Column("outcome", String(24), nullable=False),
    Column("bytes", BigInteger),  # migration 0007: a hostile Content-Length fits
    Column("items_seen", Integer, nullable=False, server_default="0"),
    Column("items_new", Integer, nullable=False, server_default="0"),
    Column("parser", String(32)),
    Column("error", Text),
)

mentions = Table(
    "mentions",
    metadata,
    _id(),
    _fk("source_id", "sources.id", nullable=False),
    Column("external_id", Text, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("url", Text),
    Column("canonical_url", Text),
    Column("link_url", Text),  # social posts: the page they link to (url is the permalink)
    Column("group_id", Id, index=True),  # syndicated copies share the id of the first one
    Column("title_key", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False, server_default=""),
    Column("author", Text),
    Column("outlet", Text),
    Column("published_at", UTCDateTime),
    Column("fetched_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("score", BigInteger),  # migration 0007: widened, and clamped on the way in
    Column("comments", BigInteger),
    # migration 0007: the date the feed stated, when it was clamped into published_at
    Column("stated_published_at", UTCDateTime),
    UniqueConstraint("source_id", "external_id"),
    Index(None, "canonical_url"),
    Index(None, "title_key"),
    Index(None, "published_at"),
)

# Syndication: per canonical URL ("u:" + sha1) its first mention, per headline ("t:" +
# title_key) its current group head; see engine/core/syndication.py.
syndication_heads = Table(
    "syndication_heads",
    metadata,
    Column("key", String(48), primary_key=True),
    Column("mention_id", Id, nullable=False),
    Column("group_id", Id, nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

# Engagement as it grows: a row each time a collection sees a mention's counts change.
mention_engagement = Table(
    "mention_engagement",
    metadata,
    _fk("mention_id", "mentions.id", primary_key=True),
    Column("observed_at", UTCDateTime, primary_key=True),
    Column("score", BigInteger),
    Column("comments", BigInteger),
)

story_mentions = Table(
    "story_mentions",
    metadata,
    _fk("story_id", "stories.id", primary_key=True),
    _fk("mention_id", "mentions.id", primary_key=True, index=True),
    Column("matched_terms", JSON, nullable=False, default=list),
    Column("matched_at", UTCDateTime, nullable=False),
)

# The change log of the incremental hourly aggregation: one row whenever a (story, mention)
# row that story_hourly counts was added, removed or altered, with the mention's time (its old
# and its new time when that moved). The hourly update recomputes the hours these rows touch
# and deletes them in the same transaction (noisecast.engine.jobs.noise).
noise_changes = Table(
    "noise_changes",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),
    _fk("story_id", "stories.id", nullable=False),
    _fk("mention_id", "mentions.id", nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

story_hourly = Table(
    "story_hourly",
    metadata,
    _fk("story_id", "stories.id", primary_key=True),
    Column("hour", UTCDateTime, primary_key=True),
    Column("mentions", Integer, nullable=False),
    Column("outlets", Integer, nullable=False),
    Column("engagement", Float, nullable=False, server_default="0"),
    *(
        Column(f"mentions_{kind}", Integer, nullable=False, server_default="0")
        for kind in ("rss", "atom", "reddit", "hackernews", "mastodon")
    ),
)

# Collection health per hour: sources due, fetched, failed; mentions collected; the flag.
collection_health = Table(
    "collection_health",
    metadata,
    Column("hour", UTCDateTime, primary_key=True),
    Column("due", Integer, nullable=False),
    Column("fetched", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("collected", Integer, nullable=False),
    Column("unhealthy", Boolean, nullable=False),
)

noise_scores = Table(
    "noise_scores",
    metadata,
    _fk("story_id", "stories.id", primary_key=True),
    Column("as_of", UTCDateTime, primary_key=True),
    Column("score", Float, nullable=False),
    Column("level", String(16), nullable=False),
    Column("components", JSON, nullable=False),
    Column("unhealthy", Boolean, nullable=False, server_default=false()),
    Column("mention_ids", JSON),  # the mentions that drove the score (its last hours)
    # migration 0006: the hourly cycle's data health (noisecast.engine.jobs.cycle): too many sources
    # failing in the hours before makes the score low-confidence, and the note says why
    Column("low_confidence", Boolean, nullable=False, server_default=false()),
    Column("confidence_note", Text),
)

forecasts = Table(
    "forecasts",
    metadata,
    _id(),
    _fk("story_id", "stories.id", nullable=False),
    Column("as_of", UTCDateTime, nullable=False),
    Column("horizon_hours", Integer, nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("p10", Float, nullable=False),
    Column("p50", Float, nullable=False),
    Column("p90", Float, nullable=False),
    Column("prob_rising", Float),
    Column("trajectory", JSON),
    Column("suggested_text", Text, nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("final_text", Text),
    Column("reviewer", String(80)),
    Column("reviewed_at", UTCDateTime),
    # migration 0005: which model, the rate "rising" is measured against, the hedge word, and
    # whether (and why) the forecast's confidence is low
    Column("model", String(32), nullable=False, server_default=""),
    Column("current_rate", Float),
    Column("hedge_word", String(16)),
    Column("low_confidence", Boolean, nullable=False, server_default=false()),
    Column("confidence_note", Text),
    Column("created_at", UTCDateTime),
    UniqueConstraint("story_id", "as_of", "horizon_hours"),
    Index("ix_forecasts_status", "status"),
)

editors = Table(
    "editors",
    metadata,
    _id(),
    Column("username", String(80), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(16), nullable=False, server_default="editor"),
    Column("created_at", UTCDateTime, nullable=False),
)

review_events = Table(
    "review_events",
    metadata,
    _id(),
    _fk("forecast_id", "forecasts.id", nullable=False, index=True),
    Column("editor", String(80), nullable=False),
    Column("action", String(16), nullable=False),
    Column("before", Text),
    Column("after", Text),
    Column("at", UTCDateTime, nullable=False),
)

model_runs = Table(
    "model_runs",
    metadata,
    _id(),
    Column("version", String(64), nullable=False, unique=True),
    Column("trained_at", UTCDateTime, nullable=False),
    Column("train_start", UTCDateTime),
    Column("train_end", UTCDateTime),
    Column("samples", Integer, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("path", Text),
    Column("model", String(32), nullable=False, server_default=""),  # migration 0005
    Column("checksum", String(64)),  # migration 0007: sha256 of the file, checked before loading
)

# migration 0007: a logged-in editor's session, so that logging out revokes it server-side
editor_sessions = Table(
    "editor_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    _fk("editor_id", "editors.id", nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

# migration 0008: the story Timeline. An entry is proposed by a rule of engine/core/timeline.py
# (key = the rule, e.g. "first_seen", "level:High") or added by an editor ("editor:<hex>"). The
# proposal (at/title/text/link/evidence) follows the signals; what is public is the published_*
# copy an editor approved. needs_review: the proposal changed after an editor acted on it.
# version: bumped on every change, so an editor acting on a stale view gets a conflict.
timeline_entries = Table(
    "timeline_entries",
    metadata,
    _id(),
    _fk("story_id", "stories.id", nullable=False),
    Column("key", String(80), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("link", Text),
    Column("evidence", JSON, nullable=False),
    Column("evidence_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False, server_default="proposed"),
    Column("needs_review", Boolean, nullable=False, server_default=false()),
    Column("published_at", UTCDateTime),
    Column("published_title", Text),
    Column("published_text", Text),
    Column("published_link", Text),
    Column("reviewer", String(80)),
    Column("reviewed_at", UTCDateTime),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("story_id", "key"),
    Index(None, "status"),
)

# Append-only: who (an editor, or "noisecast" for the hourly job) did what to which entry.
timeline_events = Table(
    "timeline_events",
    metadata,
    _id(),
    _fk("entry_id", "timeline_entries.id", nullable=False, index=True),
    Column("actor", String(80), nullable=False),
    Column("action", String(16), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Column("note", Text),
    Column("at", UTCDateTime, nullable=False),
)

# migration 0009: alerts (issue 13; engine/store/_alerts.py, engine/jobs/alerts.py). Rules come
# from config (origin "config", synced by `noisecast init`) or from admins (origin "app", never
# overwritten by config); ``definition`` is engine.core.alerts.rule_to_dict; ``version`` is bumped
# on every change, so an admin acting on a stale view gets a conflict.
alert_rules = Table(
    "alert_rules",
    metadata,
    _id(),
    Column("name", String(64), nullable=False, unique=True),
    Column("definition", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("origin", String(8), nullable=False, server_default="config"),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("updated_by", String(80), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Per (rule, story): whether it fires, since when, when it last notified, the newest hour
# evaluated (an hour evaluated again writes nothing), and a reference (the last approved
# forecast alerted).
alert_state = Table(
    "alert_state",
    metadata,
    Column("rule", String(64), primary_key=True),
    _fk("story_id", "stories.id", primary_key=True),
    Column("firing", Boolean, nullable=False, server_default=false()),
    Column("since", UTCDateTime),
    Column("notified_at", UTCDateTime),
    Column("evaluated_hour", UTCDateTime),
    Column("ref", String(64), nullable=False, server_default=""),
)

# The outbox: an event per (rule, story, hour, kind) (``key`` is its idempotency key), written
# with its deliveries and the rule's new state in one transaction. ``silenced_by``: the silence
# that muted it (recorded, not sent).
alert_events = Table(
    "alert_events",
    metadata,
    _id(),
    Column("key", String(200), nullable=False, unique=True),
    Column("rule", String(64), nullable=False),
    _fk("story_id", "stories.id", nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("hour", UTCDateTime, nullable=False),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("link", Text, nullable=False),
    Column("facts", JSON, nullable=False),
    Column("silenced_by", Id),
    Column("created_at", UTCDateTime, nullable=False),
)

# One row per (event, destination): pending -> sending (claimed by one sender, ``claim_token``)
# -> sent, or back to pending with ``next_attempt_at`` (backoff), or failed after max_attempts;
# muted when a silence held the event. ``message_key``: the grouped message's idempotency key.
alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    _id(),
    _fk("event_id", "alert_events.id", nullable=False),
    Column("destination", String(64), nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_at", UTCDateTime),
    Column("claim_token", String(64)),
    Column("sent_at", UTCDateTime),
    Column("message_key", String(64)),
    Column("last_error", Text),
    UniqueConstraint("event_id", "destination"),
    Index(None, "destination", "status", "next_attempt_at"),
)

# Every send attempt, one per grouped message: which deliveries it carried, ok or the error.
alert_attempts = Table(
    "alert_attempts",
    metadata,
    _id(),
    Column("destination", String(64), nullable=False),
    Column("message_key", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("error", Text),
    Column("delivery_ids", JSON, nullable=False),
    Index(None, "destination", "at"),
)

# A silence mutes a rule, a story or (both None) everything between starts_at and ends_at, or
# until an editor ends it (ended_at).
alert_silences = Table(
    "alert_silences",
    metadata,
    _id(),
    Column("rule", String(64)),
    _fk("story_id", "stories.id"),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(80), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("ended_by", String(80)),
)

# Append-only: who changed which rule or silence, before and after.
alert_audit = Table(
    "alert_audit",
    metadata,
    _id(),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("editor", String(80), nullable=False),
    Column("action", String(16), nullable=False),
    Column("target", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
)

# migration 0010: emerging stories (issue 14; engine/store/_emerging.py, engine/jobs/emerging.py).
# The online clusterer's state (engine.core.cluster.OnlineClusterer.state(), JSON, zlib) is one
# row: ``cursor`` is the highest mentions.id it has seen, ``version`` is bumped on every save so
# two workers never both advance it (the loser reloads and redoes its batch).
cluster_state = Table(
    "cluster_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("version", Integer, nullable=False),
    Column("cursor", BigInteger, nullable=False),
    Column("state", LargeBinary, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# A cluster no tracked story owns, proposed as a new story (one row per cluster id, upserted
# each hour). status: proposed -> tracked | merged | dismissed (editors; never proposed again)
# or expired (no longer among the hour's proposals). ``version`` is bumped on every change so an
# editor acting on a stale view gets a conflict. JSON: terms, quality (precision, recall,
# recent_matches, cluster_matches), headlines ({mention_id, title, url, outlet, published_at}),
# components, history ([ISO hour, score] pairs).
emerging_proposals = Table(
    "emerging_proposals",
    metadata,
    _id(),
    Column("cluster", BigInteger, nullable=False, unique=True),
    Column("status", String(16), nullable=False, server_default="proposed"),
    Column("as_of", UTCDateTime, nullable=False),
    Column("title", Text, nullable=False),
    Column("query", Text, nullable=False),
    Column("terms", JSON, nullable=False),
    Column("quality", JSON, nullable=False),
    Column("headlines", JSON, nullable=False),
    Column("size", Integer, nullable=False),
    Column("outlets", Integer, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("score", Float, nullable=False),
    Column("level", String(16), nullable=False),
    Column("components", JSON, nullable=False),
    Column("history", JSON, nullable=False),
    Column("story_id", Id, ForeignKey("stories.id", ondelete="SET NULL")),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "status", "score"),
)

# Append-only: who tracked, merged or dismissed which proposal, before and after.
emerging_events = Table(
    "emerging_events",
    metadata,
    _id(),
    _fk("proposal_id", "emerging_proposals.id", nullable=False, index=True),
    Column("actor", String(80), nullable=False),
    Column("action", String(16), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Column("note", Text),
    Column("at", UTCDateTime, nullable=False),
)

# Terms that would widen a tracked story's query to its cluster's unmatched mentions (issue 14
# section 3), one row per (story, term). status: proposed -> added (ORed into the query) or
# dismissed; a term once added or dismissed is not proposed again.
query_suggestions = Table(
    "query_suggestions",
    metadata,
    _id(),
    _fk("story_id", "stories.id", nullable=False),
    Column("cluster", BigInteger, nullable=False),
    Column("term", String(200), nullable=False),
    Column("adds", Integer, nullable=False),
    Column("adds_elsewhere", Integer, nullable=False),
    Column("samples", JSON, nullable=False),
    Column("as_of", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False, server_default="proposed"),
    Column("updated_by", String(80)),  # who added or dismissed it
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("story_id", "term"),
)

job_runs = Table(
    "job_runs",
    metadata,
    _id(),
    Column("job", String(64), nullable=False),
    Column("started_at", UTCDateTime, nullable=False, index=True),
    Column("finished_at", UTCDateTime),
    Column("status", String(16), nullable=False),
    Column("detail", JSON),
    # migration 0006: the hour a cycle run scored (one "ok" row per hour), and which process
    # (noisecast.engine.jobs.process.owner_id: host:pid:random) ran the job
    Column("hour", UTCDateTime),
    Column("worker", String(200)),
    Index(None, "job", "hour"),
)


def mention_time() -> Any:
    """A mention's time: when it was published, else when we first saw it (aware UTC)."""
    return type_coerce(func.coalesce(mentions.c.published_at, mentions.c.fetched_at), UTCDateTime)
