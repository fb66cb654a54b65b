"""The retry policy of every compare-and-set loop on a student's record or a roster."""

from __future__ import annotations

import asyncio
import random

MAX_ATTEMPTS = 16


class CompareAndSetRounds:
    """The rounds of a compare-and-set loop (0, 1, ... up to `MAX_ATTEMPTS`), each retry after
    a `backoff`; a loop that runs out of rounds raises `StateUnavailableError` itself.

    A plain async iterator, not an async generator: a loop that returns early leaves nothing
    for the event loop to finalise (ingest runs one per delivered record).
    """

    def __init__(self) -> None:
        self._attempt = 0

    def __aiter__(self) -> CompareAndSetRounds:
        return self

    async def __anext__(self) -> int:
        attempt = self._attempt
        if attempt >= MAX_ATTEMPTS:
            raise StopAsyncIteration
        if attempt:
            await backoff(attempt - 1)
        self._attempt = attempt + 1
        return attempt


async def backoff(attempt: int) -> None:
    """Full-jitter exponential backoff after a lost compare-and-set (2 ms doubling, cap 128 ms)."""
    await asyncio.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))  # noqa: S311 - jitter, not crypto
