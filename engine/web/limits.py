"""Login limits: failed attempts per account and per client address, and how many passwords
are checked at once.

A password check is an argon2id hash that takes 64 MiB for a moment, so a flood of logins is
both a way to guess passwords and a way to take the server's memory. Two bounds answer both:

- **Attempts.** An attempt counts as a failure from the moment it starts until it succeeds
  (so a burst sent at once cannot overtake the count). At most ``per_account`` failures per
  (account, address) and ``per_address`` per address, whatever the account, within
  ``window_seconds``; over either, the login is refused with ``429 Too Many Requests`` and
  ``Retry-After`` (the seconds until the oldest counted failure leaves the window), before any
  hashing. A success clears its (account, address) failures. Accounts are compared folded to
  lower case; there is no limit per account across addresses, so that nobody can lock an
  editor out from elsewhere.
- **Hashing.** At most ``hashing`` checks run at once; a login waits up to
  ``hashing_wait_seconds`` for a slot (in the event loop: no thread is held while waiting),
  then is refused with ``503`` and ``Retry-After``.

The state is in-process memory, bounded (``max_keys`` keys, the least recently used dropped
first) and lost on restart: run one ``noisecast serve`` process per deployment, or the limits
multiply by the number of processes. The client address is the connection's, or the one a
trusted proxy forwards (uvicorn trusts ``X-Forwarded-For`` from 127.0.0.1 by default).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio

from noisecast.engine.errors import NoisecastError

__all__ = ["Attempt", "HashingBusy", "LoginGuard", "LoginLimits", "TooManyAttempts"]

MAX_NAME = 80  # an account key longer than any editor name is cut here


@dataclass(frozen=True, slots=True)
class LoginLimits:
    per_account: int = 5
    per_address: int = 20
    window_seconds: float = 15 * 60
    hashing: int = 2
    hashing_wait_seconds: float = 5.0
    max_keys: int = 100_000

    def __post_init__(self) -> None:
        for name in ("per_account", "per_address", "hashing", "max_keys"):
            if getattr(self, name) < 1:
                raise ValueError(f"LoginLimits.{name} must be at least 1")
        if self.window_seconds <= 0 or self.hashing_wait_seconds < 0:
            raise ValueError("LoginLimits: the window must be positive and the wait not negative")


class TooManyAttempts(NoisecastError):
    """Too many failed logins: ``retry_after`` seconds until one more is allowed."""

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(
            f"Too many failed logins: try again in {minutes} minute{'s' if minutes > 1 else ''}."
        )
        self.retry_after = retry_after


class HashingBusy(NoisecastError):
    """Every password-checking slot stayed busy for the whole wait."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("The server is busy checking other logins: try again in a few seconds.")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Attempt:
    account: str
    address: str
    at: datetime


_Key = tuple[str | None, str]  # (account, address), or (None, address) for the address


class LoginGuard:
    """The limits of one app (``app.state.login_guard``). Thread-safe."""

    def __init__(self, limits: LoginLimits | None = None) -> None:
        self.limits = limits or LoginLimits()
        self._window = timedelta(seconds=self.limits.window_seconds)
        self._lock = threading.Lock()
        self._failures: OrderedDict[_Key, deque[datetime]] = OrderedDict()
        self._slots = threading.BoundedSemaphore(self.limits.hashing)
        self.hashing_now = 0
        self.hashing_peak = 0  # the most checks that ever ran at once (for tests and logs)

    # --- attempts ------------------------------------------------------------------------------

    def begin(self, account: str, address: str, now: datetime) -> Attempt:
        """Count an attempt as a failure until :meth:`succeeded` says otherwise; raise
        :class:`TooManyAttempts` (counting nothing) when a limit is reached."""
        attempt = Attempt(account.strip().casefold()[:MAX_NAME], address, now)
        keys = self._keys(attempt)
        limits = (self.limits.per_account, self.limits.per_address)
        with self._lock:
            for key, limit in zip(keys, limits, strict=True):
                recent = self._recent(key, now)
                if len(recent) >= limit:
                    free_at = recent[len(recent) - limit] + self._window
                    raise TooManyAttempts(max(1, math.ceil((free_at - now).total_seconds())))
            for key, limit in zip(keys, limits, strict=True):
                times = self._failures.setdefault(key, deque(maxlen=limit))
                times.append(now)
                self._failures.move_to_end(key)
            self._bound(now)
        return attempt

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: forget the (account, address) failures and this attempt."""
        account_key, address_key = self._keys(attempt)
        with self._lock:
            self._failures.pop(account_key, None)
            self._discard(address_key, attempt.at)

    def abandon(self, attempt: Attempt) -> None:
        """The password was never checked (the server was busy): the attempt does not count."""
        with self._lock:
            for key in self._keys(attempt):
                self._discard(key, attempt.at)

    @staticmethod
    def _keys(attempt: Attempt) -> tuple[_Key, _Key]:
        return (attempt.account, attempt.address), (None, attempt.address)

    def _recent(self, key: _Key, now: datetime) -> deque[datetime]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] + self._window <= now:
            times.popleft()
        return times

    def _discard(self, key: _Key, at: datetime) -> None:
        times = self._failures.get(key)
        if times is not None:
            with suppress(ValueError):  # already gone with the window
                times.remove(at)
            if not times:
                del self._failures[key]

    def _bound(self, now: datetime) -> None:
        """Keep at most ``max_keys`` keys: drop the expired, then the least recently used."""
        if len(self._failures) <= self.limits.max_keys:
            return
        for key in [k for k, times in self._failures.items() if times[-1] + self._window <= now]:
            del self._failures[key]
        while len(self._failures) > self.limits.max_keys:
            self._failures.popitem(last=False)

    # --- hashing -------------------------------------------------------------------------------

    @asynccontextmanager
    async def hashing_slot(self) -> AsyncIterator[None]:
        """Hold one of the ``hashing`` slots while a password is checked; raise
        :class:`HashingBusy` if none frees up within ``hashing_wait_seconds``. Waiting polls
        in the event loop, so it holds no thread and works across event loops."""
        deadline = time.monotonic() + self.limits.hashing_wait_seconds
        while not self._slots.acquire(blocking=False):
            if time.monotonic() >= deadline:
                raise HashingBusy(max(1, math.ceil(self.limits.hashing_wait_seconds)))
            await anyio.sleep(0.01)
        with self._lock:
            self.hashing_now += 1
            self.hashing_peak = max(self.hashing_peak, self.hashing_now)
        try:
            yield
        finally:
            with self._lock:
                self.hashing_now -= 1
            self._slots.release()
