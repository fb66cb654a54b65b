"""Where an ingested event's CPU goes: py-spy on the served binding path and on the consumer.

    .venv/bin/python -m bench.profile_ingest [--path http|native|both] [--classes 4]

`http`: a served ingest (functions-framework, ASGI) gets the demo stream of one class of 16
students one POST per event as daprd sends them (4 partitions, one in flight each); `native`:
ingest in consumer mode applies `--classes` demo classes from Kafka. py-spy samples the serving
process 200 times a second; samples waiting in `select` or inside a socket write (the network,
or a core on a shared machine) are left out, and every other sample is charged to the innermost
frame that names one of the categories below, so the shares add up to the process's CPU; each
share times the process's CPU per event (/proc, over the same stretch; the native consumer's
includes its start and group join) is that category's microseconds per event.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.cpu import cpu_seconds, descendants
from bench.ingest_paths import school_events
from mastery.local.functions import start_function, start_ingest_consumer, stop_all, wait_healthy
from mastery.local.run import deliver_like_dapr
from mastery.local.servers import KafkaBroker, RedisServer, free_port
from mastery.local.stream import produce, wait_for_zero_lag

CATEGORIES = (  # innermost first: a sample goes to the innermost frame matching one of these
    ("event: JSON parse and validation", r"(read_envelope|parse_event) \("),
    ("record: parse", r"(model_validate_json|RecordCache\.take) \("),
    ("record: serialise", r"model_dump_json \("),
    ("struggle detection", r"(detect|sweep) \("),
    ("learner model update", r"track_answer \("),
    ("apply: evidence and dedupe", r"apply_event \("),
    ("alerts: publish", r"publish_unpublished \("),
    ("rosters", r"(keep_enrolments|_roster_departures) \("),
    ("Redis client (redis-py)", r"redis/"),
    ("Kafka client (aiokafka)", r"aiokafka/"),
    ("metrics", r"mastery/metrics"),
    ("logging", r"logging/|mastery/observability"),
    ("ingest service: batching, locks, retries, store calls", r"mastery/(services|adapters)/"),
    ("entry point: route or consumer loop", r"mastery/entrypoints/"),
    ("our HTTP layer", r"mastery/web/"),
    ("ASGI server and framework", r"(starlette|uvicorn|functions_framework|h11|httptools)/"),
    ("asyncio event loop", r"asyncio/"),
)
WAITING = re.compile(r"(EpollSelector\.select|_SelectorSocketTransport\.write) ")


def summarise(raw: Path) -> list[tuple[str, float]]:
    """Share of the on-CPU samples per category, largest first."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if WAITING.search(frames[-1]):
            continue
        category = next(
            (name for frame in reversed(frames) for name, pattern in CATEGORIES
             if re.search(pattern, frame)),
            "other",
        )  # fmt: skip
        counts[category] += int(n)
    total = sum(counts.values()) or 1
    return [(name, n / total) for name, n in counts.most_common()]


def _spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    spy = Path(sys.executable).with_name("py-spy")
    command = [str(spy), "record", "-p", str(pid), "-o", str(out), "--format", "raw",
               "-r", "200", "--nonblocking"]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603


def _stop(spy: subprocess.Popen[bytes]) -> None:
    spy.send_signal(signal.SIGINT)
    spy.wait(60)


def profile_http(env: dict[str, str], out: Path) -> tuple[int, float]:
    """Profile the served binding path; the events delivered while sampling, their CPU (s)."""
    function = start_function("ingest", free_port(), env)
    try:
        wait_healthy([function], timeout=60.0)
        events = school_events(uuid.uuid4().hex[:6], 1, 16, 30)
        asyncio.run(deliver_like_dapr(function.url, events[:300], "bench", 4))  # warm up
        server = descendants(function.process.pid)[-1]
        spy = _spy(server, out)
        time.sleep(1)
        cpu = cpu_seconds([server])
        asyncio.run(deliver_like_dapr(function.url, events[300:], "bench", 4))
        cpu = cpu_seconds([server]) - cpu
        _stop(spy)
    finally:
        stop_all([function])
    return len(events) - 300, cpu


def profile_native(
    env: dict[str, str], broker: KafkaBroker, classes: int, out: Path
) -> tuple[int, float]:
    """Profile the native consumer on `classes` demo classes; the events, their CPU (s)."""
    topic, group = f"profile.{uuid.uuid4().hex[:8]}", f"profile.{uuid.uuid4().hex[:8]}"
    broker.create_topics([topic], partitions=4)
    events = school_events(uuid.uuid4().hex[:6], classes, 30, 30)
    ends = asyncio.run(produce(broker.brokers, topic, ((e["student_id"], e) for e in events)))
    process = start_ingest_consumer({**env, "KAFKA_TOPIC": topic, "KAFKA_CONSUMER_GROUP": group,
                                     "KAFKA_SESSION_TIMEOUT_MS": "1000",
                                     "HEALTH_PORT": str(free_port())})  # fmt: skip
    try:
        spy = _spy(process.pid, out)
        asyncio.run(wait_for_zero_lag(broker.brokers, group, topic, ends, 1800, process))
        cpu = cpu_seconds([process.pid])
        _stop(spy)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    return len(events), cpu


def main() -> None:
    """Profile the chosen paths and print each category's share of the CPU samples."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", choices=("http", "native", "both"), default="both")
    parser.add_argument("--classes", type=int, default=4)
    args = parser.parse_args()
    with (
        RedisServer() as redis_server,
        KafkaBroker() as broker,
        tempfile.TemporaryDirectory() as tmp,
    ):
        env = {"REDIS_URL": redis_server.url, "KAFKA_BROKERS": broker.brokers,
               "LOG_LEVEL": "ERROR", "JWT_SECRET": "bench-secret-with-at-least-32-bytes!"}  # fmt: skip
        broker.create_topics(["learning.events.dlq", "struggle.alerts"], partitions=4)
        results = {}
        if args.path in ("http", "both"):
            out = Path(tmp) / "http.txt"
            results["HTTP binding path"] = (*profile_http(env, out), summarise(out))
        if args.path in ("native", "both"):
            out = Path(tmp) / "native.txt"
            results["native consumer"] = (*profile_native(env, broker, args.classes, out),
                                          summarise(out))  # fmt: skip
    for name, (events, cpu, shares) in results.items():
        per_event = 1e6 * cpu / events
        print(f"{name} ({events:,} events, {per_event:.0f} us CPU per event, /proc):")
        for category, share in shares:
            print(f"  {100 * share:5.1f}%  {per_event * share:6.0f} us  {category}")


if __name__ == "__main__":
    main()
