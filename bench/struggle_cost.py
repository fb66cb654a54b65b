"""Per-event cost of struggle detection inside ingest's real apply path, same run, as a ratio.

    .venv/bin/python bench/struggle_cost.py [--students 12] [--days 30] [--repeat 7]

The stream is the run command's demo class (`mastery.local.demo`: exercises started and
finished, code runs with typical errors, quizzes, reviews, help messages from struggling
students). The first three quarters of it are applied untimed; then the last quarter is applied
one event at a time through `mastery.services.ingest.apply` (read the record, parse its JSON,
apply, learner model, struggle detection, dump, compare-and-set write) on the in-memory store:

- without detection (`IngestDeps.struggle=None`: the record carries no struggle evidence);
- with detection (the default `StruggleRules`), which also stores and publishes the alerts.

Both run on the same events in time order and shuffled (late and out-of-order arrival). The
in-memory store leaves Redis round trips out on purpose: they would dwarf both and hide the
ratio. Times are process CPU time; rounds interleave the cases and the best round counts (the
least disturbed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from datetime import UTC, datetime

from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.domain.curriculum import CURRICULUM
from mastery.domain.events import LearningEvent, parse_event
from mastery.domain.struggle import StruggleRules
from mastery.ports import Versioned
from mastery.services.ingest import IngestDeps, apply

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


def _deps(store: MemoryStateStore, detect: bool) -> IngestDeps:
    return IngestDeps(
        store, MemorySink(), lambda: NOW, CURRICULUM,
        alerts=MemorySink(), struggle=StruggleRules() if detect else None,
    )  # fmt: skip


async def _seed(events: list[LearningEvent], detect: bool) -> dict[str, Versioned]:
    store = MemoryStateStore()
    deps = _deps(store, detect)
    for item in events:
        await apply(item, deps)
    return dict(store.values)


async def _run(seed: dict[str, Versioned], events: list[LearningEvent], detect: bool) -> float:
    """Seconds per event to apply `events` one by one on top of the seeded records."""
    store = MemoryStateStore()
    store.values = dict(seed)
    deps = _deps(store, detect)
    began = time.process_time()  # CPU time: steadier than wall time on a shared machine
    for item in events:
        await apply(item, deps)
    return (time.process_time() - began) / len(events)


async def measure(students: int, days: int, repeat: int) -> tuple[dict[str, float], dict[str, int]]:
    """Best seconds per event of each case, and facts about the stream."""
    from mastery.local.demo import demo_events

    documents = demo_events("bench", students, days, NOW, seed=3)
    events = [parse_event(json.dumps(d), NOW, CURRICULUM) for d in documents]
    split = len(events) * 3 // 4
    history, tail = events[:split], events[split:]
    shuffled = random.Random(5).sample(tail, len(tail))  # noqa: S311 - reproducible, not crypto
    seeds = {detect: await _seed(history, detect) for detect in (False, True)}
    cases = {
        "without detection, in order": (False, tail),
        "with detection, in order": (True, tail),
        "without detection, shuffled": (False, shuffled),
        "with detection, shuffled": (True, shuffled),
    }
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(repeat):
        for name, (detect, batch) in cases.items():
            best[name] = min(best[name], await _run(seeds[detect], batch, detect))
    alerts = 0
    for value in seeds[True].values():
        alerts += len(json.loads(value.data).get("alerts", []))
    facts = {"events": len(events), "timed": len(tail), "alerts in the seeded records": alerts}
    return best, facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/struggle_cost.py")
    parser.add_argument("--students", type=int, default=12)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    best, facts = asyncio.run(measure(args.students, args.days, args.repeat))
    out = sys.stdout
    out.write(", ".join(f"{k}: {v}" for k, v in facts.items()) + f"; best of {args.repeat}\n\n")
    out.write("| case | µs per event | × without detection |\n|---|---|---|\n")
    for name, seconds in best.items():
        order = name.split(", ")[1]
        baseline = best[f"without detection, {order}"]
        out.write(f"| {name} | {seconds * 1e6:.1f} | {seconds / baseline:.3f} |\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
