"""The emerging-story jobs against a real store, on SQLite and PostgreSQL: clustering the stored
stream once per mention (reruns, a crash before the save, a second worker saving first, ageing),
the hourly proposals and query suggestions, and the editors' actions: tracking a proposal gives
the new story a score history back to its first mention at once, and leaves every other story's
scores alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from noisecast.engine.config import EmergingSettings, MatchingSettings, Settings
from noisecast.engine.core.match import parse_query
from noisecast.engine.core.review import ReviewConflict
from noisecast.engine.errors import AlreadyExistsError, QueryError
from noisecast.engine.jobs import emerging as jobs
from noisecast.engine.jobs._cluster_run import (
    _Loaded,
    decode_state,
    encode_state,
    loaded_clusterer,
)
from noisecast.engine.jobs.catalog import add_story
from noisecast.engine.jobs.noise import update_noise
from noisecast.engine.schema import floor_hour
from noisecast.engine.store import Store
from noisecast.engine.store.tables import noise_scores, stories
from noisecast.feeds.mention import Mention
from tests.conftest import ROOT, T0, fast_collector
from tests.test_store import record

H = timedelta(hours=1)
OUTLETS = ("ledger.example", "courier.example", "herald.example", "gazette.example")

DAM = [  # one event, written the way wire copy repeats its key words
    "Riverton dam fails: floods hit valley towns",
    "Riverton dam failure: thousands flee floods",
    "Riverton dam collapse floods three valley towns",
    "Riverton dam bursts, floods sweep the valley",
    "Riverton dam failure: rescuers search flooded towns",
    "Floods after Riverton dam failure: death toll rises",
    "Riverton dam failure: engineers warned of cracks",
    "Riverton dam collapse: valley towns under water",
    "Riverton dam failure prompts national dam inspections",
    "Riverton dam floods: survivors describe wall of water",
]
STRIKE = [
    "Dockworkers strike shuts the port for a second day",
    "Port dockworkers strike over pay and automation",
    "Dockworkers strike: ships queue outside the port",
    "Union says dockworkers strike will go on all week",
    "Dockworkers strike hits exports as port stays shut",
    "Talks fail to end the dockworkers strike at the port",
]
FILLER = [
    "Local bakery wins regional bread award",
    "City council approves new cycle lanes downtown",
    "Museum opens exhibition of medieval maps",
    "Orchestra announces its winter season programme",
    "School board debates later start times",
    "New library branch opens in the east end",
    "Marathon route changes announced for spring race",
    "Zoo welcomes twin red panda cubs",
]


def settings_for(url: str, **emerging: Any) -> Settings:
    values: dict[str, Any] = {"min_mentions": 4, "min_outlets": 2, "min_score": 0.0}
    values.update(emerging)
    return Settings(
        database={"url": url},  # type: ignore[arg-type]
        collector=fast_collector(),
        matching=MatchingSettings(rematch_days=7),
        emerging=EmergingSettings(**values),
    )


@pytest.fixture
def settings(db_url: str) -> Settings:
    return settings_for(db_url)


def sources(store: Store) -> list[int]:
    return [
        store.upsert_source(
            kind="rss", name=o, url=f"https://{o}/rss", interval_minutes=60, now=T0 - 24 * H
        )[0]
        for o in OUTLETS
    ]


def item(key: str, title: str, outlet: str, at: datetime) -> Mention:
    return Mention(
        external_id=key,
        title=title,
        url=f"https://{outlet}/{key}",
        canonical_url=f"https://{outlet}/{key}",
        outlet=outlet,
        published_at=at,
    )


def stream(
    store: Store, ids: Sequence[int], titles: Sequence[str], tag: str, start: datetime
) -> None:
    """One mention per title, round-robin over the outlets, one every 40 minutes from start."""
    for i, title in enumerate(titles):
        k = i % len(ids)
        at = start + timedelta(minutes=40 * i)
        record(
            store,
            ids[k],
            [item(f"{tag}-{i}", title, OUTLETS[k], at)],
            now=at + timedelta(minutes=1),
        )


def seeded(store: Store, settings: Settings) -> None:
    """A tracked port strike, an untracked dam failure and filler, scored hour by hour."""
    ids = sources(store)
    stream(store, ids, STRIKE, "strike", T0 - 10 * H)
    stream(store, ids, FILLER, "filler", T0 - 9 * H)
    stream(store, ids, DAM, "dam", T0 - 7 * H)
    add_story(store, settings, "port-strike", "Port strike", "dockworkers", now=T0 - 11 * H)
    update_noise(store, settings, start=T0 - 12 * H, end=T0)


def clustered_ids(store: Store, settings: Settings) -> list[int]:
    clusterer = loaded_clusterer(store, settings)
    return sorted(m for s in clusterer.clusters() for m in s.mention_ids)


def all_ids(store: Store) -> list[int]:
    return [r["id"] for r in store.mentions_after(0, 10**6)]


# --- clustering the stream ----------------------------------------------------------------------


def test_every_mention_is_clustered_once_and_a_rerun_adds_nothing(
    store: Store, settings: Settings
) -> None:
    ids = sources(store)
    stream(store, ids, DAM + FILLER, "a", T0 - 6 * H)
    first = jobs.cluster_new_mentions(store, settings, now=T0)
    assert first.added == len(DAM) + len(FILLER) and first.retries == 0
    assert jobs.cluster_new_mentions(store, settings, now=T0).added == 0
    assert clustered_ids(store, settings) == all_ids(store)
    version = store.cluster_state_version()
    stream(store, ids, STRIKE, "b", T0 - 2 * H)
    assert jobs.cluster_new_mentions(store, settings, now=T0).added == len(STRIKE)
    assert clustered_ids(store, settings) == all_ids(store)
    assert store.cluster_state_version() == version + 1
    # a fresh process (no cached clusterer) reads the saved state: the same clusters
    jobs.forget_cached(store)
    assert clustered_ids(store, settings) == all_ids(store)


def test_syndicated_copies_join_their_first_mention_and_count_once(
    store: Store, settings: Settings
) -> None:
    ids = sources(store)
    at = T0 - 2 * H
    same = "Riverton dam fails after record rain, towns evacuated"
    record(store, ids[0], [item("x1", same, OUTLETS[0], at)], now=at)
    record(store, ids[1], [item("x2", same, OUTLETS[1], at + H)], now=at + H)
    jobs.cluster_new_mentions(store, settings, now=T0)
    (summary,) = loaded_clusterer(store, settings).clusters()
    assert summary.size == 1 and len(summary.mention_ids) == 2


def test_a_crash_before_the_save_loses_nothing_and_clusters_nothing_twice(
    store: Store, settings: Settings
) -> None:
    ids = sources(store)
    stream(store, ids, DAM, "a", T0 - 6 * H)
    jobs.cluster_new_mentions(store, settings, now=T0)
    stream(store, ids, FILLER, "b", T0 - 5 * H)
    # a run that dies after adding to its clusterer, before saving: the next run starts again
    # from the saved state (a new process), and each new mention joins once
    clusterer = loaded_clusterer(store, settings)
    for r in store.mentions_after(store.load_cluster_state()[1], 100):
        clusterer.add(r["id"], r["title"], r["url"], at=r["published_at"])
    jobs.forget_cached(store)  # the process is gone
    report = jobs.cluster_new_mentions(store, settings, now=T0)
    assert report.added == len(FILLER)
    assert clustered_ids(store, settings) == all_ids(store)


class RacedStore(Store):
    """A store whose next read of new mentions first lets a second worker (a real process,
    on the same database) run the clustering job and save."""

    race: str | None = None

    def mentions_after(self, cursor: int, limit: int, **kw: Any) -> list[dict[str, Any]]:
        if self.race is not None:
            code, self.race = self.race, None
            subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
        return super().mentions_after(cursor, limit, **kw)


def test_a_second_worker_saving_first_makes_the_first_redo_its_batch(
    db_url: str, settings: Settings
) -> None:
    store = RacedStore.from_url(db_url)
    store.migrate()
    ids = sources(store)
    stream(store, ids, DAM, "a", T0 - 6 * H)
    jobs.cluster_new_mentions(store, settings, now=T0)
    stream(store, ids, FILLER + STRIKE, "b", T0 - 5 * H)
    store.race = textwrap.dedent(
        f"""
        from datetime import datetime
        from noisecast.engine.jobs.emerging import cluster_new_mentions
        from noisecast.engine.store import Store
        from tests.test_emerging_jobs import settings_for
        store = Store.from_url({db_url!r})
        now = datetime.fromisoformat({T0.isoformat()!r})
        report = cluster_new_mentions(store, settings_for({db_url!r}), now=now)
        assert report.added == {len(FILLER) + len(STRIKE)}, report
        """
    )
    report = jobs.cluster_new_mentions(store, settings, now=T0)
    assert report.retries == 1 and report.added == 0  # the other worker added them
    _, cursor, blob = store.load_cluster_state()
    assert blob is not None and cursor == max(all_ids(store))
    clusterer, _, _ = decode_state(blob)
    assert sorted(m for s in clusterer.clusters() for m in s.mention_ids) == all_ids(store)
    assert clustered_ids(store, settings) == all_ids(store)
    store.close()


def test_skipped_ids_are_picked_up_when_they_turn_up(store: Store, settings: Settings) -> None:
    ids = sources(store)
    stream(store, ids, DAM[:3], "a", T0 - 6 * H)
    jobs.cluster_new_mentions(store, settings, now=T0)
    version, cursor, blob = store.load_cluster_state()
    assert blob is not None
    clusterer, _, _ = decode_state(blob)
    stream(store, ids, DAM[3:6], "b", T0 - 5 * H)
    new = [i for i in all_ids(store) if i > cursor]
    # as if the first two were still being written by another collector when a run saw the
    # third: it saved the cursor past them and remembered the gap (and one that never fills)
    row = store.mentions_after(new[-1] - 1, 1)[0]
    clusterer.add(row["id"], row["title"], row["url"], at=row["published_at"])
    gaps = [(0, 0, T0.isoformat()), (cursor + 1, new[-1] - 1, T0.isoformat())]
    saved = encode_state(_Loaded(version, new[-1], clusterer, gaps))
    assert store.save_cluster_state(version, new[-1], saved, now=T0)
    jobs.forget_cached(store)
    report = jobs.cluster_new_mentions(store, settings, now=T0 + timedelta(minutes=1))
    assert report.added == 2 and report.cursor == new[-1]
    assert clustered_ids(store, settings) == all_ids(store)
    _, _, blob = store.load_cluster_state()
    assert blob is not None and decode_state(blob)[1] == [(0, 0, T0.isoformat())]
    # a gap nothing fills is forgotten after HOLE_SECONDS
    jobs.cluster_new_mentions(store, settings, now=T0 + timedelta(minutes=20))
    _, _, blob = store.load_cluster_state()
    assert blob is not None and decode_state(blob)[1] == []


def test_clusters_age_out_after_the_window(store: Store, settings: Settings) -> None:
    ids = sources(store)
    stream(store, ids, FILLER[:2], "old", T0 - 60 * H)  # older than the window: never added
    stream(store, ids, DAM[:3], "a", T0 - 40 * H)
    report = jobs.cluster_new_mentions(store, settings, now=T0)
    assert report.added == 3
    assert report.cursor == max(all_ids(store))
    later = jobs.cluster_new_mentions(store, settings, now=T0 + 12 * H)
    assert later.expired >= 1 and later.clusters == 0
    assert clustered_ids(store, settings) == []


# --- proposals and suggestions ----------------------------------------------------------------


def test_an_untracked_event_is_proposed_with_a_query_that_matches_it(
    store: Store, settings: Settings
) -> None:
    seeded(store, settings)
    jobs.cluster_new_mentions(store, settings, now=T0, flush=True)
    report = jobs.update_emerging(store, settings, T0 - H, now=T0)
    assert report.proposals >= 1
    top = store.list_proposals()[0]
    assert "Riverton" in top["title"] and top["size"] == len(DAM)
    assert top["outlets"] == len(OUTLETS) and top["score"] > 0
    compiled = parse_query(top["query"])
    assert all(compiled.matches(t, "") for t in DAM), top["query"]
    assert not any(compiled.matches(t, "") for t in STRIKE + FILLER)
    assert top["quality"]["recall"] == 1.0 and top["quality"]["recent_matches"] >= 0
    assert top["history"][-1][0] == (T0 - H).isoformat()
    # the tracked story's own cluster is not proposed
    assert not any("ockworkers" in p["title"] for p in store.list_proposals())
    # the same hour again: the same rows, the same versions
    versions = {p["id"]: p["version"] for p in store.list_proposals(None)}
    jobs.update_emerging(store, settings, T0 - H, now=T0)
    assert {p["id"]: p["version"] for p in store.list_proposals(None)} == versions


def score_rows(store: Store, slug: str) -> list[tuple[datetime, float]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(noise_scores.c.as_of, noise_scores.c.score)
            .join(stories, stories.c.id == noise_scores.c.story_id)
            .where(stories.c.slug == slug)
            .order_by(noise_scores.c.as_of)
        ).all()
    return [(a, float(s)) for a, s in rows]


def proposed(store: Store, settings: Settings) -> dict[str, Any]:
    seeded(store, settings)
    jobs.cluster_new_mentions(store, settings, now=T0, flush=True)
    jobs.update_emerging(store, settings, T0 - H, now=T0)
    return store.list_proposals()[0]


def test_tracking_a_proposal_gives_the_story_a_score_history_back_to_its_first_mention(
    store: Store, settings: Settings
) -> None:
    top = proposed(store, settings)
    strike_before = score_rows(store, "port-strike")
    slug = jobs.track_proposal(
        store,
        settings,
        top["id"],
        slug="riverton-dam",
        title="Riverton dam failure",
        query=top["query"],
        actor="ed",
        expected_version=top["version"],
        now=T0 + timedelta(minutes=5),
    )
    assert slug == "riverton-dam"
    history = score_rows(store, slug)
    first_hour = floor_hour(T0 - 7 * H)
    assert [at for at, _ in history] == [first_hour + i * H for i in range(7)]
    assert history[-1][1] > 0
    assert score_rows(store, "port-strike") == strike_before  # the others' scores untouched
    after = store.proposal(top["id"])
    assert after is not None
    assert (after["status"], after["story_slug"]) == ("tracked", "riverton-dam")
    (event,) = store.proposal_events(top["id"])
    assert (event["actor"], event["action"]) == ("ed", "track")
    # tracked: never proposed again, and the story's matches came from the rematch
    jobs.update_emerging(store, settings, T0, now=T0 + H)
    assert all(p["cluster"] != top["cluster"] for p in store.list_proposals())
    assert store.mention_counts()["riverton-dam"] == len(DAM)


def test_track_refuses_a_stale_version_a_bad_query_and_a_taken_slug(
    store: Store, settings: Settings
) -> None:
    top = proposed(store, settings)
    kw: dict[str, Any] = {"title": "Dam", "actor": "ed", "now": T0}
    with pytest.raises(ReviewConflict, match="changed since you looked"):
        jobs.track_proposal(
            store, settings, top["id"], slug="d", query="dam", expected_version=99, **kw
        )
    with pytest.raises(QueryError):
        jobs.track_proposal(
            store,
            settings,
            top["id"],
            slug="d",
            query="(dam",
            expected_version=top["version"],
            **kw,
        )
    with pytest.raises(AlreadyExistsError):
        jobs.track_proposal(
            store,
            settings,
            top["id"],
            slug="port-strike",
            query="dam",
            expected_version=top["version"],
            **kw,
        )
    with pytest.raises(jobs.NotFound):
        jobs.track_proposal(store, settings, 10**6, slug="d", query="dam", expected_version=1, **kw)
    assert store.proposal_events(top["id"]) == []
    assert {s["slug"] for s in store.list_stories()} == {"port-strike"}
    jobs.dismiss_proposal(
        store, top["id"], actor="ed", expected_version=top["version"], note="local", now=T0
    )
    with pytest.raises(ReviewConflict, match="dismissed"):
        jobs.dismiss_proposal(store, top["id"], actor="ed", expected_version=top["version"], now=T0)
    (event,) = store.proposal_events(top["id"])
    assert (event["action"], event["note"]) == ("dismiss", "local")


def test_merging_ors_the_terms_into_the_story_and_rescores_it(
    store: Store, settings: Settings
) -> None:
    top = proposed(store, settings)
    query = jobs.merge_proposal(
        store,
        settings,
        top["id"],
        story_slug="port-strike",
        terms=['"riverton dam"'],
        actor="ed",
        expected_version=top["version"],
        now=T0 + timedelta(minutes=5),
    )
    assert query == '(dockworkers) OR "riverton dam"'
    assert store.mention_counts()["port-strike"] == len(STRIKE) + len(DAM)
    after = store.proposal(top["id"])
    assert after is not None and (after["status"], after["story_slug"]) == ("merged", "port-strike")
    scores = dict(score_rows(store, "port-strike"))
    # the dam's hours are scored again with its mentions: the last hour is louder than before
    assert scores[T0 - H] > 0


def test_a_tracked_storys_cluster_suggests_terms_and_one_click_adds_them(
    store: Store, settings: Settings
) -> None:
    ids = sources(store)
    gox = [  # 3 of 8 say "MtGox": the story's query misses them
        "Mt Gox bitcoin exchange halts withdrawals",
        "Mt Gox halts bitcoin withdrawals, customers fear losses",
        "MtGox bitcoin exchange halts withdrawals",
        "Mt Gox bitcoin exchange offline as withdrawals halt",
        "MtGox bitcoin withdrawals halted, exchange offline",
        "Mt Gox bitcoin exchange: Karpeles silent on withdrawals",
        "MtGox bitcoin exchange offline, customers fear losses",
        "Mt Gox bitcoin exchange withdrawals halted for a week",
    ]
    stream(store, ids, gox, "gox", T0 - 6 * H)
    stream(store, ids, FILLER, "filler", T0 - 5 * H)
    add_story(store, settings, "mt-gox", "Mt. Gox", '"mt gox"', now=T0 - 7 * H)
    update_noise(store, settings, start=T0 - 8 * H, end=T0)
    jobs.cluster_new_mentions(store, settings, now=T0, flush=True)
    report = jobs.update_emerging(store, settings, T0 - H, now=T0)
    assert report.suggestions >= 1
    story_id = store.story_id("mt-gox")
    terms = store.query_suggestions(story_id)
    assert "mtgox" in [t["term"] for t in terms]
    mtgox = next(t for t in terms if t["term"] == "mtgox")
    assert mtgox["adds"] == 3 and mtgox["adds_elsewhere"] == 0
    before = store.mention_counts()["mt-gox"]
    query = jobs.add_suggested_term(store, settings, mtgox["id"], actor="ed", now=T0)
    assert query == '("mt gox") OR mtgox'
    assert store.mention_counts()["mt-gox"] == before + 3
    assert [t["term"] for t in store.query_suggestions(story_id, "added")] == ["mtgox"]
    with pytest.raises(ReviewConflict, match="already added"):
        jobs.add_suggested_term(store, settings, mtgox["id"], actor="ed", now=T0)
    with pytest.raises(jobs.NotFound):
        jobs.add_suggested_term(store, settings, 10**6, actor="ed", now=T0)
    # the next hour: the added term is not suggested again
    jobs.update_emerging(store, settings, T0, now=T0 + H)
    assert "mtgox" not in [t["term"] for t in store.query_suggestions(story_id)]


def test_the_cycle_clusters_and_proposes(db_url: str, tmp_path: Path) -> None:
    from noisecast.engine.jobs.cycle import run_cycle

    store = Store.from_url(db_url)
    store.migrate()
    settings = settings_for(db_url)
    seeded(store, settings)
    report = run_cycle(store, settings, clock=lambda: T0 + timedelta(minutes=10))
    assert report.status == "ran"
    assert clustered_ids(store, settings) == all_ids(store)
    assert [p["title"] for p in store.list_proposals()][:1] and "Riverton" in (
        store.list_proposals()[0]["title"]
    )
    (run,) = [r for r in store.status(now=T0)["last_jobs"] if r["job"] == "cycle"]
    assert run["detail"]["emerging"]["status"] == "ok"
    store.close()
