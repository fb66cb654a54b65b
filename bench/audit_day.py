"""A simulated day of the load test's audit traffic, the class heat map measured each hour beside
its floor.

    .venv/bin/python -m bench.audit_day [--hours 24] [--tick 10] [--slices 4] [--slice-seconds 1]

Starts Redis, the query function (as `bench.load` does) and the bare MGET function of
`bench.query`, seeds the load test's school (30 classes of 30 students, 20 teachers), then
replays the teachers of `make load` at its defaults — 100 teacher users (10% of 1000), one read
every 3–10 s each, routes weighted as the load test weighs them, class routes naming all 30
students — with a simulated clock, appended directly and in bulk, far faster than real time:
each `--tick` seconds of traffic is made into appends as a request makes them
(`access_appends`, each request its own correlation id) and sent through the store's
`append_logs` (the same script; its group commit pipelines runs of `CHUNK` appends), several
ticks in flight, still written in time order.

After every simulated hour the heat map and the bare MGET of the same 30 records are loaded
over HTTP in alternating slices (`--slices` of each, `--slice-seconds` long; same client as
`bench.query`), so that whatever else the machine is doing at that moment weighs on both: per
hour the median of the slices' P95s, and ours ÷ the MGET per pair of slices (median). The audit
keys' memory is summed (`MEMORY USAGE`) beside the machine's 1-minute load average.
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
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import loadgen
from bench.engine import (
    RESULTS,
    School,
    machine,
    make_school,
    running_baseline,
    running_engine,
    seed,
)
from bench.load import DEFAULT_WEIGHT, WEIGHTS
from bench.query import bare_copies, mget_path
from mastery.adapters.redis_store import RedisStateStore, connect
from mastery.domain.curriculum import CURRICULUM
from mastery.ports import LogAppend
from mastery.services.audit import AuditPolicy, access_appends
from mastery.web.auth import mint_token

# The teacher routes `make load` discovers (query, predict, recommend), with its weights.
TEACHER_ROUTES = [
    "/v1/students/{student_id}/mastery", "/v1/students/{student_id}/topics/{topic_id}",
    "/v1/students/{student_id}/history", "/v1/classes/{class_id}/mastery",
    "/v1/students/{student_id}/forecast", "/v1/students/{student_id}/recommendations",
    "/v1/classes/{class_id}/alerts",
]  # fmt: skip
ROUTE_WEIGHTS = [WEIGHTS.get(r, DEFAULT_WEIGHT) for r in TEACHER_ROUTES]
TEACHER_USERS, THINK_S = 100, (3.0, 10.0)
TICKS_IN_FLIGHT = 8
FIRST_TOPIC = CURRICULUM.topological_order()[0]


@dataclass(frozen=True)
class Teacher:
    subject: str
    role: str = "teacher"


def _request(rng: random.Random, school: School) -> list[LogAppend]:
    """The appends of one teacher read: who, whose data, which route."""
    subject = rng.choice(list(school.teachers))
    class_id = rng.choice(school.teachers[subject])
    template = rng.choices(TEACHER_ROUTES, weights=ROUTE_WEIGHTS)[0]
    student = rng.choice(school.classes[class_id])
    values = {"class_id": class_id, "student_id": student, "topic_id": FIRST_TOPIC}
    path = template.format(**values)
    students = school.classes[class_id] if "{class_id}" in template else [student]
    note = uuid.UUID(int=rng.getrandbits(128)).hex  # a request's own correlation id
    return access_appends(Teacher(subject), students, f"GET {path}", note=note)


async def _simulate(
    store: RedisStateStore, school: School, start: datetime, seconds: int, tick: int,
    rng: random.Random,
) -> int:  # fmt: skip
    """Append `seconds` of teacher traffic from `start`; returns the number of requests.

    Each tick's appends are one `append_logs` call at the tick's time; up to
    `TICKS_IN_FLIGHT` ticks are under way at once, so building the next ticks' appends
    overlaps with Redis running the last ones (the group commit sends them in order).
    """
    per_tick = TEACHER_USERS * tick / statistics.mean(THINK_S)
    policy = AuditPolicy()
    requests = 0
    in_flight: set[asyncio.Future[int]] = set()
    for step in range(0, seconds, tick):
        at = start + timedelta(seconds=step)
        count = int(per_tick) + (rng.random() < per_tick % 1)
        appends = [a for _ in range(count) for a in _request(rng, school)]
        in_flight.add(asyncio.ensure_future(store.append_logs(
            appends, now_ms=int(at.timestamp() * 1000), window_ms=policy.window_seconds * 1000,
            keep_ms=policy.retention_days * 86_400_000)))  # fmt: skip
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


_Case = tuple[str, list[str], dict[str, str]]  # base URL, paths, headers


def _interleaved(
    ours: _Case, floor: _Case, *, slices: int, seconds: float, connections: int,
) -> dict[str, Any]:  # fmt: skip
    """The heat map and its floor in alternating slices: medians, and ours ÷ floor per pair."""
    pairs = []
    for _ in range(slices):
        pair = []
        for base, paths, headers in (ours, floor):
            pair.append(loadgen.run(base, paths, headers, connections=connections, seconds=seconds))
        pairs.append(pair)
    heat, mget = [p[0] for p in pairs], [p[1] for p in pairs]
    return {
        "heat_map_rps": round(statistics.median(r.rps for r in heat), 1),
        "p50_ms": round(statistics.median(r.p50_ms for r in heat), 2),
        "p95_ms": round(statistics.median(r.p95_ms for r in heat), 2),
        "mget_rps": round(statistics.median(r.rps for r in mget), 1),
        "mget_p95_ms": round(statistics.median(r.p95_ms for r in mget), 2),
        "p95_over_mget": round(statistics.median(h.p95_ms / m.p95_ms for h, m in pairs), 3),
        "rps_over_mget": round(statistics.median(h.rps / m.rps for h, m in pairs), 3),
        "errors": sum(h.errors + m.errors for h, m in pairs),
        "client_cpu_cores": round(max(r.client_cpu_cores for p in pairs for r in p), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--tick", type=int, default=10)
    parser.add_argument("--slices", type=int, default=4)
    parser.add_argument("--slice-seconds", type=int, default=1)
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
        bare_copies(engine.redis_url, school.classes[class_id])
        token = mint_token(engine.secret, "teacher-001", "teacher", school.teachers["teacher-001"],
                           ttl=timedelta(hours=6))  # fmt: skip
        ours: _Case = (engine.url("query"), [f"/v1/classes/{class_id}/mastery"],
                {"Authorization": f"Bearer {token}"})  # fmt: skip
        rng = random.Random(0)  # noqa: S311  (a reproducible simulation)
        start = now - timedelta(hours=args.hours)
        healthz = {"BARE_KEY": f"bench:{school.classes[class_id][0]}"}  # a key that exists
        with running_baseline("bare_get", {**engine.env, **healthz}) as bare:
            floor: _Case = (bare.url, [mget_path(school.classes[class_id])], {})
            for base, paths, headers in (ours, floor):  # warm up
                loadgen.run(base, paths, headers, connections=4, seconds=1)

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
                return {"hour": h, "requests": requests, "audit_bytes": memory,
                        "entries": entries}  # fmt: skip

            for h in range(args.hours + 1):
                appended = datetime.now(UTC)
                row = asyncio.run(hour(h))
                row["append_seconds"] = round((datetime.now(UTC) - appended).total_seconds(), 1)
                row |= _interleaved(ours, floor, slices=args.slices, seconds=args.slice_seconds,
                                    connections=args.connections)  # fmt: skip
                # the shared machine's load as the hour was measured
                row["load_average_1m"] = round(os.getloadavg()[0], 2)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    summary = _summary(rows, args.hours, len(school.students))
    document = {"benchmark": "a simulated day of audit traffic", "machine": machine(),
                "client": client, "settings": vars(args), "seeded": seeded,
                "summary": summary, "hours": rows}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "audit-day-latest.json").write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


def _summary(rows: list[dict[str, Any]], hours: int, students: int) -> dict[str, Any]:
    """Flatness from the first simulated hour to the last, raw and against the same-moment
    floor, and the audit volume per student per day."""
    first, last = rows[1], rows[-1]

    def over(key: str, later: list[dict[str, Any]], earlier: list[dict[str, Any]]) -> float:
        ratio = statistics.median(r[key] for r in later) / statistics.median(
            r[key] for r in earlier
        )
        return round(float(ratio), 2)

    return {
        "p95_last_over_first_hour": over("p95_ms", [last], [first]),
        "p95_over_mget_last_over_first_hour": over("p95_over_mget", [last], [first]),
        # the last three hours' median over the first three's: less swayed by one slice
        "p95_last3_over_first3": over("p95_ms", rows[-3:], rows[1:4]),
        "p95_over_mget_last3_over_first3": over("p95_over_mget", rows[-3:], rows[1:4]),
        "p95_last_over_before": over("p95_ms", [last], [rows[0]]),
        "requests_per_day": sum(r["requests"] for r in rows) * 24 // max(1, hours),
        "audit_bytes_per_student_per_day": round(last["audit_bytes"] / students * 24 / hours),
        "entries_per_student_per_day": round(last["entries"] / students * 24 / hours, 1),
        "bytes_per_entry": round(last["audit_bytes"] / max(1, last["entries"]), 1),
        "append_seconds": round(sum(r["append_seconds"] for r in rows), 1),
    }


if __name__ == "__main__":
    sys.exit(main())
