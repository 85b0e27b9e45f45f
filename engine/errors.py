"""One hierarchy of errors for noisecast.

Messages name the file, key, feed or story and say what to do. Driver errors are wrapped only
at the storage edge (``raise StorageError(...) from e``); programming errors are left alone.
"""

from __future__ import annotations


class NoisecastError(Exception):
    """Base class of every error noisecast raises on purpose."""


class ConfigError(NoisecastError, ValueError):
    """The configuration (file, environment or command line) is not valid.

    ``str(err)`` is one line per problem, each of the form ``FILE: key.path: what is wrong``.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class StorageError(NoisecastError):
    """The database could not do what was asked (locked, unreachable, wrong schema)."""


class FeedError(NoisecastError):
    """A feed could not be fetched or parsed. Recorded on the source row; the run goes on."""


class QueryError(NoisecastError, ValueError):
    """A story query does not parse. ``position`` is the 0-based character offset."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class ForecastError(NoisecastError):
    """A forecast could not be fitted or made."""


class BacktestInputError(ForecastError, ValueError):
    """A backtest's input (a series CSV or frame) is not valid, or leaves nothing to score.

    Messages have the form ``FILE: line N: field: what is wrong``.
    """


class AlreadyExistsError(ConfigError):
    """A name given on the command line is taken (a source, a story): nothing was changed.
    The message says to add ``--replace``."""


class AlertRuleError(ConfigError):
    """An alert rule, its condition or a quiet-hours period is not valid.

    ``field`` names the rule's key (``when``, ``to``...) when known; ``position`` is the 0-based
    character offset in the condition or period text when the text does not parse.
    """

    def __init__(
        self, message: str, *, field: str | None = None, position: int | None = None
    ) -> None:
        super().__init__(message)
        self.field = field
        self.position = position
