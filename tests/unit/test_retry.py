"""The one retry policy of every compare-and-set loop: MAX_ATTEMPTS rounds, a backoff between."""

from __future__ import annotations

import pytest

from mastery.services import retry
from mastery.services.retry import MAX_ATTEMPTS, CompareAndSetRounds


async def test_rounds_back_off_between_attempts_never_after_the_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[int] = []

    async def record(attempt: int) -> None:
        slept.append(attempt)

    monkeypatch.setattr(retry, "backoff", record)
    rounds = [attempt async for attempt in CompareAndSetRounds()]
    assert rounds == list(range(MAX_ATTEMPTS))
    assert slept == list(range(MAX_ATTEMPTS - 1))


async def test_a_loop_that_succeeds_at_once_never_backs_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[int] = []

    async def record(attempt: int) -> None:
        slept.append(attempt)

    monkeypatch.setattr(retry, "backoff", record)
    async for _ in CompareAndSetRounds():
        break
    assert slept == []
