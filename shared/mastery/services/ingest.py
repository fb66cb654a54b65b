"""Apply Kafka records (one, or a batch) to the state: validate, dedupe, update, dead-letter.

Exactly-once: the event id joins the student's dedupe set in the same compare-and-set write as
the change it causes, so a redelivery (at-least-once Kafka) or a concurrent delivery is applied
once. A lost compare-and-set is retried on a fresh read. The dedupe set covers the late-arrival
window (`IngestDeps.late_window`); an event further behind its student's newest event is late:
never applied, dead-lettered with the reason (`mastery.domain.record`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from enum import StrEnum

from mastery.domain.curriculum import Curriculum
from mastery.domain.events import LearningEvent, parse_event
from mastery.domain.knowledge import LearnerModel
from mastery.domain.knowledge_events import track_answer
from mastery.domain.record import LATE_WINDOW, StudentRecord
from mastery.domain.record_events import apply_event, fold_scores, roster_class, too_late
from mastery.domain.struggle import StruggleRules
from mastery.domain.struggle_events import detect
from mastery.errors import PoisonEventError, StateUnavailableError
from mastery.observability import EVENTS_TOTAL
from mastery.ports import Clock, EventSink, StateStore, Write
from mastery.services.keyed_locks import KeyedLocks
from mastery.services.learner_rollout import LearnerModels
from mastery.services.outbox import publish_all_unpublished
from mastery.services.record_cache import RecordCache
from mastery.services.retry import MAX_ATTEMPTS, CompareAndSetRounds
from mastery.services.rosters import RosterMemo, keep_enrolments
from mastery.services.students import (
    retention_ttl,
    student_key,
)
from mastery.services.tombstones import erasure_times
from mastery.tracing import TraceContext, delivered_trace, event_traces, traced

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"
    ERASED = "erased"  # happened before its student's erasure (services.tombstones)
    LATE = "late"  # beyond the late-arrival window behind its student's newest event


@dataclass(frozen=True)
class KafkaMetadata:
    """Where a record came from (Dapr's `__topic`… headers, or the native consumer)."""

    topic: str | None = None
    partition: str | None = None
    offset: str | None = None
    key: str | None = None
    timestamp: str | None = None
    traceparent: str | None = None
    """The W3C trace context the record came with (daprd's or the record's own headers)."""
    tracestate: str | None = None


EnvelopeReader = Callable[[bytes], Mapping[str, object]]
"""Reads a Kafka record's value into the event document, or raises PoisonEventError (the
envelopes are the transports': `mastery.entrypoints.envelopes.read_envelope`)."""


@dataclass(frozen=True)
class IngestDeps:
    """What applying an event needs."""

    store: StateStore
    dead_letters: EventSink
    clock: Clock
    curriculum: Curriculum
    read_envelope: EnvelopeReader
    retention_days: int = 90
    late_window: timedelta = LATE_WINDOW
    """How far behind a student's newest event an event is still applied (and deduped by id)."""
    locks: KeyedLocks = field(default_factory=KeyedLocks)
    learner: LearnerModels | None = field(default_factory=lambda: LearnerModels(LearnerModel()))
    """The learner models (each student's, by the `learner-model` flag) updated per graded
    answer; None switches the model off (benchmark baseline)."""
    alerts: EventSink | None = None
    """Where new struggle alerts are published, before the write that stores them (None: stored,
    not published; `mastery.services.outbox`)."""
    struggle: StruggleRules | None = field(default_factory=StruggleRules)
    """The struggle triggers; None switches detection off (benchmark baseline)."""
    records: RecordCache = field(default_factory=RecordCache)
    """Parsed records of recent students, reused when the stored bytes are unchanged."""
    rosters: RosterMemo = field(default_factory=RosterMemo)
    """Roster expiries this process knows, so most events skip the roster read (`rosters`)."""


TOO_LARGE_KEPT_BYTES = 1024
"""How much of a record over the size limit its dead letter keeps."""


def dead_letter(
    raw: bytes, reason: str, meta: KafkaMetadata, deps: IngestDeps, size: int | None = None
) -> bytes:
    """The dead-letter record: the reason, the original value (or, when `size` says the value
    was longer, its first bytes), its size and where it came from."""
    try:
        value: str = raw.decode()
        encoding = "utf-8"
    except UnicodeDecodeError:
        value, encoding = base64.b64encode(raw).decode(), "base64"
    document = {
        "reason": reason,
        "value": value,
        "value_encoding": encoding,
        "value_bytes": len(raw) if size is None else size,
        "value_truncated": size is not None and size > len(raw),
        "source": _source(meta),
        "dead_lettered_at": deps.clock().isoformat(),
    }
    return json.dumps(document).encode()


def _source(meta: KafkaMetadata) -> dict[str, str | None]:
    # Where the record came from; its trace context travels as headers, not in the document.
    return {k: v for k, v in asdict(meta).items() if k not in ("traceparent", "tracestate")}


async def handle_record(raw: bytes, meta: KafkaMetadata, deps: IngestDeps) -> Outcome:
    """Apply one record; poison goes to the dead letters. Raises only for transient faults."""
    return (await handle_records([(raw, meta)], deps))[0]


async def handle_records(
    records: Sequence[tuple[bytes, KafkaMetadata]], deps: IngestDeps
) -> list[Outcome]:
    """Apply a batch of records (the HTTP and gRPC bindings pass one, the consumer many).

    Poison goes to the dead letters, the valid events through `apply_batch`, and late events
    (not applied) to the dead letters after it. Raises only for transient faults; then some of
    the batch may be applied already, and a retry of the whole batch is safe (dedupe ids; a
    late event stays late), so the caller acknowledges nothing.
    """
    parsed = ParsedRecords(records, deps)
    parsed.parse()
    return await apply_parsed(parsed)


class ParsedRecords:
    """A batch of records read into valid events and poison, ready for `apply_parsed`.

    Parsing is CPU alone (nothing is sent or stored), so a consumer can parse its next batch,
    a part at a time, while the one before waits on the store (`parse(count)`).
    """

    def __init__(self, records: Sequence[tuple[bytes, KafkaMetadata]], deps: IngestDeps) -> None:
        self.records = records
        self.deps = deps
        self.events: list[LearningEvent] = []
        self.positions: list[int] = []
        """The position in `records` of each event."""
        self.poison: list[tuple[int, str]] = []
        """(position, reason) of each record that is no valid event."""
        self.traces: dict[str, TraceContext] = {}
        self._now = deps.clock()
        self._next = 0

    def parse(self, count: int | None = None) -> None:
        """Parse the next `count` records (default: all that are left)."""
        deps, now = self.deps, self._now
        stop = len(self.records) if count is None else min(len(self.records), self._next + count)
        for position in range(self._next, stop):
            raw, meta = self.records[position]
            try:
                event = parse_event(deps.read_envelope(raw), now, deps.curriculum)
            except PoisonEventError as exc:
                self.poison.append((position, exc.reason))
                continue
            self.events.append(event)
            self.positions.append(position)
            if (trace := delivered_trace(meta.traceparent, meta.tracestate)) is not None:
                self.traces[event.id] = trace
        self._next = stop


async def apply_parsed(parsed: ParsedRecords) -> list[Outcome]:
    """Dead-letter the poison of a parsed batch, apply its events, dead-letter the late ones
    (`handle_records`, of which this is the part after parsing)."""
    records, deps, events = parsed.records, parsed.deps, parsed.events
    outcomes: list[Outcome] = [Outcome.DEAD_LETTERED] * len(records)
    letters = [
        _dead_letter(records[p][0], reason, records[p][1], deps) for p, reason in parsed.poison
    ]
    await asyncio.gather(*letters)
    if letters:
        EVENTS_TOTAL.labels(outcome=Outcome.DEAD_LETTERED, type="invalid").inc(len(letters))
    late = []
    counts: Counter[tuple[Outcome, str]] = Counter()
    with event_traces(parsed.traces):  # alerts go on in the trace of the event that raised them
        applied = await apply_batch(events, deps)
    for position, event, outcome in zip(parsed.positions, events, applied, strict=True):
        outcomes[position] = outcome
        if outcome is Outcome.LATE:
            raw, meta = records[position]
            late.append(_dead_letter(raw, _late_reason(deps), meta, deps))
        counts[outcome, event.type] += 1
    await asyncio.gather(*late)
    for (outcome, type_), count in counts.items():  # one metric update per kind, not per event
        EVENTS_TOTAL.labels(outcome=outcome, type=type_).inc(count)
    return outcomes


async def handle_too_large(
    prefix: bytes, size: int, meta: KafkaMetadata, deps: IngestDeps
) -> Outcome:
    """A record over the size limit: dead-lettered as `too_large` with its first bytes, so the
    caller acknowledges it and the partition moves on."""
    await _dead_letter(prefix[:TOO_LARGE_KEPT_BYTES], "too_large", meta, deps, size)
    EVENTS_TOTAL.labels(outcome=Outcome.DEAD_LETTERED, type="invalid").inc()
    return Outcome.DEAD_LETTERED


def _late_reason(deps: IngestDeps) -> str:
    hours = deps.late_window.total_seconds() / 3600
    return (
        f"late: occurred more than the late-arrival window ({hours:g} h) before its student's "
        "newest event; not applied"
    )


async def _dead_letter(
    raw: bytes, reason: str, meta: KafkaMetadata, deps: IngestDeps, size: int | None = None
) -> None:
    # Its own task (gather): the record's trace is bound for its log line and its send only.
    with traced("dead-letter", meta.traceparent, meta.tracestate):
        await deps.dead_letters.publish(meta.key or "", dead_letter(raw, reason, meta, deps, size))
        log.warning("dead-lettered a record: %s", reason, extra={"kafka": _source(meta)})


async def apply(event: LearningEvent, deps: IngestDeps) -> Outcome:
    """Apply a valid event exactly once to its student's record."""
    return (await apply_batch([event], deps))[0]


async def apply_batch(events: Sequence[LearningEvent], deps: IngestDeps) -> list[Outcome]:
    """Apply valid events exactly once: per student one read, all its events, one CAS write.

    Reads and writes of all the students go to the store in one round trip each
    (`read_many` / `write_many`); students whose compare-and-set lost are retried on a fresh
    read, the others are done.
    """
    by_student: dict[str, list[int]] = defaultdict(list)
    for position, event in enumerate(events):
        by_student[event.student_id].append(position)
    outcomes = [Outcome.DUPLICATE] * len(events)
    async with AsyncExitStack() as held:
        for student_id in sorted(by_student):  # one order everywhere: no lock cycles
            await held.enter_async_context(deps.locks.hold(student_id))
        pending = sorted(by_student)
        sent: set[str] = set()  # alerts published by a round whose write then lost
        async for _ in CompareAndSetRounds():
            pending = await _apply_round(pending, by_student, events, outcomes, deps, sent)
            if not pending:
                return outcomes
    raise StateUnavailableError(f"gave up after {MAX_ATTEMPTS} concurrent updates of {pending}")


async def _apply_round(
    student_ids: list[str], by_student: dict[str, list[int]], events: Sequence[LearningEvent],
    outcomes: list[Outcome], deps: IngestDeps, sent: set[str],
) -> list[str]:  # fmt: skip
    """One read-apply-write round; returns the students whose compare-and-set lost.

    New struggle alerts are published before the write and stored marked published in it (one
    write per student; a failed publish raises, and nothing is written).
    """
    stored = await deps.store.read_many([student_key(s) for s in student_ids])
    # Only a student without a record needs its tombstone read: a record begun after an
    # erasure carries the erasure's time, and an erasure that commits after this read deletes
    # the record, so this round's compare-and-set fails and the retry reads the tombstone.
    erasures = await erasure_times(
        deps.store, [s for s, value in zip(student_ids, stored, strict=True) if value is None]
    )
    records: dict[str, StudentRecord] = {}
    changed: set[str] = set()
    for student_id, value in zip(student_ids, stored, strict=True):
        if value is not None:
            record = deps.records.take(student_key(student_id), value.data)
        else:
            erased = erasures.get(student_id)
            record = StudentRecord(
                student_id=student_id, erased_at=erased.timestamp() if erased else None
            )
        records[student_id] = record
        if _apply_events(record, by_student[student_id], events, outcomes, deps):
            changed.add(student_id)
    changed |= await publish_all_unpublished(deps.alerts, list(records.values()), sent)
    encoded: dict[str, bytes] = {}  # the stored bytes each record equals, once written
    writes: list[Write] = []
    for student_id, value in zip(student_ids, stored, strict=True):
        record = records[student_id]
        if student_id in changed:
            ttl = retention_ttl(record.last_event_at, deps.clock(), deps.retention_days)
            data = record.model_dump_json().encode()
            etag = value.etag if value is not None else None
            writes.append(Write(student_key(student_id), data, etag, ttl))
            encoded[student_id] = data
        elif value is not None:
            encoded[student_id] = value.data
    results = await deps.store.write_many(writes)
    lost = {w.key for w, etag in zip(writes, results, strict=True) if etag is None}
    written = [r for s, r in records.items() if student_key(s) not in lost]
    leaving = _roster_departures(written, by_student, events, deps)
    await keep_enrolments(
        deps.store, written, deps.clock(), deps.retention_days, deps.rosters, leaving
    )
    for student_id, data in encoded.items():
        if student_key(student_id) not in lost:
            deps.records.keep(student_key(student_id), data, records[student_id])
    return [s for s in student_ids if student_key(s) in lost]


def _apply_events(
    record: StudentRecord, positions: list[int], events: Sequence[LearningEvent],
    outcomes: list[Outcome], deps: IngestDeps,
) -> bool:  # fmt: skip
    """Apply the events at `positions` (one student's) to its record, setting their outcomes;
    whether any was applied. Struggle detection sees the applied ones together (one
    re-derivation of the alerts per run of them, not per event: `detect`); the scores they made
    final are folded after it."""
    applied = []
    window, newest = deps.late_window, record.last_event_at
    model = deps.learner.for_student(record.student_id) if deps.learner is not None else None
    for position in positions:
        event = events[position]
        if record.erased_at is not None and event.epoch < record.erased_at:
            outcomes[position] = Outcome.ERASED
        elif apply_event(record, event, window):
            if model is not None:
                track_answer(record, event, model, window)
            outcomes[position] = Outcome.APPLIED
            applied.append(event)
        elif too_late(record, event, window):
            outcomes[position] = Outcome.LATE
        else:
            outcomes[position] = Outcome.DUPLICATE
    if applied and deps.struggle is not None:
        detect(record, applied, deps.struggle, window)
    if applied:
        fold_scores(record, newest, window)
    return bool(applied)


def _roster_departures(
    written: Sequence[StudentRecord], by_student: dict[str, list[int]],
    events: Sequence[LearningEvent], deps: IngestDeps,
) -> list[tuple[str, str]]:  # fmt: skip
    """(class, student) pairs a roster event took out of a class, as the records now say.

    Every roster event, replays included, makes its roster entry be re-checked: joins are added
    by `keep_enrolments`, departures returned here are removed in the same roster update.
    """
    leaving = []
    for record in written:
        for position in by_student[record.student_id]:
            class_id = roster_class(events[position])
            if class_id is not None:
                deps.rosters.forget(class_id, record.student_id)
                if class_id not in record.enrolled_classes():
                    leaving.append((class_id, record.student_id))
    return leaving
