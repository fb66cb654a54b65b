"""The circuit breaker: opens on consecutive failures, fails fast, probes once, closes."""

from __future__ import annotations

import asyncio

import pytest

from mastery.adapters.breaker import BREAKER_STATE, BreakerOpenError, BreakerState, CircuitBreaker
from mastery.adapters.guarded import GuardedSink, GuardedStateStore
from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.errors import ConflictError, StateUnavailableError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def fail() -> None:
    raise StateUnavailableError("down")


async def succeed() -> str:
    return "ok"


def gauge(name: str) -> float:
    return BREAKER_STATE.labels(dependency=name).value


async def test_opens_after_consecutive_failures_and_fails_fast() -> None:
    clock = Clock()
    breaker = CircuitBreaker("t-open", failure_threshold=3, reset_timeout=2.0, clock=clock)
    for _ in range(3):
        with pytest.raises(StateUnavailableError):
            await breaker.call(fail)
    assert breaker.state is BreakerState.OPEN
    assert breaker.is_open
    assert gauge("t-open") == 2
    called = False

    async def spy() -> None:
        nonlocal called
        called = True

    with pytest.raises(BreakerOpenError) as rejected:
        await breaker.call(spy)
    assert not called
    assert rejected.value.retry_after_seconds == 2


async def test_a_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker("t-reset", failure_threshold=2, clock=Clock())
    with pytest.raises(StateUnavailableError):
        await breaker.call(fail)
    assert await breaker.call(succeed) == "ok"
    with pytest.raises(StateUnavailableError):
        await breaker.call(fail)
    assert breaker.state is BreakerState.CLOSED


async def test_half_open_probe_closes_on_success_and_reopens_on_failure() -> None:
    clock = Clock()
    breaker = CircuitBreaker("t-probe", failure_threshold=1, reset_timeout=1.0, clock=clock)
    with pytest.raises(StateUnavailableError):
        await breaker.call(fail)
    clock.now += 1.5
    with pytest.raises(StateUnavailableError):
        await breaker.call(fail)  # the probe fails: open again, for a full reset timeout
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(BreakerOpenError):
        await breaker.call(succeed)
    clock.now += 1.5
    assert await breaker.call(succeed) == "ok"
    assert breaker.state is BreakerState.CLOSED
    assert gauge("t-probe") == 0


async def test_only_one_probe_at_a_time() -> None:
    clock = Clock()
    breaker = CircuitBreaker("t-one-probe", failure_threshold=1, reset_timeout=1.0, clock=clock)
    with pytest.raises(StateUnavailableError):
        await breaker.call(fail)
    clock.now += 2
    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "probe"

    probe = asyncio.create_task(breaker.call(slow))
    await asyncio.sleep(0)
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(BreakerOpenError):
        await breaker.call(succeed)
    release.set()
    assert await probe == "probe"
    assert breaker.state is BreakerState.CLOSED


async def test_a_hung_call_times_out_and_counts_as_a_failure() -> None:
    breaker = CircuitBreaker("t-timeout", failure_threshold=1, call_timeout=0.01, clock=Clock())

    async def hang() -> None:
        await asyncio.sleep(10)

    with pytest.raises(StateUnavailableError.__mro__[1], match="timed out"):
        await breaker.call(hang)
    assert breaker.state is BreakerState.OPEN


async def test_an_operation_that_bounds_its_own_time_gets_no_timer_but_its_failures_count() -> None:
    breaker = CircuitBreaker("t-untimed", failure_threshold=2, call_timeout=0.01)
    assert await breaker.issue(lambda: asyncio.ensure_future(asyncio.sleep(0.05, "late"))) == "late"
    for _ in range(2):
        with pytest.raises(StateUnavailableError):
            await breaker.issue(lambda: asyncio.ensure_future(fail()))
    assert breaker.state is BreakerState.OPEN
    refused = breaker.issue(lambda: asyncio.ensure_future(succeed()))  # issued, then awaited
    with pytest.raises(BreakerOpenError):
        await refused


async def test_an_issued_probe_lets_the_next_through_once_it_settles_even_if_cancelled() -> None:
    clock = Clock()
    breaker = CircuitBreaker("t-issued", failure_threshold=1, reset_timeout=1.0, clock=clock)
    with pytest.raises(StateUnavailableError):
        await breaker.issue(lambda: asyncio.ensure_future(fail()))
    clock.now += 1.5
    probe: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    assert breaker.issue(lambda: probe) is probe
    with pytest.raises(BreakerOpenError):
        await breaker.issue(lambda: asyncio.ensure_future(succeed()))  # one probe at a time
    probe.cancel()  # its caller gave up
    await asyncio.sleep(0)
    assert await breaker.issue(lambda: asyncio.ensure_future(succeed())) == "ok"
    assert breaker.state is BreakerState.CLOSED


async def test_conflicts_are_not_failures_and_readiness_reports_an_open_breaker() -> None:
    clock = Clock()
    store = GuardedStateStore(
        MemoryStateStore(), CircuitBreaker("t-store", failure_threshold=1, clock=clock)
    )
    await store.write("k", b"v", etag=None, ttl_seconds=10)
    with pytest.raises(ConflictError):
        await store.write("k", b"v", etag=None, ttl_seconds=10)
    assert store.breaker.state is BreakerState.CLOSED
    assert await store.ping()
    with pytest.raises(StateUnavailableError):
        await store.breaker.call(fail)
    assert not await store.ping()
    sink = GuardedSink(MemorySink(), CircuitBreaker("t-sink"))
    await sink.publish("k", b"v")
    await sink.aclose()
