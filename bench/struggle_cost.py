"""Per-event cost of struggle detection inside ingest, same run, as ratios: CPU-only and served.

    .venv/bin/python bench/struggle_cost.py [--students 12] [--days 30] [--repeat 7]
                                            [--served-rounds 3] [--served-students 12]

The stream is the run command's demo class (`mastery.local.demo`: exercises started and
finished, code runs with typical errors, quizzes, reviews, help messages from struggling
students). Two measurements, each with detection on and off in the same run:

1. **CPU-only** (the apply path alone). The first three quarters of the stream are applied
   untimed; then the last quarter one event at a time through `mastery.services.ingest.apply`
   (read the record, apply, learner model, struggle detection, dump, compare-and-set write) on
   the in-memory store, in time order and shuffled (late and out-of-order arrival). No I/O at
   all, so this ratio is the most pessimistic one: it divides detection's cost by the cheapest
   possible event. Times are process CPU time; rounds interleave the cases, the best counts.
2. **Served** (the foundation's ingest path, the criterion's). Two ingest processes served
   by functions-framework (ASGI) over one private Redis and Kafka broker: the real function
   (`functions/ingest/main.py`) and the same function with `IngestDeps.struggle=None`
   (`bench/baselines/ingest_without_struggle/main.py`). Each round delivers a fresh copy of
   the whole stream (new student and event ids) to each, exactly as the Dapr Kafka binding
   does (one POST per record, `__*` headers, in order per partition, one in flight per
   partition, 4 partitions). Per case: wall time per event and the server's CPU time per
   event (master and worker, from /proc). Rounds interleave the cases; the best counts.

Uses `REDIS_URL` / `KAFKA_BROKERS` when set, else private servers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.domain.curriculum import CURRICULUM
from mastery.domain.events import LearningEvent, parse_event
from mastery.domain.struggle import StruggleRules
from mastery.entrypoints.envelopes import read_envelope
from mastery.local.functions import RunningFunction, start_function, stop_all, wait_healthy
from mastery.local.run import deliver_like_dapr
from mastery.local.servers import KafkaBroker, RedisServer, free_port
from mastery.ports import Versioned
from mastery.services.ingest import IngestDeps, apply

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
BASELINE = Path(__file__).parent / "baselines" / "ingest_without_struggle" / "main.py"
SERVED = ("served without detection", "served with detection")


def _deps(store: MemoryStateStore, detect: bool) -> IngestDeps:
    return IngestDeps(
        store, MemorySink(), lambda: NOW, CURRICULUM, read_envelope,
        alerts=MemorySink(), struggle=StruggleRules() if detect else None,
    )  # fmt: skip


async def _seed(events: list[LearningEvent], detect: bool) -> dict[str, Versioned]:
    store = MemoryStateStore()
    deps = _deps(store, detect)
    for item in events:
        await apply(item, deps)
    return dict(store.values)


async def _run(seed: dict[str, Versioned], events: list[LearningEvent], detect: bool) -> float:
    """Seconds per event to apply `events` one by one on top of the seeded records."""
    store = MemoryStateStore()
    store.values = dict(seed)
    deps = _deps(store, detect)
    began = time.process_time()  # CPU time: steadier than wall time on a shared machine
    for item in events:
        await apply(item, deps)
    return (time.process_time() - began) / len(events)


async def measure(students: int, days: int, repeat: int) -> tuple[dict[str, float], dict[str, int]]:
    """Best seconds per event of each case, and facts about the stream."""
    from mastery.local.demo import demo_events

    documents = demo_events("bench", students, days, NOW, seed=3)
    events = [parse_event(d, NOW, CURRICULUM) for d in documents]
    split = len(events) * 3 // 4
    history, tail = events[:split], events[split:]
    shuffled = random.Random(5).sample(tail, len(tail))  # noqa: S311 - reproducible, not crypto
    seeds = {detect: await _seed(history, detect) for detect in (False, True)}
    cases = {
        "without detection, in order": (False, tail),
        "with detection, in order": (True, tail),
        "without detection, shuffled": (False, shuffled),
        "with detection, shuffled": (True, shuffled),
    }
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(repeat):
        for name, (detect, batch) in cases.items():
            best[name] = min(best[name], await _run(seeds[detect], batch, detect))
    alerts = 0
    for value in seeds[True].values():
        alerts += len(json.loads(value.data).get("alerts", []))
    facts = {"events": len(events), "timed": len(tail), "alerts in the seeded records": alerts}
    return best, facts


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` and its children (gunicorn master and worker)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(_cpu_seconds(int(child)) for child in children)


def _fresh_stream(students: int, days: int) -> list[dict[str, Any]]:
    """The demo stream with new student and event ids (so every round starts from empty)."""
    from mastery.local.demo import demo_events

    run = uuid.uuid4().hex[:8]
    events = demo_events(f"class-{run}", students, days, datetime.now(UTC), seed=3)
    for event in events:
        event["student_id"], event["id"] = f"{run}-{event['student_id']}", f"{run}-{event['id']}"
    return events


def _deliver(function: RunningFunction, events: list[dict[str, Any]]) -> tuple[float, float]:
    """(wall seconds, server CPU seconds) per event, delivering `events` like daprd."""
    cpu, began = _cpu_seconds(function.process.pid), time.perf_counter()
    outcomes = asyncio.run(deliver_like_dapr(function.url, events, "bench"))
    wall = time.perf_counter() - began
    assert outcomes.get("applied") == len(events), outcomes
    return wall / len(events), (_cpu_seconds(function.process.pid) - cpu) / len(events)


def measure_served(students: int, days: int, rounds: int) -> tuple[dict[str, Any], int]:
    """Best (wall, server CPU) seconds per event of each served case, and the stream length."""
    best: dict[str, Any] = {name: (float("inf"), float("inf")) for name in SERVED}
    with RedisServer() as redis_server, KafkaBroker() as broker:
        broker.create_topics(["learning.events.dlq", "struggle.alerts"], partitions=4)
        env = {"REDIS_URL": redis_server.url, "KAFKA_BROKERS": broker.brokers,
               "LOG_LEVEL": "ERROR", "JWT_SECRET": "bench-secret-with-at-least-32-bytes!"}  # fmt: skip
        functions = [
            start_function("ingest", free_port(), env, source=BASELINE),
            start_function("ingest", free_port(), env),
        ]
        try:
            wait_healthy(functions)
            for function in functions:  # the first request builds the function: not timed
                _deliver(function, _fresh_stream(2, 2))
            length = 0
            for _ in range(rounds):
                for name, function in zip(SERVED, functions, strict=True):
                    events = _fresh_stream(students, days)
                    length = len(events)
                    wall, cpu = _deliver(function, events)
                    best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
        finally:
            stop_all(functions)
    return best, length


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/struggle_cost.py")
    parser.add_argument("--students", type=int, default=12)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--served-rounds", type=int, default=3, help="0 skips the served part")
    parser.add_argument("--served-students", type=int, default=12)
    args = parser.parse_args(argv)
    best, facts = asyncio.run(measure(args.students, args.days, args.repeat))
    out = sys.stdout
    out.write(f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs\n\n")
    out.write("CPU-only: " + ", ".join(f"{k}: {v}" for k, v in facts.items()))
    out.write(f"; best of {args.repeat}\n\n")
    out.write("| case | µs per event | × without detection |\n|---|---|---|\n")
    for name, seconds in best.items():
        order = name.split(", ")[1]
        baseline = best[f"without detection, {order}"]
        out.write(f"| {name} | {seconds * 1e6:.1f} | {seconds / baseline:.3f} |\n")
    if args.served_rounds <= 0:
        return 0
    served, length = measure_served(args.served_students, args.days, args.served_rounds)
    out.write(f"\nServed (HTTP binding, real Redis): {length} events per case and round, ")
    out.write(f"{args.served_students} students; best of {args.served_rounds}\n\n")
    out.write("| case | events/s | wall µs per event | × | server CPU µs per event | × |\n")
    out.write("|---|---|---|---|---|---|\n")
    base_wall, base_cpu = served[SERVED[0]]
    for name, (wall, cpu) in served.items():
        out.write(f"| {name} | {1 / wall:,.0f} | {wall * 1e6:.0f} | {wall / base_wall:.3f} | ")
        out.write(f"{cpu * 1e6:.0f} | {cpu / base_cpu:.3f} |\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
