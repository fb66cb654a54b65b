"""A circuit breaker per outside dependency, with explicit timeouts on every call (its own, or
the operation's when it bounds its own time: `CircuitBreaker.issue`).

A small implementation rather than a library: the maintained Python breakers are synchronous
(pybreaker) or pull in their own state backends (purgatory, aiobreaker), and what we need is
~80 lines of asyncio — timeouts, consecutive-failure counting, one half-open probe at a time, a
Prometheus gauge and a log line per transition.

closed --(failure_threshold consecutive failures)--> open --(reset_timeout)--> half-open
half-open --(probe succeeds)--> closed; half-open --(probe fails)--> open
While open (and while a half-open probe is in flight) calls fail fast with BreakerOpenError, a
DependencyUnavailableError: HTTP answers 503 with Retry-After and ingest acknowledges nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from enum import IntEnum
from functools import partial
from typing import Any, TypeVar

from mastery.errors import DependencyUnavailableError
from mastery.metrics import Gauge

log = logging.getLogger(__name__)
T = TypeVar("T")

BREAKER_STATE = Gauge(
    "circuit_breaker_state",
    "Circuit breaker state per dependency: 0 closed, 1 half-open, 2 open.",
    ["dependency"],
)


class BreakerState(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class BreakerOpenError(DependencyUnavailableError):
    """The dependency's breaker is open: failing fast without calling it."""


class CircuitBreaker:
    """Guards calls to one dependency."""

    def __init__(
        self,
        dependency: str,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 1.0,
        call_timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dependency = dependency
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.call_timeout = call_timeout
        self._clock = clock
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self.state = BreakerState.CLOSED
        BREAKER_STATE.labels(dependency=dependency).set(BreakerState.CLOSED)

    @property
    def is_open(self) -> bool:
        """True while calls fail fast (open, and not yet due for a probe)."""
        return self.state is BreakerState.OPEN and self._remaining() > 0

    def _remaining(self) -> float:
        return self.reset_timeout - (self._clock() - self._opened_at)

    def _move(self, state: BreakerState) -> None:
        if state is not self.state:
            log.warning("circuit breaker %s: %s -> %s", self.dependency,
                        self.state.name.lower(), state.name.lower())  # fmt: skip
            self.state = state
            BREAKER_STATE.labels(dependency=self.dependency).set(state)

    def _reject(self) -> BreakerOpenError:
        retry = max(1, round(self._remaining() + 0.5))
        return BreakerOpenError(f"{self.dependency} circuit open", retry_after_seconds=retry)

    def _admit(self) -> bool:
        """Let a call through (True: as the half-open probe), or raise BreakerOpenError."""
        if self.state is BreakerState.OPEN:
            if self._remaining() > 0:
                raise self._reject()
            self._move(BreakerState.HALF_OPEN)
        probe = self.state is BreakerState.HALF_OPEN
        if probe:
            if self._probing:
                raise self._reject()
            self._probing = True
        return probe

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run `operation` under the timeout, or fail fast while the breaker is open."""
        probe = self._admit()
        try:
            async with asyncio.timeout(self.call_timeout):
                result = await operation()
        except (DependencyUnavailableError, TimeoutError) as exc:
            self._failed()
            if isinstance(exc, TimeoutError):
                raise DependencyUnavailableError(f"{self.dependency} timed out") from exc
            raise
        finally:
            if probe:
                self._probing = False
        self._succeeded()
        return result

    def issue(self, start: Callable[[], asyncio.Future[T]]) -> asyncio.Future[T]:
        """`start()`'s answer to come, counted when it settles; while the breaker is open, an
        answer failed with BreakerOpenError (the caller sees it when it awaits, as from `call`).

        For an operation under way once started that bounds its own time
        (`StateStore.append_logs`): no timer, and no task or coroutine between the caller and
        the answer (an audited read costs less with none).
        """
        try:
            probe = self._admit()
        except BreakerOpenError as exc:
            refused: asyncio.Future[T] = asyncio.get_running_loop().create_future()
            refused.set_exception(exc)
            refused.exception()  # not logged as unretrieved if its caller fails first (a read)
            return refused
        try:
            pending = start()
        except BaseException:
            if probe:
                self._probing = False
            raise
        pending.add_done_callback(partial(self._settled, probe))
        return pending

    def _settled(self, probe: bool, pending: asyncio.Future[Any]) -> None:
        if probe:
            self._probing = False
        if pending.cancelled():  # its caller gave up: nothing learnt of the dependency
            return
        error = pending.exception()
        if error is None:
            self._succeeded()
        elif isinstance(error, DependencyUnavailableError | TimeoutError):
            self._failed()

    def _succeeded(self) -> None:
        self._failures = 0
        self._move(BreakerState.CLOSED)

    def _failed(self) -> None:
        self._failures += 1
        if self.state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self._move(BreakerState.OPEN)
