"""The one retry policy of every compare-and-set loop: MAX_ATTEMPTS rounds, a backoff between."""

from __future__ import annotations

import pytest

from mastery.services import retry
from mastery.services.retry import MAX_ATTEMPTS, CompareAndSetRounds


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The attempts after which the policy backed off (recorded instead of sleeping)."""
    attempts: list[int] = []

    async def record(attempt: int) -> None:
        attempts.append(attempt)

    monkeypatch.setattr(retry, "backoff", record)
    return attempts


async def test_rounds_back_off_between_attempts_never_after_the_last(slept: list[int]) -> None:
    rounds = [attempt async for attempt in CompareAndSetRounds()]
    assert rounds == list(range(MAX_ATTEMPTS))
    assert slept == list(range(MAX_ATTEMPTS - 1))


async def test_a_loop_that_succeeds_at_once_never_backs_off(slept: list[int]) -> None:
    async for _ in CompareAndSetRounds():
        break
    assert slept == []
