"""Choose the Kafka client by measurement (DESIGN §5): produce, then consume with a group, and check.

Each client produces N keyed records to a fresh 4-partition topic, then one consumer in a fresh
group reads them all with manual commit and commits. Correct means: every record arrives exactly
once and the committed offsets equal the end offsets the producer's acknowledgements show (not
ListOffsets: the bundled Tansu answers it wrongly after a multi-record batch).

    .venv/bin/python bench/kafka_clients.py [--records 20000] [--rounds 3]

Uses `KAFKA_BROKERS` when set, else a private Tansu broker. confluent-kafka is measured only when
it is importable (it is not a project dependency: `pip install confluent-kafka` to include it).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mastery.local.servers import KafkaBroker

PARTITIONS = 4
# Short sessions by default: Tansu delays a group's first join by about half the session timeout,
# which would otherwise dominate the figures (`--default-sessions` shows it).
SESSION_MS, HEARTBEAT_MS = 1000, 100
CONSUME_LIMIT_S = 120.0


@dataclass(frozen=True)
class Run:
    """One client's produce and consume timings and whether its offsets came out right."""

    produce_s: float
    join_s: float  # subscribe to the first record: the group join
    consume_s: float  # subscribe to the commit done
    received: int
    distinct: int
    acked_ends: dict[int, int]
    committed: dict[int, int]

    @property
    def correct(self) -> bool:
        """Every record once, and the committed offsets are the end offsets."""
        total = sum(self.acked_ends.values())
        return self.received == self.distinct == total and self.committed == self.acked_ends


def _value(n: int) -> tuple[bytes, bytes]:
    return f"student-{n % 997}".encode(), f'{{"n": {n}}}'.encode()


async def _aiokafka_run(brokers: str, topic: str, records: int, short: bool) -> Run:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    producer = AIOKafkaProducer(bootstrap_servers=brokers, linger_ms=5)
    await producer.start()
    started = time.perf_counter()
    try:
        futures = []
        for n in range(records):
            key, value = _value(n)
            futures.append(await producer.send(topic, value=value, key=key))
        acks = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    produce_s = time.perf_counter() - started
    ends: dict[int, int] = {}
    for ack in acks:
        ends[ack.partition] = max(ends.get(ack.partition, 0), ack.offset + 1)

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=brokers,
        group_id=f"{topic}.group",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **(
            {"session_timeout_ms": SESSION_MS, "heartbeat_interval_ms": HEARTBEAT_MS}
            if short
            else {}
        ),
    )
    started = time.perf_counter()
    await consumer.start()
    seen: list[bytes] = []
    join_s = 0.0
    try:
        while len(seen) < records and time.perf_counter() - started < CONSUME_LIMIT_S:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            seen.extend(r.value for batch in batches.values() for r in batch if r.value)
            join_s = join_s or (time.perf_counter() - started if seen else 0.0)
        await consumer.commit()
        consume_s = time.perf_counter() - started
        committed = {p: await consumer.committed(TopicPartition(topic, p)) for p in ends}
    finally:
        await consumer.stop()
    return Run(produce_s, join_s, consume_s, len(seen), len(set(seen)), ends, committed)


def aiokafka_run(brokers: str, topic: str, records: int, short: bool = True) -> Run:
    """Measure aiokafka."""
    return asyncio.run(_aiokafka_run(brokers, topic, records, short))


def confluent_run(brokers: str, topic: str, records: int, short: bool = True) -> Run:
    """Measure confluent-kafka (librdkafka) the same way."""
    from confluent_kafka import Consumer, Producer, TopicPartition

    ends: dict[int, int] = {}

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            ends[msg.partition()] = max(ends.get(msg.partition(), 0), msg.offset() + 1)

    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 5})
    started = time.perf_counter()
    for n in range(records):
        key, value = _value(n)
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(30)
    produce_s = time.perf_counter() - started

    config = {
        "bootstrap.servers": brokers,
        "group.id": f"{topic}.group",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }
    if short:
        config |= {"session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": HEARTBEAT_MS}
    consumer = Consumer(config)
    started = time.perf_counter()
    consumer.subscribe([topic])
    seen: list[bytes] = []
    join_s = 0.0
    try:
        while len(seen) < records and time.perf_counter() - started < CONSUME_LIMIT_S:
            for message in consumer.consume(num_messages=5000, timeout=0.5):
                payload = message.value()
                if message.error() is None and payload:
                    seen.append(payload)
            join_s = join_s or (time.perf_counter() - started if seen else 0.0)
        consumer.commit(asynchronous=False)
        consume_s = time.perf_counter() - started
        answers = consumer.committed([TopicPartition(topic, p) for p in ends], timeout=10)
        committed = {tp.partition: tp.offset for tp in answers}
    finally:
        consumer.close()
    return Run(produce_s, join_s, consume_s, len(seen), len(set(seen)), ends, committed)


def measure(name: str, run: Callable[[str, str, int], Run], broker: KafkaBroker,
            records: int, rounds: int) -> list[Run]:  # fmt: skip
    """Run one client `rounds` times, each on a fresh topic and group."""
    runs = []
    for _ in range(rounds):
        topic = f"bench.{name}.{uuid.uuid4().hex[:8]}"
        broker.create_topics([topic], partitions=PARTITIONS)
        runs.append(run(broker.brokers, topic, records))
    return runs


def main() -> None:
    """Measure the clients and print a table (median of the rounds)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--default-sessions", action="store_true", help="keep each client's own group timeouts"
    )
    args = parser.parse_args()

    short = not args.default_sessions
    clients: dict[str, Callable[[str, str, int], Run]] = {
        "aiokafka": functools.partial(aiokafka_run, short=short)
    }
    if importlib.util.find_spec("confluent_kafka"):
        clients["confluent-kafka"] = functools.partial(confluent_run, short=short)
    with KafkaBroker() as broker:
        results = {n: measure(n, c, broker, args.records, args.rounds) for n, c in clients.items()}

    print(f"{args.records} records, {PARTITIONS} partitions, {broker.brokers}, median of "
          f"{args.rounds} rounds; total = produce + group join + consume + commit; "
          f"{'client default' if args.default_sessions else f'{SESSION_MS} ms'} sessions")  # fmt: skip
    print(f"{'client':<16}{'produce/s':>11}{'join s':>8}{'consume/s':>11}{'total/s':>10}  correct")
    totals = {}
    for name, runs in results.items():
        produce = statistics.median(args.records / r.produce_s for r in runs)
        join = statistics.median(r.join_s for r in runs)
        # After the join: how fast the records themselves are fetched and committed.
        consume = statistics.median(r.received / max(r.consume_s - r.join_s, 1e-9) for r in runs)
        totals[name] = statistics.median(args.records / (r.produce_s + r.consume_s) for r in runs)
        verdict = f"{sum(r.correct for r in runs)}/{len(runs)}"
        print(f"{name:<16}{produce:>11,.0f}{join:>8.2f}{consume:>11,.0f}{totals[name]:>10,.0f}"
              f"  {verdict}")  # fmt: skip
        for r in runs:
            if not r.correct:
                print(f"  {name}: received {r.received} ({r.distinct} distinct), "
                      f"acked ends {r.acked_ends}, committed {r.committed}")  # fmt: skip
    if "confluent-kafka" in totals:
        print(f"aiokafka / confluent-kafka total: "
              f"{totals['aiokafka'] / totals['confluent-kafka']:.1f}x")  # fmt: skip
    else:
        print("confluent-kafka is not installed; measured aiokafka only")


if __name__ == "__main__":
    main()
