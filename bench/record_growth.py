"""Record size and ingest cost per event against the length of one student's history.

One student keeps learning the way the run command's demo students do (`mastery.local.demo`:
a daily session on three days of four, exercises started, code runs with typical errors,
passes, reviews, a quiz every third pass; about 12 events a day), cycling through the topics,
for as long as it takes to produce 10,000 events (about two years); they are applied one at a
time in
time order through `mastery.services.ingest.handle_record` (parse, read, apply, learner model,
struggle detection, serialise, compare-and-set) on the in-memory store, the clock following
the events. After 100, 1,000 and 10,000 events: the stored record's size, and the CPU per event
of the next 100 events (process time, best of 3 passes over copies of the same state), and
what the record's bytes are made of: the dedupe ids (bounded by the late-arrival window), the
evidence (passed exercises: by the catalogue; quizzes, reviews — with their day summaries — and
active days: by the 90-day retention), the learner model's answers and states, and the struggle evidence and alerts
(bounded by the struggle rules' windows).

    .venv/bin/python -m bench.record_growth [--points 100,1000,10000] [--seed 1] [--topics 4]
        [--window-hours 168] [--per-hour N]

Like is compared with like: the student keeps to the first `--topics` topics (default 4, the
topics the student has touched by its 100th event), so at every history length it has touched
the same topics and only the history grows; the `topics` column shows it. A record holds a
learner state, passed exercises and scores per topic touched, so the breadth of the curriculum
touched is a size of its own, bounded by the catalogue (31 topics): `--topics 0` cycles through
all of them, and the 10,000-event student has then touched 31 topics where the 100-event one
has touched 4.

`--per-hour N` re-times the same events evenly at N an hour, the way the soak's live traffic
arrives (~185 per student an hour, every event *now*): what a record keeps for the late-arrival
window and the struggle rules' windows then fills with far more events than a real student's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.domain.curriculum import CURRICULUM
from mastery.domain.record import LATE_WINDOW
from mastery.entrypoints.envelopes import read_envelope
from mastery.local.demo import ERRORS
from mastery.services.ingest import IngestDeps, KafkaMetadata, handle_record

SAMPLE = 100
START = datetime(2026, 1, 5, tzinfo=UTC)
SCORE_FIELDS = ("quizzes", "reviews", "quiz_days", "review_days")
"""A topic's scores: raw, and folded into day summaries (stored only when there are any)."""
PARTS = {
    "dedupe ids": ("seen",),
    "passed": (),
    "quizzes+reviews": (),
    "learner": ("answers", "learner"),
    "struggle+alerts": ("struggle", "alerts"),
}


def one_student(count: int, seed: int, topics: int = 0) -> list[dict[str, Any]]:
    """`count` events of one steadily learning student, in time order, cycling through the
    first `topics` topics (0: all of them)."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible story, not secrets
    order, events, day, index, passes = CURRICULUM.topological_order(), [], 0, 0, 0
    order = order[:topics] if topics else order
    while len(events) < count:
        day += 1
        if rng.random() > 0.75:
            continue
        at = START + timedelta(days=day, minutes=rng.randint(0, 240))

        def emit(type_: str, topic: str, minutes: int, **data: Any) -> None:
            nonlocal at
            at += timedelta(minutes=minutes)
            events.append({"id": f"e{len(events)}", "type": type_, "student_id": "s1",
                           "topic": topic, "occurred_at": at.isoformat(), "data": data})  # fmt: skip

        for _ in range(rng.randint(2, 4)):
            topic = order[index % len(order)]
            exercise = f"{topic}.ex{passes % 8 + 1}"
            emit("exercise.started", topic, 1, exercise_id=exercise)
            for _ in range(rng.randint(1, 3)):
                ok = rng.random() < 0.7
                emit("code.executed", topic, 2, ok=ok, exercise_id=exercise,
                     **({} if ok else {"error_type": rng.choice(ERRORS)}))  # fmt: skip
            passed = rng.random() < 0.7
            emit("exercise.completed", topic, 5, exercise_id=exercise, passed=passed,
                 difficulty=rng.choice(("easy", "medium", "hard")))  # fmt: skip
            if passed:
                passes += 1
                emit("code.reviewed", topic, 1, submission_id=f"{exercise}.{day}",
                     quality=rng.randint(40, 100))  # fmt: skip
                if passes % 3 == 0:
                    emit("quiz.completed", topic, 4, quiz_id=f"{topic}.{day}",
                         correct=rng.randint(1, 5), total=5)  # fmt: skip
                if passes % 4 == 0:
                    index += 1
    return events[:count]


class Clock:
    """Wall clock a minute after the newest event applied (events are checked against it)."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


