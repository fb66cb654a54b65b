"""Per-event cost of the learner model's functions, against ingest's own per-event work, same run.

    .venv/bin/python bench/learner_update.py [--history 200] [--repeat 7]

Ingest's CPU path for one event (no I/O): parse the Kafka value, load the student's record from
JSON, apply the event, dump the record back to JSON. "With the model" is the record as ingest
stores it (answers and one learner state per topic) and `track_answer` on the event. Network
round trips to Redis are left out on purpose: they dwarf both and would hide the ratio. Timings
are the best of `--repeat` interleaved rounds (the least disturbed).
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from mastery.domain.curriculum import build_curriculum
from mastery.domain.events import parse_event
from mastery.domain.knowledge import LearnerModel, student_summary
from mastery.domain.knowledge_events import track_answer
from mastery.domain.learner import LearnerState, p_correct, p_mastered, replay, update
from mastery.domain.record import StudentRecord
from mastery.domain.record_events import apply_event
from mastery.entrypoints.envelopes import read_envelope

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TOPICS = build_curriculum().topological_order()


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


def _history(events: int, model: LearnerModel) -> tuple[str, str]:
    """A student's record after `events` quizzes, without and with the learner model, as JSON."""
    curriculum = build_curriculum()
    plain, rich = StudentRecord(student_id="s-1"), StudentRecord(student_id="s-1")
    for i in range(events):
        topic, at = TOPICS[i % len(TOPICS)], NOW - timedelta(days=30) + timedelta(minutes=9 * i)
        event = parse_event(read_envelope(_quiz(i, topic, at)), NOW, curriculum)
        apply_event(plain, event)
        apply_event(rich, event)
        track_answer(rich, event, model)
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
    curriculum, model = build_curriculum(), LearnerModel()
    plain_json, rich_json = _history(args.history, model)
    topic = "control_flow.for_loops"
    topic_params = model.for_topic(topic)
    raw = _quiz(10**6, topic, NOW - timedelta(minutes=1))
    now = NOW.timestamp()
    state = update(None, topic_params, 1.0, now - 3600.0)
    scratch: dict[str, LearnerState] = {}
    answers = [(now - 60.0 * m, (m % 3) / 2) for m in range(50, 0, -1)]
    record = StudentRecord.model_validate_json(rich_json)

    def ingest_without() -> None:
        record = StudentRecord.model_validate_json(plain_json)
        apply_event(record, parse_event(read_envelope(raw), NOW, curriculum))
        record.model_dump_json()

    def ingest_with() -> None:
        record = StudentRecord.model_validate_json(rich_json)
        event = parse_event(read_envelope(raw), NOW, curriculum)
        apply_event(record, event)
        track_answer(record, event, model)
        record.model_dump_json()

    def predict() -> tuple[float, float]:
        summary = student_summary(record, model)
        return (
            p_correct(record.learner.get(topic), summary, topic, model.params, now),
            p_mastered(record.learner.get(topic), topic_params, now),
        )

    cases: list[tuple[str, Callable[[], object]]] = [
        ("dict assignment (floor)", lambda: scratch.__setitem__(topic, state)),
        (
            "json round trip of one state",
            lambda: LearnerState.from_list(json.loads(json.dumps(state))),
        ),
        ("update()", lambda: update(state, topic_params, 1.0, now)),
        (f"summary over {len(record.learner)} topics + p_correct() + p_mastered()", predict),
        ("replay() of 50 answers (late event)", lambda: replay(None, answers, topic_params)),
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
