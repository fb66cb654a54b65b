"""Per-event cost of the learner model inside ingest's real apply path, same run, as a ratio.

    .venv/bin/python bench/learner_in_ingest.py [--history 300] [--events 200] [--repeat 7]

Each case applies `--events` new graded events, one at a time, through
`mastery.services.ingest.apply` (parse already done; read the record, apply, struggle
detection, learner model, dump, compare-and-set write) on the in-memory store, to a student
whose record already holds `--history` events over 30 days in 8 topics. Cases:

- without the model (`IngestDeps.learner=None`: the record carries no answers or states);
- with the model, events in time order (the O(1) `update` path);
- with the model, every event late (older than the topic's newest answer: the `replay` path,
  which is also what "always replay from stored evidence" would cost on every event).

The in-memory store leaves Redis round trips out on purpose: they would dwarf both and hide
the ratio. Rounds interleave the cases and the best round counts (least disturbed).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.domain.curriculum import CURRICULUM
from mastery.domain.events import LearningEvent, parse_event
from mastery.domain.knowledge import LearnerModel
from mastery.entrypoints.envelopes import read_envelope
from mastery.ports import Versioned
from mastery.services.ingest import IngestDeps, apply
from mastery.services.learner_rollout import LearnerModels
from mastery.services.students import student_key

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TOPICS = CURRICULUM.topological_order()[:8]
KEY = student_key("s-1")


def _event(i: int, at: datetime, rng: random.Random) -> LearningEvent:
    topic = TOPICS[i % len(TOPICS)]
    kind = i % 3
    if kind == 0:
        data = {"quiz_id": f"q{i}", "correct": rng.randint(0, 5), "total": 5}
        type_ = "quiz.completed"
    elif kind == 1:
        data = {"exercise_id": f"e{i % 40}", "difficulty": "medium", "passed": rng.random() < 0.7}
        type_ = "exercise.completed"
    else:
        ok = rng.random() < 0.6
        data = {"ok": ok, **({} if ok else {"error_type": "TypeError"})}
        type_ = "code.executed"
    document = {"id": f"evt-{i}", "type": type_, "student_id": "s-1", "topic": topic,
                "occurred_at": at.isoformat(), "data": data}  # fmt: skip
    return parse_event(document, NOW, CURRICULUM)


async def _seed(history: int, learner: LearnerModel | None) -> bytes:
    """The stored record after `history` events spread over the 30 days before the new ones."""
    store = MemoryStateStore()
    deps = IngestDeps(store, MemorySink(), lambda: NOW, CURRICULUM, read_envelope,
                      learner=learner and LearnerModels(learner))  # fmt: skip
    rng = random.Random(0)  # noqa: S311 - reproducible data, not crypto
    start = NOW - timedelta(days=30)
    for i in range(history):
        await apply(_event(i, start + timedelta(minutes=i * 30 * 24 * 60 // history), rng), deps)
    stored = await store.read(KEY)
    assert stored is not None
    return stored.data


async def _run(seed: bytes, events: list[LearningEvent], learner: LearnerModel | None) -> float:
    """Seconds per event to apply `events` one by one to the seeded record."""
    store = MemoryStateStore()
    store.values[KEY] = Versioned(seed, "1")
    deps = IngestDeps(store, MemorySink(), lambda: NOW, CURRICULUM, read_envelope,
                      learner=learner and LearnerModels(learner))  # fmt: skip
    began = time.perf_counter()
    for item in events:
        await apply(item, deps)
    return (time.perf_counter() - began) / len(events)


async def measure(history: int, count: int, repeat: int) -> dict[str, float]:
    """Best seconds per event of each case."""
    model = LearnerModel()
    plain, rich = await _seed(history, None), await _seed(history, model)
    rng = random.Random(1)  # noqa: S311 - reproducible data, not crypto
    base = history + 1000
    in_order = [_event(base + i, NOW - timedelta(minutes=count - i), rng) for i in range(count)]
    # Late: each lands an hour inside the seeded history, before its topic's newest answer.
    late = [_event(base + count + i, NOW - timedelta(days=1, minutes=i), rng) for i in range(count)]
    cases = {
        "ingest without the model": (plain, in_order, None),
        "ingest with the model, in order (update)": (rich, in_order, model),
        "ingest with the model, every event late (replay)": (rich, late, model),
    }
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(repeat):
        for name, (seed, events, learner) in cases.items():
            best[name] = min(best[name], await _run(seed, events, learner))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/learner_in_ingest.py")
    parser.add_argument("--history", type=int, default=300, help="events already in the record")
    parser.add_argument("--events", type=int, default=200, help="new events per case and round")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    best = asyncio.run(measure(args.history, args.events, args.repeat))
    baseline = best["ingest without the model"]
    out = sys.stdout
    out.write(
        f"record of {args.history} events; {args.events} new events; best of {args.repeat}\n\n"
    )
    out.write("| case | µs per event | × without the model |\n|---|---|---|\n")
    for name, seconds in best.items():
        out.write(f"| {name} | {seconds * 1e6:.1f} | {seconds / baseline:.3f} |\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
