"""The ingest function's native consumer mode (`INGEST_MODE=kafka`): Kafka to state, no Dapr.

A consumer-group member that applies what one poll returns as one batch (`apply_parsed`: per
student one read and one compare-and-set write, pipelined across students) and commits the
batch's offsets only after it is applied. While a batch is applied, the next is polled and
parsed (`ParsedRecords`: CPU only), so the store's round trips overlap the parsing; the next
batch is applied only after the one before it, so a student's events stay in order. Poison
records are dead-lettered inside the batch. On a transient fault (state store or dead-letter
topic down) nothing is committed: the consumer seeks back to the batch's first offsets (and the
parsed next batch's) and retries it after a capped backoff; a retried batch is safe because
every event's dedupe id lands with its change. On SIGTERM it finishes the batch in hand,
commits and leaves the group. A crash (SIGKILL) loses at most the uncommitted batches, which
the next owner of the partitions applies again, without double counting.

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
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import CommitFailedError, KafkaError

from mastery.adapters.breaker import CircuitBreaker
from mastery.entrypoints.ops_server import OpsServer, ingest_readiness
from mastery.errors import DependencyUnavailableError
from mastery.metrics import Counter, Gauge
from mastery.services.ingest import IngestDeps, KafkaMetadata, ParsedRecords, apply_parsed
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
PARSE_SLICE = 200
"""Records parsed between two chances for the batch in flight to take its store replies."""


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
    traceparent = tracestate = None
    for name, value in record.headers or ():  # most records carry none
        if name == TRACEPARENT:
            traceparent = _text(value)
        elif name == TRACESTATE:
            tracestate = _text(value)
    return KafkaMetadata(record.topic, str(record.partition), str(record.offset), key,
                         str(record.timestamp), traceparent, tracestate)  # fmt: skip


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


@dataclass(frozen=True)
class _Applying:
    """A polled batch and the task applying it."""

    batch: Mapping[Any, Sequence[Any]]
    task: asyncio.Task[Any]


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
        """Consume until stopped; the last applied offsets are committed on the way out.

        One batch is applied while the next is polled and parsed, so the store's round trips
        of one overlap the parsing of the next; a batch starts only once the one before it is
        applied (a student's events are applied in order), and its offsets are committed only
        after that.
        """
        applying: _Applying | None = None
        try:
            while not self._stopping.is_set():
                try:
                    batch: Mapping[Any, Sequence[Any]] = await self._consumer.getmany(
                        timeout_ms=POLL_MS, max_records=self._max_batch
                    )
                except KafkaError as exc:
                    if applying is None or await self._settle(applying, {}):
                        await self._commit()
                        await self._back_off(f"poll failed ({exc})")
                    applying = None
                    continue
                ASSIGNED.set(len(self._consumer.assignment()))
                parsed = await self._parse(batch) if batch else None
                settled = applying is None or await self._settle(applying, batch)
                applying = None
                if not settled:
                    continue  # both batches were sought back
                if parsed is not None:
                    applying = _Applying(batch, asyncio.create_task(apply_parsed(parsed)))
                await self._commit()  # the batch before, while this one is applied
            if applying is not None:
                await self._settle(applying, {})
                applying = None
        finally:
            if applying is not None:  # run() was cancelled or failed: nothing is committed
                applying.task.cancel()
                await asyncio.wait([applying.task])
        # Bounded: on Ctrl-C of a local run the broker may already be gone.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._commit(), FINAL_COMMIT_S)

    async def _parse(self, batch: Mapping[Any, Sequence[Any]]) -> ParsedRecords:
        """Parse a polled batch a part at a time, letting the batch in flight take its replies."""
        records = [(r.value or b"", metadata(r)) for rs in batch.values() for r in rs]
        parsed = ParsedRecords(records, self._deps)
        for start in range(0, len(records), PARSE_SLICE):
            if start:
                await asyncio.sleep(0)
            parsed.parse(PARSE_SLICE)
        return parsed

    async def _settle(self, applying: _Applying, next_batch: Mapping[Any, Sequence[Any]]) -> bool:
        """Wait for a batch to be applied and mark its offsets for the next commit; whether it
        was. On a transient fault it and `next_batch` (polled after it, not applied) are sought
        back to their first offsets and the consumer backs off."""
        try:
            await applying.task
        except DependencyUnavailableError as exc:
            BATCHES.labels(outcome="retried").inc()
            firsts = {p: rs[0].offset for p, rs in next_batch.items() if rs}
            firsts.update({p: rs[0].offset for p, rs in applying.batch.items() if rs})
            for partition, offset in firsts.items():
                self._consumer.seek(partition, offset)
            await self._back_off(f"batch not applied ({exc})")
            return False
        self._failures = 0
        self.applied_batches += 1
        BATCHES.labels(outcome="applied").inc()
        for partition, partition_records in applying.batch.items():
            self._uncommitted[partition] = partition_records[-1].offset + 1
        return True

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
