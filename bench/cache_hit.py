"""The L1 read cache under load: hit rate and the Redis round trips it saves.

    .venv/bin/python -m bench.cache_hit [--users 200] [--seconds 20] [--rate 50]

Starts the engine as the load test does (private Redis and Kafka; ingest, query and predict as
real functions-framework servers; a seeded school of 30 classes × 30 students), then runs
`--users` concurrent virtual users for `--seconds`: students reading their own mastery and
forecast, teachers their classes' heat maps (each user with a think time of 0.2–1 s), while
live events are posted to ingest's binding route at `--rate` per second, so cached records keep
going stale and are re-read within the 1 s bound. Before and after, it reads
`state_cache_requests_total{result}` from each read function's /metrics and Redis's own
command counts (INFO commandstats). Each hit is one state-store read not sent to Redis.
Loopback only; prints one JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import redis

from bench.engine import Engine, make_school, running_engine, seed
from mastery.web.auth import mint_token
from tests.factories import event

READERS = ("query", "predict")  # the functions built with the L1 cache
_SAMPLE = re.compile(r'^state_cache_requests_total\{result="(hit|miss)"\} ([0-9.e+]+)$', re.M)


def cache_counts(engine: Engine) -> dict[str, dict[str, float]]:
    """Per read function: cache hits and misses so far (one process per function)."""
    counts = {}
    for name in READERS:
        text = httpx.get(f"{engine.url(name)}/metrics", timeout=10).text
        counts[name] = {"hit": 0.0, "miss": 0.0} | {k: float(v) for k, v in _SAMPLE.findall(text)}
    return counts


def redis_reads(url: str) -> int:
    """HMGET calls Redis has served (every state-store read is one HMGET)."""
    with redis.Redis.from_url(url) as client:
        stats = client.info("commandstats")
    return int(stats.get("cmdstat_hmget", {}).get("calls", 0))


async def _users(engine: Engine, users: int, seconds: float) -> dict[str, int]:
    school = make_school(30, 30, 15)
    students = school.students
    teachers = list(school.teachers.items())
    statuses: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    async def user(n: int, client: httpx.AsyncClient) -> None:
        rng = random.Random(n)  # noqa: S311 - reproducible load, not crypto
        if n % 10 == 0:  # one user in ten is a teacher
            teacher, classes = teachers[n % len(teachers)]
            token = mint_token(engine.secret, teacher, "teacher", classes)
            urls = [f"{engine.url('query')}/v1/classes/{c}/mastery" for c in classes]
        else:
            student = rng.choice(students)
            token = mint_token(engine.secret, student, "student")
            urls = [f"{engine.url('query')}/v1/students/{student}/mastery",
                    f"{engine.url('predict')}/v1/students/{student}/forecast"]  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"}
        while time.monotonic() < deadline:
            try:
                response = await client.get(rng.choice(urls), headers=headers)
                key = str(response.status_code)
            except httpx.TransportError:  # an overloaded server dropped the connection
                key = "transport_error"
            statuses[key] = statuses.get(key, 0) + 1
            await asyncio.sleep(rng.uniform(0.2, 1.0))

    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        await asyncio.gather(*(user(n, client) for n in range(users)))
    return statuses


async def _writer(engine: Engine, rate: float, seconds: float) -> int:
    students = make_school(30, 30, 15).students
    rng = random.Random(1)  # noqa: S311 - reproducible load, not crypto
    headers = {"Content-Type": "application/json", "__topic": "learning.events"}
    sent = 0
    async with httpx.AsyncClient(timeout=30) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            student = rng.choice(students)
            body = event("quiz.completed", student, "basics.variables", datetime.now(UTC),
                         quiz_id=f"live-{sent}", correct=rng.randint(0, 4), total=4)  # fmt: skip
            with contextlib.suppress(httpx.TransportError):
                await client.post(f"{engine.url('ingest')}/learning-events", json=body,
                                  headers={**headers, "__key": student})  # fmt: skip
            sent += 1
            await asyncio.sleep(1 / rate)
    return sent


async def _run(engine: Engine, users: int, seconds: float, rate: float) -> dict[str, Any]:
    statuses, events = await asyncio.gather(
        _users(engine, users, seconds), _writer(engine, rate, seconds)
    )
    return {"statuses": statuses, "live_events": events}


def main() -> None:
    """Run the load and print the cache's hit rate and the Redis reads it saved."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=50.0, help="live events per second")
    args = parser.parse_args()
    with running_engine(("ingest", *READERS)) as engine:
        asyncio.run(seed(engine.redis_url, make_school(30, 30, 15), 30, datetime.now(UTC)))
        before, reads_before = cache_counts(engine), redis_reads(engine.redis_url)
        outcome = asyncio.run(_run(engine, args.users, args.seconds, args.rate))
        after, reads_after = cache_counts(engine), redis_reads(engine.redis_url)
    per_function = {}
    for name in READERS:
        hits = after[name]["hit"] - before[name]["hit"]
        misses = after[name]["miss"] - before[name]["miss"]
        per_function[name] = {"hits": int(hits), "misses": int(misses),
                              "hit_rate": round(hits / max(1.0, hits + misses), 3)}  # fmt: skip
    hits = sum(f["hits"] for f in per_function.values())
    lookups = hits + sum(f["misses"] for f in per_function.values())
    requests = sum(outcome["statuses"].values())
    summary = {
        "users": args.users, "seconds": args.seconds, "live_events": outcome["live_events"],
        "requests": requests, "statuses": outcome["statuses"], "cache": per_function,
        "hit_rate": round(hits / max(1, lookups), 3),
        "redis_reads_saved": hits,
        "redis_reads_saved_per_request": round(hits / max(1, requests), 2),
        "redis_hmget_calls_during_run": reads_after - reads_before,
    }  # fmt: skip
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
