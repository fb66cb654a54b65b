"""The ingest function's native consumer mode (`INGEST_MODE=kafka`): Kafka to state, no Dapr.

A consumer-group member that applies what one poll returns as one batch (`handle_records`:
per student one read and one compare-and-set write, pipelined across students) and commits the
batch's offsets only after it is applied. Poison records are dead-lettered inside the batch.
On a transient fault (state store or dead-letter topic down) nothing is committed: the consumer
seeks back to the batch's first offsets and retries it after a capped backoff; a retried batch
is safe because every event's dedupe id lands with its change. On SIGTERM it finishes the
batch in hand, commits and leaves the group. A crash (SIGKILL) loses at most the uncommitted
batches, which the next owner of the partitions applies again, without double counting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka.errors import CommitFailedError, KafkaError

from mastery.config import Settings
from mastery.errors import DependencyUnavailableError
from mastery.services.ingest import IngestDeps, KafkaMetadata, handle_records

log = logging.getLogger(__name__)
POLL_MS = 200
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.1, 5.0
FINAL_COMMIT_S = 5.0


def metadata(record: Any) -> KafkaMetadata:
    """Where a consumed record came from (the same fields Dapr's `__*` headers carry)."""
    key = record.key.decode(errors="replace") if record.key is not None else None
    return KafkaMetadata(
        topic=record.topic,
        partition=str(record.partition),
        offset=str(record.offset),
        key=key,
        timestamp=str(record.timestamp),
    )


class BatchConsumer:
    """Runs the poll, apply, commit loop on a started `AIOKafkaConsumer` until `stop()`."""

    def __init__(self, consumer: Any, deps: IngestDeps, *, max_batch: int = 2_000) -> None:
        self._consumer = consumer
        self._deps = deps
        self._max_batch = max_batch
        self._stopping = asyncio.Event()
        self._uncommitted: dict[Any, int] = {}
        self.applied_batches = 0

    def stop(self) -> None:
        """Finish the batch in hand, commit and return from `run()`."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume until stopped; the last applied offsets are committed on the way out."""
        failures = 0
        while not self._stopping.is_set():
            batch: Mapping[Any, Sequence[Any]] = await self._consumer.getmany(
                timeout_ms=POLL_MS, max_records=self._max_batch
            )
            if not batch:
                continue
            records = [(r.value or b"", metadata(r)) for rs in batch.values() for r in rs]
            try:
                await handle_records(records, self._deps)
            except DependencyUnavailableError as exc:
                failures += 1
                delay = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (failures - 1))
                log.warning("batch not applied (%s); retrying in %.1f s", exc, delay)
                for partition, partition_records in batch.items():
                    self._consumer.seek(partition, partition_records[0].offset)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                continue
            failures = 0
            self.applied_batches += 1
            for partition, partition_records in batch.items():
                self._uncommitted[partition] = partition_records[-1].offset + 1
            await self._commit()
        # Bounded: on Ctrl-C of a local run the broker may already be gone.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._commit(), FINAL_COMMIT_S)

    async def _commit(self) -> None:
        if not self._uncommitted:
            return
        offsets = dict(self._uncommitted)
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError:
            # The group rebalanced: the partitions' new owner starts from the last commit and
            # re-applies this batch as duplicates (no double counting).
            log.warning("offsets not committed: the group rebalanced")
        except KafkaError as exc:
            log.warning("offsets not committed (%s); they go with the next commit", exc)
            return
        for partition, offset in offsets.items():
            if self._uncommitted.get(partition) == offset:
                del self._uncommitted[partition]


async def run(settings: Settings) -> None:
    """The consumer mode's composition root: build adapters, consume until SIGTERM/SIGINT."""
    from aiokafka import AIOKafkaConsumer

    from mastery.bootstrap import build_core, open_sinks

    core = build_core(settings)
    dead_letters, alerts = await open_sinks(settings)
    kafka = settings.kafka
    consumer = AIOKafkaConsumer(
        kafka.topic,
        bootstrap_servers=kafka.brokers,
        group_id=kafka.consumer_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=max(100, kafka.session_timeout_ms // 3),
    )
    deps = IngestDeps(
        store=core.store,
        dead_letters=dead_letters,
        clock=core.clock,
        curriculum=core.curriculum,
        retention_days=settings.retention_days,
        learner=core.learner,
        alerts=alerts,
    )
    loop_runner = BatchConsumer(consumer, deps, max_batch=kafka.max_batch)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop_runner.stop)
    await consumer.start()
    log.info("consuming %s as group %s", kafka.topic, kafka.consumer_group)
    try:
        await loop_runner.run()
    finally:
        await consumer.stop()
        await alerts.aclose()
        await dead_letters.aclose()
        await core.store.aclose()
