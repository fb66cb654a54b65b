"""Per-event cost of the learner model update, against ingest's own per-event work, same run.

    .venv/bin/python bench/learner_update.py [--history 200] [--repeat 7]

Ingest's CPU path for one event (no I/O): parse the Kafka value, load the student's record from
JSON, apply the event, dump the record back to JSON. "With the model" adds what the model needs:
the record carries one learner state per topic, the event's topic state is updated, and the
record is dumped with it. Network round trips to Redis are left out on purpose: they dwarf both
and would hide the ratio. Timings are the best of `--repeat` interleaved rounds (the least disturbed).
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pydantic import Field

from mastery.domain.curriculum import build_curriculum
from mastery.domain.events import QuizCompleted, parse_event
from mastery.domain.learner import LearnerState, ModelParams, p_correct, p_mastered, replay, update
from mastery.domain.record import StudentRecord, apply_event

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TOPICS = build_curriculum().topological_order()


class RecordWithLearner(StudentRecord):
    """The record as ingest would store it with the model: one learner state per topic."""

    learner: dict[str, tuple[float, float, int]] = Field(default_factory=dict)


def _quiz(i: int, topic: str, at: datetime) -> str:
    return json.dumps(
        {
            "id": f"evt-{i}",
            "type": "quiz.completed",
            "student_id": "s-1",
            "topic": topic,
            "occurred_at": at.isoformat(),
            "data": {"quiz_id": f"q-{i}", "correct": i % 4, "total": 4},
        }
    )


def _history(events: int) -> tuple[str, str]:
    """A student's record after `events` quizzes, without and with learner states, as JSON."""
    curriculum, params = build_curriculum(), ModelParams()
    plain, rich = StudentRecord(student_id="s-1"), RecordWithLearner(student_id="s-1")
    for i in range(events):
        topic, at = TOPICS[i % len(TOPICS)], NOW - timedelta(days=30) + timedelta(minutes=9 * i)
        event = parse_event(_quiz(i, topic, at), NOW, curriculum)
        apply_event(plain, event)
        apply_event(rich, event)
        previous = rich.learner.get(topic)
        state = LearnerState(*previous) if previous else None
        rich.learner[topic] = update(state, params.for_topic(topic), (i % 4) / 4, at)
    return plain.model_dump_json(), rich.model_dump_json()


def _timings(cases: list[tuple[str, Callable[[], object]]], repeat: int) -> dict[str, float]:
    """Seconds per call of each case, best of `repeat` rounds.

    The cases take turns within each round, so a burst of load from other processes on this
    shared machine hits them alike instead of skewing one ratio.
    """
    timers = [(name, timeit.Timer(fn)) for name, fn in cases]
    numbers = {name: timer.autorange()[0] for name, timer in timers}
    best = dict.fromkeys(numbers, float("inf"))
    for _ in range(repeat):
        for name, timer in timers:
            best[name] = min(best[name], timer.timeit(numbers[name]) / numbers[name])
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/learner_update.py")
    parser.add_argument("--history", type=int, default=200, help="events already in the record")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    curriculum, params = build_curriculum(), ModelParams()
    plain_json, rich_json = _history(args.history)
    topic = "control_flow.for_loops"
    topic_params = params.for_topic(topic)
    raw = _quiz(10**6, topic, NOW - timedelta(minutes=1))
    state = update(None, topic_params, 1.0, NOW - timedelta(hours=1))
    scratch: dict[str, LearnerState] = {}
    answers = [(NOW - timedelta(minutes=m), (m % 3) / 2) for m in range(50)]

    def ingest_without() -> None:
        record = StudentRecord.model_validate_json(plain_json)
        apply_event(record, parse_event(raw, NOW, curriculum))
        record.model_dump_json()

    def ingest_with() -> None:
        record = RecordWithLearner.model_validate_json(rich_json)
        event = parse_event(raw, NOW, curriculum)
        apply_event(record, event)
        data = event.data
        if not isinstance(data, QuizCompleted):
            raise TypeError("the bench event is a quiz")
        fraction = data.correct / data.total
        stored = record.learner.get(topic)
        previous = LearnerState(*stored) if stored else None
        record.learner[topic] = update(previous, topic_params, fraction, event.occurred_at)
        record.model_dump_json()

    cases: list[tuple[str, Callable[[], object]]] = [
        ("dict assignment (floor)", lambda: scratch.__setitem__(topic, state)),
        (
            "json round trip of one state",
            lambda: LearnerState.from_list(json.loads(json.dumps(state))),
        ),
        ("update()", lambda: update(state, topic_params, 1.0, NOW)),
        (
            "p_correct() + p_mastered()",
            lambda: (p_correct(state, topic_params, NOW), p_mastered(state, topic_params, NOW)),
        ),
        ("replay() of 50 answers (late event)", lambda: replay(answers, topic_params)),
        (f"ingest CPU path, record of {args.history} events, without model", ingest_without),
        (f"ingest CPU path, record of {args.history} events, with model", ingest_with),
    ]
    timings = _timings(cases, args.repeat)
    floor = timings[cases[0][0]]
    without, with_model = timings[cases[-2][0]], timings[cases[-1][0]]
    out = sys.stdout
    out.write("| operation | µs per call | × dict assignment | × ingest without model |\n")
    out.write("|---|---|---|---|\n")
    for name, seconds in timings.items():
        out.write(
            f"| {name} | {seconds * 1e6:.2f} | {seconds / floor:.1f} | {seconds / without:.3f} |\n"
        )
    out.write(
        f"\nmodel overhead inside ingest's CPU path: {(with_model - without) * 1e6:.1f} µs per event "
        f"(+{100 * (with_model / without - 1):.1f} %); update() alone is "
        f"{100 * timings['update()'] / without:.1f} % of ingest without the model\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
