"""Ingest throughput by path, in one run, against a baseline of raw Redis pipelined writes.

1. native consumer: N events produced to Kafka, then ingest started as a real process in
   INGEST_MODE=kafka; events/s from its start until the group's lag is zero (includes the
   group join, as a KEDA-scaled pod from zero pays it);
2. HTTP binding: one POST per event to a real served ingest process (functions-framework,
   ASGI), as daprd does — in order per partition, one in flight per partition (4 partitions);
3. baseline: N records of the same size written to Redis with pipelined HSET+EXPIRE.

    .venv/bin/python bench/ingest_paths.py [--students 40] [--days 30]

Uses `REDIS_URL` / `KAFKA_BROKERS` when set, else private servers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from redis import asyncio as aioredis

from mastery.local.demo import demo_events
from mastery.local.functions import running_functions, start_ingest_consumer
from mastery.local.run import deliver_like_dapr
from mastery.local.servers import KafkaBroker, RedisServer, free_port
from mastery.local.stream import produce, wait_for_zero_lag

PARTITIONS = 4


def _events(run: str, students: int, days: int) -> list[dict[str, Any]]:
    events = demo_events(f"class-{run}", students=students, days=days, now=datetime.now(UTC))
    for e in events:
        e["student_id"], e["id"] = f"{run}-{e['student_id']}", f"{run}-{e['id']}"
    return events


def native_consumer(broker: KafkaBroker, env: dict[str, str], events: list[Any]) -> float:
    """Events/s from Kafka to state for the native consumer process (join included)."""
    run = uuid.uuid4().hex[:8]
    topic, group = f"bench.events.{run}", f"bench.ingest.{run}"
    broker.create_topics([topic], partitions=PARTITIONS)
    run_env = {**env, "KAFKA_TOPIC": topic, "KAFKA_CONSUMER_GROUP": group,
               "KAFKA_SESSION_TIMEOUT_MS": "1000"}  # fmt: skip
    ends = asyncio.run(produce(broker.brokers, topic, ((e["student_id"], e) for e in events)))
    started = time.perf_counter()
    process = start_ingest_consumer(run_env)
    try:
        asyncio.run(wait_for_zero_lag(broker.brokers, group, topic, ends, 600))
        elapsed = time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    return len(events) / elapsed


def http_binding(env: dict[str, str], events: list[dict[str, Any]]) -> float:
    """Events/s through one POST per event to a served ingest process."""
    with running_functions({"ingest": free_port()}, env) as functions:
        started = time.perf_counter()
        outcomes = asyncio.run(deliver_like_dapr(functions["ingest"].url, events, "bench"))
        elapsed = time.perf_counter() - started
    assert outcomes.get("applied") == len(events), outcomes
    return len(events) / elapsed


async def _redis_baseline(url: str, count: int, size: int) -> float:
    client = aioredis.Redis.from_url(url)
    value = b"x" * size
    started = time.perf_counter()
    async with client.pipeline(transaction=False) as pipe:
        for n in range(count):
            key = f"bench:{{baseline-{n % 1000}}}:{n}"
            pipe.hset(key, mapping={"data": value, "version": 1})
            pipe.expire(key, 600)
            if n % 1000 == 999:
                await pipe.execute()
        await pipe.execute()
    elapsed = time.perf_counter() - started
    await client.aclose()
    return count / elapsed


def main() -> None:
    """Run the three measurements and print events/s and the ratios to the baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    with RedisServer() as redis_server, KafkaBroker() as broker:
        env = {"REDIS_URL": redis_server.url, "KAFKA_BROKERS": broker.brokers,
               "LOG_LEVEL": "ERROR", "JWT_SECRET": "bench-secret-with-at-least-32-bytes!"}  # fmt: skip
        broker.create_topics(["learning.events.dlq", "struggle.alerts"], partitions=PARTITIONS)
        native_events = _events(uuid.uuid4().hex[:6], args.students, args.days)
        native = native_consumer(broker, env, native_events)
        http = http_binding(env, _events(uuid.uuid4().hex[:6], args.students, args.days))
        size = len(json.dumps(native_events[0])) * 40  # a student record holds ~40 events
        baseline = asyncio.run(_redis_baseline(redis_server.url, len(native_events), size))
    print(f"{datetime.now(UTC):%Y-%m-%d}, {platform.node()}, {os.cpu_count()} CPUs, "
          f"{platform.python_version()}; {len(native_events)} events, {args.students} students, "
          f"{PARTITIONS} partitions; baseline record size {size} B")  # fmt: skip
    print(f"{'path':<34}{'events/s':>10}{'vs baseline':>13}")
    for name, rate in (("native consumer (Kafka -> state)", native),
                       ("HTTP binding (one POST per event)", http),
                       ("baseline: Redis pipelined writes", baseline)):  # fmt: skip
        print(f"{name:<34}{rate:>10,.0f}{rate / baseline:>12.3f}x")


if __name__ == "__main__":
    main()
