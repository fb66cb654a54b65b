"""CPU time the learner model adds to ingest per event, by process time (robust on a busy machine).

    .venv/bin/python bench/learner_cpu.py [--rounds 5]

A record of 300 events over 30 days in 8 topics (as bench/learner_in_ingest.py seeds it), then
300 new events, in time order after it (the common case: Kafka delivers a student's events in
order) or each one late (a day before the newest event: every one a replay). Per event:
`track_answer` (the model's update, pruning and replays), and the record's JSON dump and parse
with the learner fields and without them. Timed with `time.process_time`, so other processes' load on this shared
machine slows it far less than wall-clock timings; the best of `--rounds` counts. It uses only
names that earlier versions of the model also had, so the same file measures another checkout
of the repository in the same session (e.g. `git archive main | tar -x -C /tmp/main`, then run
it with `PYTHONPATH=/tmp/main/shared`) for a ratio against the same baseline.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from mastery.domain.curriculum import CURRICULUM
from mastery.domain.events import LearningEvent, parse_event
from mastery.domain.knowledge import LearnerModel
from mastery.domain.knowledge_events import track_answer
from mastery.domain.record import StudentRecord
from mastery.domain.record_events import apply_event

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TOPICS = CURRICULUM.topological_order()[:8]


def _event(i: int, at: datetime, rng: random.Random) -> LearningEvent:
    topic, kind = TOPICS[i % len(TOPICS)], i % 3
    if kind == 0:
        type_, data = (
            "quiz.completed",
            {"quiz_id": f"q{i}", "correct": rng.randint(0, 5), "total": 5},
        )
    elif kind == 1:
        type_ = "exercise.completed"
        data = {"exercise_id": f"e{i % 40}", "difficulty": "medium", "passed": rng.random() < 0.7}
    else:
        ok = rng.random() < 0.6
        type_, data = "code.executed", {"ok": ok, **({} if ok else {"error_type": "TypeError"})}
    document = {"id": f"evt-{i}", "type": type_, "student_id": "s-1", "topic": topic,
                "occurred_at": at.isoformat(), "data": data}  # fmt: skip
    return parse_event(document, NOW, CURRICULUM)


def measure(rounds: int) -> tuple[dict[str, float], int]:
    """Best seconds per event of each part, and the record's size in bytes with the model."""
    rng, model = random.Random(0), LearnerModel()  # noqa: S311 - reproducible data
    seeded = StudentRecord(student_id="s-1")
    start = NOW - timedelta(days=31)
    for i in range(300):
        event = _event(i, start + timedelta(minutes=i * 144), rng)
        apply_event(seeded, event)
        track_answer(seeded, event, model)
    in_order = [_event(1000 + i, NOW - timedelta(minutes=300 - i), rng) for i in range(300)]
    late = [_event(2000 + i, NOW - timedelta(days=2, minutes=i), rng) for i in range(300)]
    best: dict[str, float] = {}

    def keep(name: str, seconds: float) -> None:
        best[name] = min(best.get(name, float("inf")), seconds)

    for _ in range(rounds):
        for label, new in (("late", late), ("in order", in_order)):
            record, spent = seeded.model_copy(deep=True), 0.0
            for event in new:
                apply_event(record, event)
                began = time.process_time()
                track_answer(record, event, model)
                spent += time.process_time() - began
            keep(f"track_answer, {label}", spent / len(new))
        plain = record.model_copy(deep=True)
        plain.answers, plain.learner = {}, {}
        for label, value in (("with the model", record), ("without", plain)):
            text = value.model_dump_json()
            began = time.process_time()
            for _ in range(200):
                value.model_dump_json()
            keep(f"dump {label}", (time.process_time() - began) / 200)
            began = time.process_time()
            for _ in range(200):
                StudentRecord.model_validate_json(text)
            keep(f"parse {label}", (time.process_time() - began) / 200)
    return best, len(record.model_dump_json())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/learner_cpu.py")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    best, size = measure(args.rounds)
    update = best["track_answer, in order"]
    dump = best["dump with the model"] - best["dump without"]
    parse = best["parse with the model"] - best["parse without"]
    out = sys.stdout
    out.write("| part | µs CPU per event |\n|---|---|\n")
    for name, seconds in best.items():
        out.write(f"| {name} | {seconds * 1e6:.1f} |\n")
    out.write(
        f"\nthe model's share, in order: track_answer + extra dump = {(update + dump) * 1e6:.1f} µs; "
        f"+ extra parse (skipped when the record cache hits) = {(update + dump + parse) * 1e6:.1f}"
        f" µs; record {size} bytes\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
