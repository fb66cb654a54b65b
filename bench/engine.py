"""The engine as the run command starts it, seeded with a school of classes, for the benchmarks.

Reuses the run command's pieces: private Redis and Kafka (`mastery.local.servers`), the functions
as real functions-framework processes (`mastery.local.functions`) and the demo story
(`mastery.local.demo`). Seeding folds each class's month of demo events in process and writes
each student's record and its rosters once through ingest's own path (`apply_batch`: every
event applied, graded for the learner model and seen by the struggle detection, the final scores
folded, with the engine's settings), because posting ~300,000 events through the binding would
take minutes; the load test then keeps live events flowing through the real binding route.
"""

from __future__ import annotations

import json
import os
import secrets
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mastery.adapters.memory import MemorySink
from mastery.adapters.redis_store import RedisStateStore, connect
from mastery.bootstrap import open_core
from mastery.config import KafkaSettings, Settings
from mastery.domain.curriculum import CURRICULUM
from mastery.domain.events import parse_event
from mastery.entrypoints.core import ingest_deps
from mastery.entrypoints.envelopes import read_envelope
from mastery.local.demo import demo_events
from mastery.local.functions import (
    FUNCTIONS,
    LOCAL_AUTHORIZATION_SERVER,
    RunningFunction,
    start_function,
    stop_all,
    wait_healthy,
)
from mastery.local.servers import KafkaBroker, RedisServer, free_port
from mastery.services.ingest import Outcome, apply_batch
from mastery.services.students import class_key, student_key

BENCH = Path(__file__).resolve().parent
BASELINES = BENCH / "baselines"
RESULTS = BENCH / "results"
PARTITIONS = 4


@dataclass(frozen=True)
class School:
    """Who exists: classes of students, and teachers who each teach some classes."""

    classes: dict[str, list[str]]
    teachers: dict[str, tuple[str, ...]]

    @property
    def students(self) -> list[str]:
        """Every student, class by class."""
        return [s for members in self.classes.values() for s in members]


def make_school(classes: int, students_per_class: int, teachers: int) -> School:
    """`classes` classes of `students_per_class`; teacher i teaches classes i, i+T, i+2T…"""
    class_ids = [f"class-{c + 1:03d}" for c in range(classes)]
    rosters = {
        c: [f"{c}-student-{n + 1:02d}" for n in range(students_per_class)] for c in class_ids
    }
    taught = {
        f"teacher-{t + 1:03d}": tuple(class_ids[t::teachers]) or (class_ids[t % classes],)
        for t in range(teachers)
    }
    return School(rosters, taught)


def class_events(class_id: str, students: int, days: int, now: datetime, seed: int) -> list[str]:
    """The demo story of one class, with student and event ids made unique to the class."""
    raw = []
    for document in demo_events(class_id, students=students, days=days, now=now, seed=seed):
        document["student_id"] = f"{class_id}-{document['student_id']}"
        document["id"] = f"{class_id}-{document['id']}"
        raw.append(json.dumps(document))
    return raw


async def seed(
    redis_url: str, school: School, days: int, now: datetime, env: Mapping[str, str] | None = None
) -> dict[str, int]:
    """Apply each class's demo month through ingest's own path, with the settings of a function
    started with `env` (the engine's: its late-arrival window), the clock at `now`."""
    settings = Settings.from_env({**(env or {}), "REDIS_URL": redis_url})
    store = RedisStateStore(connect(redis_url, cluster=False))
    core = await open_core(settings, store=store, dead_letters=MemorySink(), alerts=MemorySink(),
                           clock=lambda: now)  # fmt: skip
    deps = ingest_deps(core)
    counts: Counter[str] = Counter()
    try:
        await store.delete([student_key(s) for s in school.students])
        await store.delete([class_key(c) for c in school.classes])
        for index, (class_id, members) in enumerate(school.classes.items()):
            events = [parse_event(read_envelope(raw), now, CURRICULUM)
                      for raw in class_events(class_id, len(members), days, now, seed=index)]  # fmt: skip
            counts.update(await apply_batch(events, deps))
    finally:
        await store.aclose()
    if set(counts) != {Outcome.APPLIED}:
        raise RuntimeError(f"the demo story was not applied whole: {dict(counts)}")
    return {"students": len(school.students), "classes": len(school.classes),
            "events": counts[Outcome.APPLIED]}  # fmt: skip


@dataclass
class Engine:
    """The running engine: servers, functions and the token secret of this run."""

    redis_url: str
    brokers: str
    secret: str
    env: dict[str, str]
    functions: dict[str, RunningFunction] = field(default_factory=dict)

    def url(self, name: str) -> str:
        """Base URL of a running function."""
        return self.functions[name].url


@contextmanager
def running_engine(
    names: Sequence[str] = FUNCTIONS,
    *,
    workers: int = 1,
    extra_env: Mapping[str, str] | None = None,
    server: str = "serve",
) -> Iterator[Engine]:
    """Redis, Kafka (topics created) and the named functions, each with `workers` workers,
    served by `server` (`mastery.local.functions.SERVERS`)."""
    secret = os.environ.get("JWT_SECRET") or secrets.token_urlsafe(32)
    kafka = KafkaSettings()
    with ExitStack() as stack:
        redis_server = stack.enter_context(RedisServer())
        broker = stack.enter_context(KafkaBroker())
        broker.create_topics(
            [kafka.topic, kafka.dead_letter_topic, kafka.alert_topic], partitions=PARTITIONS
        )
        env = {"REDIS_URL": redis_server.url, "KAFKA_BROKERS": broker.brokers,
               "JWT_SECRET": secret, "LOG_LEVEL": "WARNING", "WORKERS": str(workers),
               "MCP_AUTHORIZATION_SERVER": LOCAL_AUTHORIZATION_SERVER,
               **(extra_env or {})}  # fmt: skip
        engine = Engine(redis_server.url, broker.brokers, secret, env)
        started: list[RunningFunction] = []
        try:
            for name in names:
                started.append(start_function(name, free_port(), env, server=server))
            wait_healthy(started, timeout=60.0)
            engine.functions = {f.name: f for f in started}
            yield engine
        finally:
            stop_all(started)


@contextmanager
def running_baseline(
    target: str, env: Mapping[str, str], *, workers: int = 1, server: str = "serve"
) -> Iterator[RunningFunction]:
    """A bare baseline function (bench/baselines/<target>/main.py), served like ours."""
    function = start_function(
        target, free_port(), {**env, "WORKERS": str(workers)},
        source=BASELINES / target / "main.py", server=server,
    )  # fmt: skip
    try:
        wait_healthy([function], timeout=60.0)
        yield function
    finally:
        stop_all([function])


def machine() -> dict[str, Any]:
    """The machine the figures were measured on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "date": datetime.now(UTC).isoformat()}