async def _apply(events: list[dict[str, Any]], deps: IngestDeps, clock: Clock) -> float:
    began = time.process_time()
    for document in events:
        clock.now = datetime.fromisoformat(document["occurred_at"]) + timedelta(minutes=1)
        await handle_record(json.dumps(document).encode(), KafkaMetadata(), deps)
    return time.process_time() - began


def _deps(store: MemoryStateStore, clock: Clock, window: timedelta) -> IngestDeps:
    return IngestDeps(store, MemorySink(), clock, CURRICULUM, read_envelope, alerts=MemorySink(),
                      late_window=window)  # fmt: skip


def paced(events: list[dict[str, Any]], per_hour: float) -> list[dict[str, Any]]:
    """The same events, re-timed evenly at `per_hour` from the first one's time."""
    first, step = datetime.fromisoformat(events[0]["occurred_at"]), 3600 / per_hour
    return [{**document, "occurred_at": (first + timedelta(seconds=n * step)).isoformat()}
            for n, document in enumerate(events)]  # fmt: skip


async def measure(
    points: list[int], seed: int, topics: int = 0, window: timedelta = LATE_WINDOW,
    per_hour: float = 0,
) -> list[dict[str, float]]:  # fmt: skip
    """Size and CPU per event at each point (history length)."""
    events = one_student(max(points) + SAMPLE, seed, topics)
    events = paced(events, per_hour) if per_hour else events
    store, clock = MemoryStateStore(), Clock()
    deps, done, rows = _deps(store, clock, window), 0, []
    for point in points:
        await _apply(events[done:point], deps, clock)
        done = point
        (value,) = store.values.values()
        sample = events[point : point + SAMPLE]
        best = min(
            [await _apply(sample, _deps(_copy(store), clock, window), clock) for _ in range(3)]
        )
        span = (clock.now - datetime.fromisoformat(events[0]["occurred_at"])).days
        rows.append({"events": point, "days": span, "bytes": len(value.data),
                     "topics": len(json.loads(value.data)["topics"]),
                     "us_per_event": 1e6 * best / SAMPLE, **_parts(value.data)})  # fmt: skip
    return rows


def _parts(data: bytes) -> dict[str, int]:
    """Bytes of the record's parts (compact JSON of each)."""
    record = json.loads(data)

    def size(value: Any) -> int:
        return len(json.dumps(value, separators=(",", ":")))

    topics = record["topics"].values()
    found = {name: sum(size(record[f]) for f in fields) for name, fields in PARTS.items()}
    found["passed"] = sum(size(t["passed"]) for t in topics)
    found["quizzes+reviews"] = sum(size(t[k]) for t in topics for k in SCORE_FIELDS if k in t)
    return found


def _copy(store: MemoryStateStore) -> MemoryStateStore:
    fresh = MemoryStateStore()
    fresh.values = dict(store.values)
    return fresh


def main() -> None:
    """Print the size and cost at each point and their ratios to the first."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", default="100,1000,10000")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--topics", type=int, default=4,
                        help="cycle through only the first N topics: the history grows, the "
                        "breadth does not (default 4; 0: all 31)")  # fmt: skip
    parser.add_argument("--window-hours", type=float, default=LATE_WINDOW // timedelta(hours=1),
                        help="the late-arrival window (INGEST_LATE_WINDOW_HOURS; fractions "
                        "allowed)")  # fmt: skip
    parser.add_argument("--per-hour", type=float, default=0,
                        help="re-time the events evenly at N an hour (the soak's ~185)")  # fmt: skip
    args = parser.parse_args()
    points = [int(p) for p in args.points.split(",")]
    window = timedelta(hours=args.window_hours)
    rows = asyncio.run(measure(points, args.seed, args.topics, window, args.per_hour))
    first = rows[0]
    print(f"{'events':>7}{'days':>6}{'topics':>7}{'record B':>10}{'x':>6}{'us/event':>10}{'x':>6}"
          + "".join(f"{name:>17}" for name in PARTS))  # fmt: skip
    for row in rows:
        print(f"{row['events']:>7,}{row['days']:>6}{row['topics']:>7}{row['bytes']:>10,}"
              f"{row['bytes'] / first['bytes']:>6.2f}{row['us_per_event']:>10.0f}"
              f"{row['us_per_event'] / first['us_per_event']:>6.2f}"
              + "".join(f"{row[name]:>17,}" for name in PARTS))  # fmt: skip


if __name__ == "__main__":
    main()
