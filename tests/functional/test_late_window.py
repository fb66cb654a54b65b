"""The late-arrival window: what ingest still applies exactly once, and what it dead-letters.

Within the window, shuffled, duplicated and late deliveries end in the same record as an ordered
one; beyond it an event is never applied (not even a redelivery of one applied before) and goes
to the dead letters with the reason.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.config import Settings
from mastery.domain.curriculum import CURRICULUM
from mastery.domain.daily import daily_scores, history
from mastery.domain.events import parse_event
from mastery.domain.mastery import MasteryRules, student_mastery
from mastery.domain.outlook import student_outlook
from mastery.domain.record import StudentRecord
from mastery.domain.record_events import apply_event
from mastery.entrypoints.envelopes import read_envelope
from mastery.entrypoints.http.views import history_point, mastery_view
from mastery.services.ingest import IngestDeps, KafkaMetadata, Outcome, handle_records
from mastery.services.students import load_student
from tests.factories import event, raw

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TOPICS = ("basics.variables", "control_flow.for_loops")
VISITED = "data_structures.lists"
"""Practised in short bursts with longer gaps than the window: its answers are folded away
between visits and each visit resumes from the folded state."""


def _deps(store: MemoryStateStore, window: timedelta) -> IngestDeps:
    return IngestDeps(store=store, dead_letters=MemorySink(), clock=lambda: NOW,
                      curriculum=CURRICULUM, read_envelope=read_envelope, alerts=MemorySink(), late_window=window)  # fmt: skip


def _history(
    rng: random.Random, student: str, count: int, span: timedelta = timedelta(days=10)
) -> list[dict[str, Any]]:
    """`count` events of every kind over `span` (ten days) up to now, in time order."""
    start, events = NOW - span, []
    for n in range(count):
        at = start + n * span / count + timedelta(minutes=rng.randrange(5))
        topic, kind = VISITED if n % 50 < 6 else rng.choice(TOPICS), rng.randrange(6)
        if kind == 0:
            events.append(event("quiz.completed", student, topic, at, quiz_id=f"q{n}",
                                correct=rng.randint(0, 4), total=4))  # fmt: skip
        elif kind == 1:
            events.append(event("code.reviewed", student, topic, at, submission_id=f"r{n}",
                                quality=rng.randint(0, 100)))  # fmt: skip
        elif kind == 2:
            ok = rng.random() < 0.4
            events.append(event("code.executed", student, topic, at, ok=ok,
                                **({} if ok else {"error_type": "TypeError"})))  # fmt: skip
        elif kind == 3:
            events.append(event("exercise.started", student, topic, at, exercise_id=f"e{n % 5}"))
        elif kind == 4:
            events.append(event("exercise.completed", student, topic, at, exercise_id=f"e{n % 5}",
                                difficulty="easy", passed=rng.random() < 0.5))  # fmt: skip
        else:
            events.append(event("help.requested", student, topic, at, text="I'm stuck"))
    return events


def _late_but_within(rng: random.Random, events: list[dict[str, Any]], window: timedelta) -> list:
    """A delivery order in which each event, and a redelivery of every fifth, arrives less than
    `window` after it occurred: shuffled and late, but never beyond the window."""
    arrivals = []
    for n, document in enumerate(events):
        at = datetime.fromisoformat(document["occurred_at"])
        for _ in range(2 if n % 5 == 0 else 1):
            arrivals.append((at + rng.random() * window * 0.99, document))
    return [document for _, document in sorted(arrivals, key=lambda a: a[0])]


async def _deliver(documents: list[dict[str, Any]], window: timedelta, batch: int) -> Any:
    store = MemoryStateStore()
    deps = _deps(store, window)
    records = [(raw(d), KafkaMetadata()) for d in documents]
    outcomes = []
    for start in range(0, len(records), batch):
        outcomes += await handle_records(records[start : start + batch], deps)
    record, _ = await load_student(store, "s1")
    assert record is not None
    return record, outcomes, deps.dead_letters


@pytest.mark.parametrize("seed", range(4))
async def test_shuffled_duplicated_and_late_within_the_window_end_like_in_order(seed: int) -> None:
    rng, window = random.Random(seed), timedelta(hours=30)
    events = _history(rng, "s1", 300)
    in_order, _, _ = await _deliver(events, window, batch=1)
    delivered = _late_but_within(rng, events, window)
    assert delivered != events  # some really arrive out of order
    for batch in (1, 17):
        record, outcomes, letters = await _deliver(delivered, window, batch)
        assert record.model_dump() == in_order.model_dump()
        assert outcomes.count(Outcome.APPLIED) == len(events) == record.applied
        assert Outcome.LATE not in outcomes
        assert not letters.records
    # The visited topic's answers were folded away after its last visit (its state kept).
    assert VISITED in in_order.learner
    assert VISITED not in in_order.answers
    # Scores older than the window (final: no event is ordered among them, no alert reads
    # them) keep no event id; the window's keep theirs.
    scores = [o for t in in_order.topics.values() for o in (*t.quizzes, *t.reviews)]
    recent = in_order.last_event_at - window.total_seconds()
    assert any(not event_id for at, _, event_id in scores if at < recent)
    assert all(not event_id for at, _, event_id in scores if at < recent)
    assert all(event_id for at, _, event_id in scores if at >= recent)
    # Only the window's dedupe ids are kept.
    assert len(in_order.seen) < len(events) / 5
    assert min(in_order.seen.values()) >= in_order.last_event_at - window.total_seconds()


async def test_an_event_beyond_the_window_is_dead_lettered_and_never_applied() -> None:
    store = MemoryStateStore()
    deps = _deps(store, timedelta(hours=6))
    topic = TOPICS[0]
    old = event("quiz.completed", "s1", topic, NOW - timedelta(hours=8), quiz_id="q", correct=1,
                total=2)  # fmt: skip
    applied_then_late = event("quiz.completed", "s1", topic, NOW - timedelta(hours=7),
                              quiz_id="q", correct=2, total=2)  # fmt: skip
    newest = event("code.executed", "s1", topic, NOW, ok=True)
    meta = KafkaMetadata(topic="learning.events", partition="2", offset="41", key="s1")
    deliveries = [applied_then_late, newest, old, applied_then_late, old]
    outcomes = await handle_records([(raw(d), meta) for d in deliveries], deps)
    # The first quiz was within the window when it came; its redelivery, after a newer event
    # pushed it out, is late: not applied twice.
    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED, Outcome.LATE, Outcome.LATE, Outcome.LATE]
    record, _ = await load_student(store, "s1")
    assert record is not None
    assert record.applied == 2
    assert [o[1] for o in record.topics[topic].quizzes] == [1.0]
    letters = [json.loads(value) for _, value in deps.dead_letters.records]
    assert [letter["value"] for letter in letters] == [raw(d).decode() for d in deliveries[2:]]
    assert all(letter["reason"].startswith("late: ") for letter in letters)
    assert "(6 h)" in letters[0]["reason"]
    assert letters[0]["source"] == {"topic": "learning.events", "partition": "2", "offset": "41",
                                    "key": "s1", "timestamp": None}  # fmt: skip


async def test_the_window_is_configured_by_the_environment() -> None:
    assert Settings().late_window_hours == 168
    hours = Settings.from_env({"INGEST_LATE_WINDOW_HOURS": "9"}).late_window_hours
    newest = event("code.executed", "s1", TOPICS[0], NOW, ok=True)
    eight_hours = event("code.executed", "s1", TOPICS[0], NOW - timedelta(hours=8), ok=True)
    outcomes = await handle_records(
        [(raw(newest), KafkaMetadata()), (raw(eight_hours), KafkaMetadata())],
        _deps(MemoryStateStore(), timedelta(hours=hours)),
    )
    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED]


async def test_a_window_of_minutes_keeps_the_ids_of_those_minutes_only() -> None:
    hours = Settings.from_env({"INGEST_LATE_WINDOW_HOURS": "0.25"}).late_window_hours
    store = MemoryStateStore()
    deps = _deps(store, timedelta(hours=hours))
    at = [NOW - timedelta(minutes=m) for m in (40, 10, 0, 20)]  # the last comes 20 minutes late
    documents = [event("code.executed", "s1", TOPICS[0], t, ok=True) for t in at]
    outcomes = await handle_records([(raw(d), KafkaMetadata()) for d in documents], deps)
    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED, Outcome.APPLIED, Outcome.LATE]
    record, _ = await load_student(store, "s1")
    assert record is not None
    assert set(record.seen) == {documents[1]["id"], documents[2]["id"]}  # 40 minutes back: gone
    [letter] = [json.loads(value) for _, value in deps.dead_letters.records]
    assert "(0.25 h)" in letter["reason"]


@pytest.mark.parametrize("seed", range(3))
async def test_busy_days_fold_into_the_same_summaries_in_any_delivery(seed: int) -> None:
    rng, window = random.Random(seed), timedelta(hours=6)
    events = _history(rng, "s1", 400, span=timedelta(days=2))  # ~10 scores a topic-day
    in_order, _, _ = await _deliver(events, window, batch=1)
    summarised = [t.quiz_days + t.review_days for t in in_order.topics.values()]
    assert sum(len(s) for s in summarised) >= 6  # the final days of every topic folded
    delivered = _late_but_within(rng, events, window)
    for batch in (1, 17):
        record, outcomes, _ = await _deliver(delivered, window, batch)
        assert record.model_dump() == in_order.model_dump()
        assert outcomes.count(Outcome.APPLIED) == len(events)


@pytest.mark.parametrize("seed", range(3))
async def test_a_folded_record_scores_counts_and_forecasts_like_all_its_scores(seed: int) -> None:
    rng, window = random.Random(seed), timedelta(hours=6)
    events = _history(rng, "s1", 400, span=timedelta(days=2))
    folded, _, _ = await _deliver(events, window, batch=7)
    whole = StudentRecord(student_id="s1")  # every score kept as it came
    for document in events:
        apply_event(whole, parse_event(document, NOW, CURRICULUM))
    assert any(t.quiz_days for t in folded.topics.values())
    assert not any(t.quiz_days or t.review_days for t in whole.topics.values())
    today, rules = folded.local_day(NOW), MasteryRules()
    views = [mastery_view(student_mastery(r, CURRICULUM, today, rules), CURRICULUM)
             for r in (folded, whole)]  # fmt: skip
    assert views[0] == views[1]  # scores, levels, components and evidence counts
    assert daily_scores(folded, CURRICULUM, today, 30, rules) == daily_scores(
        whole, CURRICULUM, today, 30, rules
    )  # bit for bit
    points = [history(r, CURRICULUM, today, 30, rules) for r in (folded, whole)]
    assert [history_point(p) for p in points[0]] == [history_point(p) for p in points[1]]
    assert student_outlook(folded, CURRICULUM, today, rules, 7) == student_outlook(
        whole, CURRICULUM, today, rules, 7
    )


async def test_at_the_soaks_pace_a_record_stops_growing_once_its_days_are_summarised() -> None:
    """185 events an hour of one student (every event now), a 15-minute window: what the
    record keeps of the scores is a summary per topic and day and the window's raw scores."""
    rng, window, hours = random.Random(3), timedelta(hours=0.25), 6
    events = _history(rng, "s1", 185 * hours, span=timedelta(hours=hours))
    store, sizes = MemoryStateStore(), []
    deps = _deps(store, window)
    for hour in range(hours):
        chunk = events[185 * hour : 185 * (hour + 1)]
        await handle_records([(raw(d), KafkaMetadata()) for d in chunk], deps)
        (value,) = store.values.values()
        sizes.append(len(value.data))
    record, _ = await load_student(store, "s1")
    assert record is not None
    scores = [len(t.quizzes) + len(t.reviews) for t in record.topics.values()]
    # the window's ~15 scores (a third of its events), and under 5 per topic, kind and day
    assert sum(scores) < 185 * 0.25 * 2
    # ~185 scores came in the last three hours (~25 B each stored raw, with their ids)
    assert sizes[-1] < sizes[2] * 1.05, sizes
