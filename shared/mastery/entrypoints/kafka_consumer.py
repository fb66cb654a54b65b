"""The ingest function's native consumer mode (`INGEST_MODE=kafka`): Kafka to state, no Dapr.

A consumer-group member that applies what one poll returns as one batch (`handle_records`:
per student one read and one compare-and-set write, pipelined across students) and commits the
batch's offsets only after it is applied. Poison records are dead-lettered inside the batch.
On a transient fault (state store or dead-letter topic down) nothing is committed: the consumer
seeks back to the batch's first offsets and retries it after a capped backoff; a retried batch
is safe because every event's dedupe id lands with its change. On SIGTERM it finishes the
batch in hand, commits and leaves the group. A crash (SIGKILL) loses at most the uncommitted
batches, which the next owner of the partitions applies again, without double counting.

The broker is an outside dependency like the others: a poll that fails backs off like a batch
that could not be applied, and commits go through the `kafka` circuit breaker (each one timed
out); a commit that fails keeps its offsets for the next one. Alongside runs a small HTTP
server (`mastery.entrypoints.ops_server`) with /healthz, /readyz and /metrics for the pod's probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiokafka.errors import CommitFailedError, KafkaError
from prometheus_client import Counter, Gauge

from mastery.adapters.breaker import CircuitBreaker
from mastery.entrypoints.ops_server import OpsServer, ingest_readiness
from mastery.errors import DependencyUnavailableError
from mastery.services.ingest import IngestDeps, KafkaMetadata, handle_records
from mastery.tracing import TRACEPARENT, TRACESTATE

log = logging.getLogger(__name__)
POLL_MS = 200
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.1, 5.0
FINAL_COMMIT_S = 5.0
# Kafka client timeouts (aiokafka's defaults are 40 s per request): a request to a dead broker
# gives up in 5 s, and a commit is cut off by its breaker at 5 s. A JoinGroup request, though,
# legitimately waits up to the rebalance timeout (the session timeout), so the request timeout
# must exceed it (the Java client uses the same margin), or the consumer can never join a group.
REQUEST_TIMEOUT_MS = 5_000
JOIN_MARGIN_MS = 5_000
COMMIT_TIMEOUT_S = 5.0
METADATA_PROBE_S = 1.0
_TRACE_HEADERS = (TRACEPARENT, TRACESTATE)


def group_timeouts(session_timeout_ms: int) -> dict[str, int]:
    """Session, heartbeat and request timeouts that let a group join finish."""
    return {
        "session_timeout_ms": session_timeout_ms,
        "heartbeat_interval_ms": max(100, session_timeout_ms // 3),
        "request_timeout_ms": max(REQUEST_TIMEOUT_MS, session_timeout_ms + JOIN_MARGIN_MS),
    }


BATCHES = Counter(
    "kafka_consumer_batches_total",
    "Native consumer batches by outcome (applied, retried: not applied, sought back).",
    ["outcome"],
)
ASSIGNED = Gauge("kafka_consumer_assigned_partitions", "Partitions this consumer owns now.")
COMMITS = Counter(
    "kafka_consumer_commits_total", "Native consumer offset commits by outcome.", ["outcome"]
)


class _CommitFailed(DependencyUnavailableError):
    """The broker did not take a commit (counted by the breaker)."""


def metadata(record: Any) -> KafkaMetadata:
    """Where a consumed record came from (the same fields Dapr's `__*` headers carry)."""
    key = record.key.decode(errors="replace") if record.key is not None else None
    headers = {name: value for name, value in record.headers or () if name in _TRACE_HEADERS}
    return KafkaMetadata(
        topic=record.topic,
        partition=str(record.partition),
        offset=str(record.offset),
        key=key,
        timestamp=str(record.timestamp),
        traceparent=_text(headers.get(TRACEPARENT)),
        tracestate=_text(headers.get(TRACESTATE)),
    )


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


class BatchConsumer:
    """Runs the poll, apply, commit loop on a started `AIOKafkaConsumer` until `stop()`."""

    def __init__(
        self,
        consumer: Any,
        deps: IngestDeps,
        *,
        max_batch: int = 2_000,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._consumer = consumer
        self._deps = deps
        self._max_batch = max_batch
        self.breaker = breaker or CircuitBreaker("kafka", call_timeout=COMMIT_TIMEOUT_S)
        self._stopping = asyncio.Event()
        self._uncommitted: dict[Any, int] = {}
        self._failures = 0
        self.applied_batches = 0

    def stop(self) -> None:
        """Finish the batch in hand, commit and return from `run()`."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume until stopped; the last applied offsets are committed on the way out."""
        while not self._stopping.is_set():
            try:
                batch: Mapping[Any, Sequence[Any]] = await self._consumer.getmany(
                    timeout_ms=POLL_MS, max_records=self._max_batch
                )
            except KafkaError as exc:
                await self._back_off(f"poll failed ({exc})")
                continue
            ASSIGNED.set(len(self._consumer.assignment()))
            if not batch:
                continue
            records = [(r.value or b"", metadata(r)) for rs in batch.values() for r in rs]
            try:
                await handle_records(records, self._deps)
            except DependencyUnavailableError as exc:
                BATCHES.labels(outcome="retried").inc()
                for partition, partition_records in batch.items():
                    self._consumer.seek(partition, partition_records[0].offset)
                await self._back_off(f"batch not applied ({exc})")
                continue
            self._failures = 0
            self.applied_batches += 1
            BATCHES.labels(outcome="applied").inc()
            for partition, partition_records in batch.items():
                self._uncommitted[partition] = partition_records[-1].offset + 1
            await self._commit()
        # Bounded: on Ctrl-C of a local run the broker may already be gone.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._commit(), FINAL_COMMIT_S)

    async def _back_off(self, reason: str) -> None:
        self._failures += 1
        delay = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (self._failures - 1))
        log.warning("%s; retrying in %.1f s", reason, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)

    async def _commit(self) -> None:
        if not self._uncommitted:
            return
        offsets = dict(self._uncommitted)
        try:
            await self.breaker.call(lambda: self._commit_now(offsets))
        except CommitFailedError:
            # The group rebalanced: the partitions' new owner starts from the last commit and
            # re-applies this batch as duplicates (no double counting).
            COMMITS.labels(outcome="rebalanced").inc()
            log.warning("offsets not committed: the group rebalanced")
        except DependencyUnavailableError as exc:
            COMMITS.labels(outcome="failed").inc()
            log.warning("offsets not committed (%s); they go with the next commit", exc)
            return
        else:
            COMMITS.labels(outcome="committed").inc()
        for partition, offset in offsets.items():
            if self._uncommitted.get(partition) == offset:
                del self._uncommitted[partition]

    async def _commit_now(self, offsets: dict[Any, int]) -> None:
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError:
            raise  # not the broker's fault: no breaker failure
        except KafkaError as exc:
            raise _CommitFailed(f"commit failed: {exc}") from exc

    async def readiness(self) -> dict[str, bool]:
        """Ready: the broker answers, no breaker is open, the state store is up.

        Owning partitions is not required (it is the `kafka_consumer_assigned_partitions`
        gauge): with as many pods as partitions, a rolling update's surge pod owns none until
        an old pod leaves, and requiring it would stall the rollout.
        """
        return {"kafka": await self._kafka_ready(), **await ingest_readiness(self._deps)}

    async def _kafka_ready(self) -> bool:
        ASSIGNED.set(len(self._consumer.assignment()))
        if self.breaker.is_open:
            return False
        try:  # a metadata round trip: the broker is there, not just our cached assignment
            async with asyncio.timeout(METADATA_PROBE_S):
                await self._consumer.topics()
        except (KafkaError, TimeoutError):
            return False
        return True


class ConsumerApp:
    """The consumer mode assembled (`mastery.bootstrap.consumer_app`): `run()` until SIGTERM."""

    def __init__(
        self,
        consumer: Any,
        batches: BatchConsumer,
        ops: OpsServer,
        close: Callable[[], Awaitable[None]],
    ) -> None:
        self._consumer = consumer
        self.batches = batches
        self._ops = ops
        self._close = close

    def stop(self) -> None:
        """Finish the batch in hand, commit, leave the group and return from `run()`."""
        self.batches.stop()

    async def run(self) -> None:
        """Serve the ops routes, join the group, consume until `stop()` (SIGTERM, SIGINT); then
        leave the group and close every adapter (`close`)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        try:
            await self._ops.start()  # before the broker: liveness answers while the consumer joins
            await self._consumer.start()
            log.info("consuming %s", ", ".join(sorted(self._consumer.subscription())))
            try:
                await self.batches.run()
            finally:
                await self._ops.stop()
                # Bounded: leaving the group waits on a coordinator that may already be gone.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._consumer.stop(), FINAL_COMMIT_S)
        finally:
            await self._close()
