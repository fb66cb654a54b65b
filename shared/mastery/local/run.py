"""`make run`: the whole engine on this machine, fed a month of a class's learning.

Starts a private Redis and Kafka broker (or uses `REDIS_URL` / `KAFKA_BROKERS`), the five
functions as real functions-framework servers (ingest's Dapr binding route stays available), and
ingest in native consumer mode; produces the demo stream to `learning.events` keyed by student,
waits until the consumer group has applied all of it (zero lag), prints URLs and tokens, and
stops everything on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from mastery.config import KafkaSettings
from mastery.local.class_summary import demo_class_text
from mastery.local.demo import demo_events
from mastery.local.functions import (
    FUNCTIONS,
    LOCAL_AUTHORIZATION_SERVER,
    RunningFunction,
    running_functions,
    start_ingest_consumer,
    stop_all,
)
from mastery.local.servers import KafkaBroker, RedisServer
from mastery.local.stream import produce, wait_for_zero_lag
from mastery.web.auth import mint_token

log = logging.getLogger("mastery.run")
CLASS_ID = "class-7b"
CONSUMER = "ingest-consumer"
PARTITIONS = 4


async def deliver_like_dapr(
    url: str, events: list[dict[str, Any]], topic: str, partitions: int = PARTITIONS
) -> dict[str, int]:
    """POST each event as the Dapr Kafka binding does: in order per partition (student), one
    in flight per partition."""
    by_partition: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_partition[hash(event["student_id"]) % partitions].append(event)
    outcomes: dict[str, int] = defaultdict(int)

    async def consume(partition: int, records: list[dict[str, Any]]) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
            for offset, event in enumerate(records):
                response = await client.post(
                    "/learning-events",
                    content=json.dumps(event).encode(),
                    headers={"Content-Type": "application/json", "__topic": topic,
                             "__partition": str(partition), "__offset": str(offset),
                             "__key": event["student_id"],
                             "__timestamp": str(int(datetime.now(UTC).timestamp() * 1000))},
                )  # fmt: skip
                response.raise_for_status()
                outcomes[response.json()["outcome"]] += 1

    await asyncio.gather(*(consume(p, records) for p, records in by_partition.items()))
    return dict(outcomes)


async def stream_through_kafka(
    brokers: str, kafka: KafkaSettings, events: list[dict[str, Any]],
    consumer: subprocess.Popen[bytes],
) -> tuple[int, float]:  # fmt: skip
    """Produce the events keyed by student and wait for zero lag; (records, seconds)."""
    started = datetime.now(UTC)
    ends = await produce(brokers, kafka.topic, ((e["student_id"], e) for e in events))
    await wait_for_zero_lag(brokers, kafka.consumer_group, kafka.topic, ends, consumer=consumer)
    return sum(ends.values()), (datetime.now(UTC) - started).total_seconds()


def dashboard_env(urls: dict[str, str]) -> dict[str, str]:
    """The dashboard is served by query and calls predict and recommend on their own ports."""
    return {
        "CORS_ALLOWED_ORIGINS": urls["query"],
        "DASHBOARD_PREDICT_URL": urls["predict"],
        "DASHBOARD_RECOMMEND_URL": urls["recommend"],
    }


def _banner(urls: dict[str, str], secret: str, summary: str) -> str:
    teacher = mint_token(secret, "teacher-1", "teacher", (CLASS_ID,), ttl=timedelta(hours=12))
    student = mint_token(secret, "student-03", "student", ttl=timedelta(hours=12))
    admin = mint_token(secret, "admin-1", "admin", ttl=timedelta(hours=12))
    lines = ["", "LearnFlow Mastery Engine is running.", ""]
    width = max(len(name) for name in urls)
    lines += [f"  {name:<{width}}  {url}" for name, url in urls.items()]
    lines += [
        "",
        summary,
        "",
        "Dashboard (signed in as the demo teacher; the token is in the URL fragment, which",
        "never reaches a server):",
        f"  {urls['query']}/dashboard/#token={teacher}",
        "",
        f"TEACHER_TOKEN={teacher}",
        f"STUDENT_TOKEN={student}",
        f"ADMIN_TOKEN={admin}",
        "",
        "Try:",
        f'  curl -H "Authorization: Bearer $TEACHER_TOKEN" {urls["query"]}/v1/classes/{CLASS_ID}/mastery',
        f'  curl -H "Authorization: Bearer $STUDENT_TOKEN" {urls["query"]}/v1/students/student-03/mastery',
        f'  curl -H "Authorization: Bearer $STUDENT_TOKEN" "{urls["query"]}/v1/students/student-03/history?days=14"',
        f"  MCP (Streamable HTTP) for agents: {urls['agents']}/mcp with the same bearer tokens",
        "",
        "Ctrl-C stops everything this command started.",
    ]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    """Run the engine until Ctrl-C (or SIGTERM); a clash on a port ends with one line."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("httpx", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # SIGTERM unwinds like Ctrl-C, so every server and function started here is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        ports = _ports(os.environ.get("MASTERY_BASE_PORT", "8081"))
        _run(ports)
    except PortError as exc:
        sys.exit(str(exc))
    except KeyboardInterrupt:
        # Ctrl-C before the banner: everything started so far has been stopped on the way out.
        log.info("stopped")
        sys.exit(128 + signal.SIGINT)


