"""config.toml: every kind of bad input gets its exact message; env overrides; secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from noisecast.engine.config import Secrets, load_settings
from noisecast.engine.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

VALID = """
[database]
url = "sqlite:///var/x.db"

[[sources]]
name = "bbc"
url = "https://feeds.bbci.co.uk/news/rss.xml"

[[sources]]
name = "npr"
kind = "rss"
url = "https://feeds.npr.org/1001/rss.xml"

[[stories]]
slug = "port-strike"
title = "Port strike"
query = '"port strike" OR dockworkers'
"""


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(body, encoding="utf-8")
    return path


def problems(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ=environ or {})
    return info.value.problems


def test_the_shipped_config_is_valid() -> None:
    settings = load_settings(ROOT / "config.toml", environ={})
    assert settings.sources and settings.stories
    assert settings.database.url == f"sqlite:///{ROOT / 'var' / 'noisecast.db'}"


def test_valid_config_loads_frozen(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, VALID), environ={})
    assert [s.name for s in settings.sources] == ["bbc", "npr"]
    assert settings.stories[0].slug == "port-strike"
    with pytest.raises(ValueError):
        settings.collector.concurrency = 3  # type: ignore[misc]


def test_relative_sqlite_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, VALID), environ={})
    assert settings.database.url == f"sqlite:///{tmp_path / 'var' / 'x.db'}"


def test_bad_url_names_file_and_index(tmp_path: Path) -> None:
    body = VALID + '\n[[sources]]\nname = "x"\nurl = "ftp://example.org/feed"\n'
    path = write(tmp_path, body)
    assert problems(path) == [f"{path}: sources[2].url: not a valid URL"]


def test_unknown_key_suggests_the_known_one(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace('url = "sqlite', 'ulr = "sqlite'))
    assert problems(path) == [f"{path}: database.ulr: unknown key (did you mean 'url'?)"]


def test_unknown_section(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "\n[sheduler]\nx = 1\n")
    assert problems(path) == [f"{path}: sheduler: unknown key (did you mean 'schedule'?)"]


def test_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + '\n[collector]\ntimeout_seconds = "fast"\nconcurrency = 2.5\n')
    assert problems(path) == [
        f"{path}: collector.timeout_seconds: expected a number, got 'fast'",
        f"{path}: collector.concurrency: expected a whole number, got 2.5",
    ]


def test_out_of_range(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "\n[collector]\nper_host_concurrency = 9\n")
    assert problems(path) == [f"{path}: collector.per_host_concurrency: expected at most 4, got 9"]


def test_unknown_kind_and_missing_field(tmp_path: Path) -> None:
    body = VALID + '\n[[sources]]\nkind = "gopher"\nurl = "https://example.org/"\n'
    path = write(tmp_path, body)
    assert problems(path) == [
        f"{path}: sources[2].kind: expected one of atom, hackernews, mastodon, reddit, rss, "
        "got 'gopher'",
        f"{path}: sources[2].name: missing (required)",
    ]


def test_bad_query_names_the_position(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("OR dockworkers'", "OR dockworkers)'"))
    assert problems(path) == [f"{path}: stories[0].query: unexpected ')' at 28"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("COP30 or summit", "'or' at 6 is a search word here: did you mean OR?"),
        ("NOT football", "only NOT at 0"),
    ],
)
def test_a_query_that_is_almost_surely_a_slip_names_the_position(
    tmp_path: Path, query: str, message: str
) -> None:
    path = write(tmp_path, VALID.replace("""'"port strike" OR dockworkers'""", f"'{query}'"))
    (problem,) = problems(path)
    assert problem.startswith(f"{path}: stories[0].query: {message}")


@pytest.mark.parametrize(
    ("scoring", "message"),
    [
        (
            "thresholds = [20, 60, 40, 80]",
            "scoring.thresholds: expected 4 increasing numbers between 0 and 100 (the scores "
            "where Low, Moderate, High and Very high start), got [20, 60, 40, 80]",
        ),
        (
            "thresholds = [-5, 40, 60, 80]",
            "scoring.thresholds: expected 4 increasing numbers between 0 and 100",
        ),
        (
            "[scoring.weights]\nvolume = 0.5\nvelocity = -0.2",
            "scoring.weights.velocity: expected a number of at least 0, got -0.2",
        ),
        (
            "[scoring.weights]\nvolum = 0.5",
            "scoring.weights.volum: unknown component (did you mean 'volume'?)",
        ),
        (
            "[scoring.weights]\nvolume = 0\nbreadth = 0",
            "scoring.weights: expected at least one weight above 0",
        ),
    ],
)
def test_scoring_settings_are_checked_when_read(tmp_path: Path, scoring: str, message: str) -> None:
    path = write(tmp_path, VALID + "\n[scoring]\n" + scoring + "\n")
    (problem,) = problems(path)
    assert problem.startswith(f"{path}: {message}")


def test_bad_slug_and_duplicate_names(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace('slug = "port-strike"', 'slug = "Port Strike"'))
    assert problems(path) == [
        f"{path}: stories[0].slug: 'Port Strike' is not valid (lowercase letters, digits and '-')"
    ]
    path = write(tmp_path, VALID.replace('name = "npr"', 'name = "bbc"'))
    assert problems(path) == [f"{path}: sources: duplicate name 'bbc'"]


def test_toml_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "\n[collector\n")
    (message,) = problems(path)
    assert message.startswith(f"{path}: ") and "(at line 19, column 11)" in message


def test_explicit_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert problems(path) == [f"{path}: no such config file"]


def test_no_file_at_the_default_path_uses_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.sources == () and settings.database.url.startswith("sqlite:///")


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    env = {
        "NOISECAST_DATABASE_URL": "postgresql+psycopg://u@db/noisecast",
        "NOISECAST_COLLECTOR_CONCURRENCY": "16",
        "NOISECAST_REDDIT_CLIENT_ID": "not a setting, a secret: ignored here",
    }
    settings = load_settings(path, environ=env)
    assert settings.database.url == "postgresql+psycopg://u@db/noisecast"
    assert settings.collector.concurrency == 16


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    assert problems(path, {"NOISECAST_COLLECTOR_CONCURRENCY": "many"}) == [
        "environment NOISECAST_COLLECTOR_CONCURRENCY: collector.concurrency: "
        "expected a whole number, got 'many'"
    ]
    assert problems(path, {"NOISECAST_DATABASE_URLL": "x"}) == [
        "environment NOISECAST_DATABASE_URLL: database.urll: unknown key (did you mean 'url'?)"
    ]


def test_secrets_come_from_environment_or_file(tmp_path: Path) -> None:
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text('reddit_client_id = "from-file"\nsecret_key = "k1"\n')
    secrets = Secrets.from_env(
        {"NOISECAST_SECRETS_FILE": str(secrets_file), "NOISECAST_SECRET_KEY": "k2"}
    )
    assert secrets.reddit_client_id == "from-file"
    assert secrets.secret_key == "k2"  # the environment wins over the file
    secrets_file.write_text('password = "x"\n')
    with pytest.raises(ConfigError, match=r"secrets.toml: password: unknown secret"):
        Secrets.from_env({"NOISECAST_SECRETS_FILE": str(secrets_file)})


def test_secrets_are_not_accepted_in_config(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + '\n[reddit]\nclient_secret = "oops"\n')
    assert problems(path) == [f"{path}: reddit: unknown key"]


def test_the_commented_source_examples_are_valid(tmp_path: Path) -> None:
    """The social-source examples in config.toml, uncommented, load: the docs cannot rot."""
    lines = (ROOT / "config.toml").read_text(encoding="utf-8").splitlines()
    start = lines.index("# [[sources]]")
    example = []
    for line in lines[start:]:
        if not line.startswith("#"):
            break
        if line.startswith("# #") or line == "#":
            continue
        example.append(line.removeprefix("# "))
    settings = load_settings(write(tmp_path, VALID + "\n" + "\n".join(example) + "\n"), environ={})
    kinds = {s.name: (s.kind, s.endpoint) for s in settings.sources}
    assert kinds["reddit"] == ("reddit", "https://www.reddit.com")
    assert kinds["hacker-news-search"] == ("hackernews", "https://hn.algolia.com/api/v1")
    assert kinds["mastodon-social"] == ("mastodon", "https://mastodon.social")


def test_source_options_are_checked_by_kind(tmp_path: Path) -> None:
    body = VALID + '\n[[sources]]\nkind = "reddit"\nname = "r"\n[sources.options]\nsubredits = []\n'
    assert problems(write(tmp_path, body)) == [
        f"{write(tmp_path, body)}: sources[2].options.subredits: unknown key "
        "(did you mean 'subreddits'?)"
    ]
    body = VALID + '\n[[sources]]\nkind = "mastodon"\nname = "m"\n'
    assert problems(write(tmp_path, body)) == [
        f"{tmp_path / 'config.toml'}: sources[2].url: missing (required for kind 'mastodon')"
    ]
