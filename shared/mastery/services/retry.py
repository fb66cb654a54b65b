"""The retry policy of every compare-and-set loop on a student's record or a roster."""

from __future__ import annotations

import asyncio
import random

MAX_ATTEMPTS = 16


async def backoff(attempt: int) -> None:
    """Full-jitter exponential backoff after a lost compare-and-set (2 ms doubling, cap 128 ms)."""
    await asyncio.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))  # noqa: S311 - jitter, not crypto