class PortError(RuntimeError):
    """A port the engine needs is taken, or MASTERY_BASE_PORT is not a port."""


def _ports(base: str) -> dict[str, int]:
    """The functions' ports and the consumer's health port, each checked to be free."""
    if not base.isdigit() or not 1024 <= int(base) <= 65535 - len(FUNCTIONS):
        raise PortError(f"MASTERY_BASE_PORT must be a port number from 1024, not {base!r}")
    names = [*FUNCTIONS, CONSUMER]
    ports = {name: int(base) + i for i, name in enumerate(names)}
    for name, port in ports.items():
        with socket.socket() as probe:
            # A listener holds the port; a closed socket's TIME_WAIT does not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                last = int(base) + len(names) - 1
                raise PortError(
                    f"port {port} ({name}) is already in use: set MASTERY_BASE_PORT to the "
                    f"first of {len(names)} free ports (now {base}, using {base}-{last})"
                ) from None
    return ports


def _run(ports: dict[str, int]) -> None:
    secret = os.environ.get("JWT_SECRET") or secrets.token_urlsafe(32)
    kafka = KafkaSettings()
    function_ports = {name: port for name, port in ports.items() if name != CONSUMER}
    # Stopped in the reverse order: the consumer and the functions, then the broker, then Redis.
    with contextlib.ExitStack() as started:
        started.callback(log.info, "stopped redis")
        redis_server = started.enter_context(RedisServer())
        started.callback(log.info, "stopped kafka")
        broker = started.enter_context(KafkaBroker())
        broker.create_topics(
            [kafka.topic, kafka.dead_letter_topic, kafka.alert_topic], partitions=PARTITIONS
        )
        env = {"REDIS_URL": redis_server.url, "KAFKA_BROKERS": broker.brokers,
               "JWT_SECRET": secret, "LOG_LEVEL": "WARNING",
               # This run mints the tokens itself: no real authorization server to name.
               "MCP_AUTHORIZATION_SERVER": LOCAL_AUTHORIZATION_SERVER,
               "MCP_RESOURCE_URL": f"http://127.0.0.1:{ports['agents']}/mcp",
               **dashboard_env({name: f"http://127.0.0.1:{port}" for name, port in ports.items()})}  # fmt: skip
        log.info("redis %s, kafka %s; starting functions...", redis_server.url, broker.brokers)
        consumer = start_ingest_consumer({**env, "HEALTH_PORT": str(ports[CONSUMER])})
        started.callback(log.info, "stopped the ingest consumer")
        started.callback(stop_all, [RunningFunction(CONSUMER, ports[CONSUMER], consumer)])
        started.callback(log.info, "stopped the functions")
        functions = started.enter_context(running_functions(function_ports, env))
        events = demo_events(CLASS_ID, students=30, days=30, now=datetime.now(UTC))
        count, elapsed = asyncio.run(stream_through_kafka(broker.brokers, kafka, events, consumer))
        summary = (f"Demo stream: {count} events through Kafka ({kafka.topic}, "
                   f"{PARTITIONS} partitions), applied by the ingest consumer in "
                   f"{elapsed:.1f} s; consumer lag 0.")  # fmt: skip
        summary += "\n" + asyncio.run(demo_class_text(
            functions["query"].url, functions["recommend"].url, secret, CLASS_ID, 30))  # fmt: skip
        urls = {name: f.url for name, f in functions.items()}
        urls["ingest consumer (health, metrics)"] = f"http://127.0.0.1:{ports[CONSUMER]}"
        _serve_until_signal(_banner(urls, secret, summary))


def _serve_until_signal(banner: str) -> None:
    """Print the banner, then block until Ctrl-C or SIGTERM."""
    stop = asyncio.Event()

    async def wait_for_signal() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # Only now: a Ctrl-C right after the banner must find the handlers in place.
        sys.stdout.write(banner + "\n")
        sys.stdout.flush()
        await stop.wait()

    asyncio.run(wait_for_signal())
    log.info("stopping...")


if __name__ == "__main__":
    main()
