"""Ingest throughput by path, each against its own baseline measured in the same run.

1. **Native consumer at steady state.** ~200,000 events of a school (21 demo classes of 30
   students over 30 days, merged in time order: each poll holds many students with a few
   events each, and a student's session arrives as a burst) are produced to Kafka, then ingest
   is started as a real process in `INGEST_MODE=kafka`. Reported apart: start + group join +
   first batch (until the first commit), and the steady rate from 10% committed until lag 0,
   with the consumer's CPU per event (/proc) over that stretch.
2. **Baseline for 1: raw pipelined Redis writes of the same records.** The records the
   consumer wrote are read back and written again, one per event (HSET data+version and
   EXPIRE, pipelined 1,000 at a time), from this process.
3. **HTTP binding path vs a bare function.** One POST per event as daprd sends them (in order
   per partition, one in flight per partition) at 4 and 16 partitions, to the served ingest
   function and to `bench/baselines/read_cas` (parse the body, read one record, compare-and-set
   it back by Lua), both functions-framework ASGI servers with the same settings. The bare
   function's records are seeded with the ones ingest wrote for the same students. Rounds
   alternate ingest and bare (fresh event ids for ingest each round); the best round counts.
   CPU per event of each server process from /proc.

    .venv/bin/python -m bench.ingest_paths [--classes 21] [--http-students 16] [--rounds 2]

Uses `REDIS_URL` / `KAFKA_BROKERS` when set, else private servers. The machine's load average
is printed: on a shared machine absolute rates move, the same-run ratios much less.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis import asyncio as aioredis

from bench.cpu import cpu_seconds, descendants
from mastery.local.demo import demo_events
from mastery.local.functions import (
    RunningFunction,
    start_function,
    start_ingest_consumer,
    stop_all,
    wait_healthy,
)
from mastery.local.run import deliver_like_dapr
from mastery.local.servers import KafkaBroker, RedisServer, free_port
from mastery.local.stream import committed, lag, produce

NATIVE_PARTITIONS = 4
BARE = Path(__file__).parent / "baselines" / "read_cas" / "main.py"


def school_events(run: str, classes: int, students: int, days: int) -> list[dict[str, Any]]:
    """Demo classes merged in time order, with student and event ids unique to `run`."""
    now = datetime.now(UTC)
    events = []
    for c in range(classes):
        for e in demo_events(f"{run}-class-{c}", students=students, days=days, now=now, seed=c):
            e["student_id"] = f"{run}-{c}-{e['student_id']}"
            e["id"] = f"{run}-{c}-{e['id']}"
            events.append(e)
    events.sort(key=lambda e: e["occurred_at"])
    return events


def native_consumer(broker: KafkaBroker, env: dict[str, str], events: list[Any]) -> dict[str, Any]:
    """Start-up and steady-state figures of the native consumer process on `events`."""
    run = uuid.uuid4().hex[:8]
    topic, group = f"bench.events.{run}", f"bench.ingest.{run}"
    broker.create_topics([topic], partitions=NATIVE_PARTITIONS)
    ends = asyncio.run(produce(broker.brokers, topic, ((e["student_id"], e) for e in events)))
    total = sum(ends.values())
    started = time.perf_counter()
    process = start_ingest_consumer({**env, "KAFKA_TOPIC": topic, "KAFKA_CONSUMER_GROUP": group,
                                     "KAFKA_SESSION_TIMEOUT_MS": "1000",
                                     "HEALTH_PORT": str(free_port())})  # fmt: skip
    first = warm = None
    try:
        while True:
            done = total - lag(ends, asyncio.run(committed(broker.brokers, group, topic)))
            now = time.perf_counter()
            if first is None and done > 0:
                first = now - started
            if warm is None and done >= total // 10:
                warm, warm_done, warm_cpu = now, done, cpu_seconds(descendants(process.pid))
            if done == total:
                break
            if process.poll() is not None or now - started > 1800:
                raise RuntimeError("the consumer exited or stalled")
            time.sleep(0.2)
        cpu = cpu_seconds(descendants(process.pid)) - warm_cpu
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    steady = total - warm_done
    return {"events": total, "first_commit_s": first, "steady_events": steady,
            "rate": steady / (now - warm), "cpu_us": 1e6 * cpu / steady}  # fmt: skip


async def redis_baseline(url: str, count: int) -> dict[str, float]:
    """Rewrite the stored student records `count` times over, pipelined: writes/s."""
    client = aioredis.Redis.from_url(url)
    records = [(k, await client.hget(k, "data")) async for k in client.scan_iter("student:*")]
    started = time.perf_counter()
    async with client.pipeline(transaction=False) as pipe:
        for n in range(count):
            key, data = records[n % len(records)]
            pipe.hset(b"baseline:" + key, mapping={"data": data, "version": n})
            pipe.expire(b"baseline:" + key, 600)
            if n % 1000 == 999:
                await pipe.execute()
        await pipe.execute()
    elapsed = time.perf_counter() - started
    await client.aclose()
    sizes = sorted(len(d or b"") for _, d in records)
    return {"rate": count / elapsed, "median_record": sizes[len(sizes) // 2],
            "records": len(records)}  # fmt: skip


async def _seed_bare(url: str, events: list[dict[str, Any]]) -> None:
    client = aioredis.Redis.from_url(url)
    for student in {e["student_id"] for e in events}:
        data = await client.hget(f"student:{{{student}}}", "data")
        await client.delete(f"bare:{{{student}}}")
        await client.hset(f"bare:{{{student}}}", mapping={"data": data or b"{}", "version": 1})
    await client.aclose()


def _deliver(function: RunningFunction, events: list[dict[str, Any]], partitions: int) -> dict:
    pids = descendants(function.process.pid)
    cpu, started = cpu_seconds(pids), time.perf_counter()
    outcomes = asyncio.run(deliver_like_dapr(function.url, events, "bench", partitions))
    elapsed, used = time.perf_counter() - started, cpu_seconds(pids) - cpu
    assert outcomes.get("applied") == len(events), outcomes
    return {"rate": len(events) / elapsed, "cpu_us": 1e6 * used / len(events)}


def http_paths(env: dict[str, str], redis_url: str, students: int, rounds: int) -> dict:
    """Best round of ingest and of the bare function at 4 and 16 partitions."""
    ours = start_function("ingest", free_port(), env)
    bare = start_function("read_cas", free_port(), env, source=BARE)
    best: dict[tuple[int, str], dict[str, float]] = {}
    try:
        wait_healthy([ours, bare], timeout=60.0)
        for partitions in (4, 16):
            for _ in range(rounds):
                events = school_events(uuid.uuid4().hex[:6], 1, students, 30)
                results = {"ingest": _deliver(ours, events, partitions)}
                asyncio.run(_seed_bare(redis_url, events))
                results["bare"] = _deliver(bare, events, partitions)
                for name, result in results.items():
                    if result["rate"] > best.get((partitions, name), {"rate": 0.0})["rate"]:
                        best[(partitions, name)] = {**result, "events": len(events)}
    finally:
        stop_all([ours, bare])
    return best


def main() -> None:
    """Run the measurements and print rates, CPU per event and the same-run ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=21, help="demo classes for the consumer")
    parser.add_argument("--http-students", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with RedisServer() as redis_server, KafkaBroker() as broker:
        env = {"REDIS_URL": redis_server.url, "KAFKA_BROKERS": broker.brokers,
               "LOG_LEVEL": "ERROR", "JWT_SECRET": "bench-secret-with-at-least-32-bytes!"}  # fmt: skip
        broker.create_topics(["learning.events.dlq", "struggle.alerts"], partitions=4)
        events = school_events(uuid.uuid4().hex[:6], args.classes, 30, 30)
        native = native_consumer(broker, env, events)
        baseline = asyncio.run(redis_baseline(redis_server.url, len(events)))
        http = http_paths(env, redis_server.url, args.http_students, args.rounds)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M}, {platform.node()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"native consumer: {native['events']:,} events, {NATIVE_PARTITIONS} partitions; "
          f"start + group join + first batch {native['first_commit_s']:.1f} s")  # fmt: skip
    print(f"  steady state ({native['steady_events']:,} events): {native['rate']:,.0f} events/s, "
          f"{native['cpu_us']:.0f} us CPU/event")  # fmt: skip
    print(
        f"  baseline, raw pipelined Redis writes of the same {baseline['records']:,} records "
        f"(median {baseline['median_record']:,} B): {baseline['rate']:,.0f} writes/s"
    )
    print(f"  ratio {native['rate'] / baseline['rate']:.2f}x")
    for partitions in (4, 16):
        ours, bare = http[(partitions, "ingest")], http[(partitions, "bare")]
        print(f"HTTP binding, {partitions} partitions, {ours['events']:,} events, best of "
              f"{args.rounds}: ingest {ours['rate']:,.0f}/s ({ours['cpu_us']:.0f} us CPU/event), "
              f"bare read-and-CAS {bare['rate']:,.0f}/s ({bare['cpu_us']:.0f} us CPU/event), "
              f"ratio {ours['rate'] / bare['rate']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
