"""A simulated day of the load test's audit traffic, with the class heat map measured each hour.

    .venv/bin/python -m bench.audit_day [--hours 24] [--tick 10] [--measure-seconds 3]

Starts Redis and the query function (as `bench.load` does), seeds the load test's school (30
classes of 30 students, 20 teachers), then replays the teachers of `make load` at its defaults
— 100 teacher users (10% of 1000), one read every 3–10 s each, routes weighted as the load test
weighs them, class routes naming all 30 students — by calling `record_access` directly with a
simulated clock, `--tick` seconds of traffic at a time (the requests of a tick are issued
concurrently, as a busy function would), far faster than real time. After every simulated hour
the heat map is loaded over HTTP for `--measure-seconds` (same client as `bench.query`), and the
audit keys' memory is summed (`MEMORY USAGE`), beside the machine's 1-minute load average.
Writes bench/results/audit-day-latest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import loadgen
from bench.engine import RESULTS, School, machine, make_school, running_engine, seed
from bench.load import DEFAULT_WEIGHT, WEIGHTS
from mastery.adapters.redis_store import RedisStateStore, connect
from mastery.domain.curriculum import CURRICULUM
from mastery.services.audit import AuditPolicy, record_access
from mastery.web.auth import mint_token

# The teacher routes `make load` discovers (query, predict, recommend), with its weights.
TEACHER_ROUTES = [
    "/v1/students/{student_id}/mastery", "/v1/students/{student_id}/topics/{topic_id}",
    "/v1/students/{student_id}/history", "/v1/classes/{class_id}/mastery",
    "/v1/students/{student_id}/forecast", "/v1/students/{student_id}/recommendations",
    "/v1/classes/{class_id}/alerts",
]  # fmt: skip
TEACHER_USERS, THINK_S = 100, (3.0, 10.0)
TICKS_IN_FLIGHT = 8


@dataclass(frozen=True)
class Teacher:
    subject: str
    role: str = "teacher"


def _request(rng: random.Random, school: School) -> tuple[Teacher, list[str], str]:
    """One teacher read: who, whose data, which route."""
    subject = rng.choice(list(school.teachers))
    class_id = rng.choice(school.teachers[subject])
    weights = [WEIGHTS.get(r, DEFAULT_WEIGHT) for r in TEACHER_ROUTES]
    template = rng.choices(TEACHER_ROUTES, weights=weights)[0]
    student = rng.choice(school.classes[class_id])
    values = {"class_id": class_id, "student_id": student,
              "topic_id": CURRICULUM.topological_order()[0]}  # fmt: skip
    path = template.format(**values)
    students = school.classes[class_id] if "{class_id}" in template else [student]
    return Teacher(subject), students, f"GET {path}"


async def _simulate(
    store: RedisStateStore, school: School, start: datetime, seconds: int, tick: int,
    rng: random.Random,
) -> int:  # fmt: skip
    """Record `seconds` of teacher traffic from `start`; returns the number of requests.

    Up to `TICKS_IN_FLIGHT` ticks are under way at once, so building the next ticks' appends
    overlaps with Redis running the last ones; they are still written in time order (the
    store's group commit sends appends in the order they were made).
    """
    per_tick = TEACHER_USERS * tick / statistics.mean(THINK_S)
    requests = 0
    in_flight: set[asyncio.Future[list[int]]] = set()
    for step in range(0, seconds, tick):
        at = start + timedelta(seconds=step)
        count = int(per_tick) + (rng.random() < per_tick % 1)
        batch = [_request(rng, school) for _ in range(count)]
        in_flight.add(asyncio.gather(*(
            record_access(store, who, students, what, lambda at=at: at, policy=AuditPolicy())
            for who, students, what in batch
        )))  # fmt: skip
        requests += count
        if len(in_flight) >= TICKS_IN_FLIGHT:
            done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            for finished in done:
                finished.result()
    await asyncio.gather(*in_flight)
    return requests


async def _audit_memory(client: Any) -> tuple[int, int]:
    """Bytes held by audit keys, and the number of entries in the trails (one pipeline)."""
    keys = [key async for key in client.scan_iter(match="audit:*", count=1000)]
    async with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.memory_usage(key, samples=0)
        streams = [key for key in keys if not key.endswith(b":tally")]
        for key in streams:
            pipe.xlen(key)
        answers = await pipe.execute()
    return sum(n or 0 for n in answers[: len(keys)]), sum(answers[len(keys) :])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--tick", type=int, default=10)
    parser.add_argument("--measure-seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args(argv)
    try:  # before the hours of simulation, not after them
        client = loadgen.require_client()
    except loadgen.ClientMissingError as exc:
        print(exc, file=sys.stderr)
        return 2
    school = make_school(classes=30, students_per_class=30, teachers=20)
    now = datetime.now(UTC)
    rows = []
    with running_engine(["query"]) as engine:
        seeded = asyncio.run(seed(engine.redis_url, school, days=30, now=now))
        class_id = next(iter(school.classes))
        token = mint_token(engine.secret, "teacher-001", "teacher", school.teachers["teacher-001"],
                           ttl=timedelta(hours=6))  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"}
        path = f"/v1/classes/{class_id}/mastery"
        rng = random.Random(0)  # noqa: S311  (a reproducible simulation)
        start = now - timedelta(hours=args.hours)
        loadgen.run(engine.url("query"), [path], headers, connections=4, seconds=1)  # warm up

        async def hour(h: int) -> dict[str, Any]:
            client = connect(engine.redis_url, cluster=False)
            store = RedisStateStore(client)
            try:
                requests = 0
                if h > 0:
                    began = start + timedelta(hours=h - 1)
                    requests = await _simulate(store, school, began, 3600, args.tick, rng)
                memory, entries = await _audit_memory(client)
            finally:
                await store.aclose()
            return {"hour": h, "requests": requests, "audit_bytes": memory, "entries": entries}

        for h in range(args.hours + 1):
            row = asyncio.run(hour(h))
            result = loadgen.run(engine.url("query"), [path], headers,
                                 connections=args.connections, seconds=args.measure_seconds)  # fmt: skip
            row |= {"heat_map_rps": round(result.rps, 1), "p50_ms": round(result.p50_ms, 2),
                    "p95_ms": round(result.p95_ms, 2), "errors": result.errors,
                    # the shared machine's load as the hour was measured: what the P95 follows
                    "load_average_1m": round(os.getloadavg()[0], 2)}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    students = len(school.students)
    last = rows[-1]
    summary = {
        "p95_last_over_first_hour": round(last["p95_ms"] / rows[1]["p95_ms"], 2),
        # Single 3 s samples swing with the shared machine: the last three hours' median P95
        # over the first three's as well.
        "p95_last3_over_first3": round(
            statistics.median(r["p95_ms"] for r in rows[-3:])
            / statistics.median(r["p95_ms"] for r in rows[1:4]),
            2,
        ),
        "p95_last_over_before": round(last["p95_ms"] / rows[0]["p95_ms"], 2),
        "requests_per_day": sum(r["requests"] for r in rows) * 24 // max(1, args.hours),
        "audit_bytes_per_student_per_day": round(last["audit_bytes"] / students * 24 / args.hours),
        "entries_per_student_per_day": round(last["entries"] / students * 24 / args.hours, 1),
        "bytes_per_entry": round(last["audit_bytes"] / max(1, last["entries"]), 1),
    }
    document = {"benchmark": "a simulated day of audit traffic", "machine": machine(),
                "client": client, "settings": vars(args), "seeded": seeded,
                "summary": summary, "hours": rows}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "audit-day-latest.json").write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
