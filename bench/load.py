"""The load test: ~1000 concurrent users on the engine as the run command starts it.

    .venv/bin/python -m bench.load [--users 1000] [--seconds 60] [--workers 1] [--rate 50]

Starts a private Redis and Kafka, the five functions (gunicorn `WORKERS` per function), seeds a
school (default 30 classes of 30 students, a month of demo learning each), probes which read
routes answer 2xx (query's, and predict's / recommend's when they exist: read from each
function's /openapi.json, so new routes join without code changes), then runs Locust headless
(students and teachers with think times and real JWTs) while a background producer keeps
posting live events to ingest's binding route exactly as Dapr does. Loopback only.

Writes bench/results/load-latest.json and .csv (P50/P95/P99 per route, throughput, error rate,
the load generator's own CPU use) and docs/load-latency.png.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.cpu import CpuMeter, descendants, listening_on
from bench.engine import BENCH, RESULTS, Engine, School, machine, make_school, running_engine, seed
from bench.plot import plot_latency
from mastery.domain.curriculum import CURRICULUM
from mastery.entrypoints.http.ingest import BINDING_PATH
from mastery.web.auth import mint_token

# Known routes and their share of a user's reads; discovered ones get DEFAULT_WEIGHT.
WEIGHTS = {"/v1/students/{student_id}/mastery": 5, "/v1/students/{student_id}/topics/{topic_id}": 2,
           "/v1/students/{student_id}/history": 1, "/v1/classes/{class_id}/mastery": 3}  # fmt: skip
DEFAULT_WEIGHT = 2
READ_FUNCTIONS = ("query", "predict", "recommend")
KNOWN_PARAMS = {"student_id", "class_id", "topic_id", "teacher_id"}


def discover(engine: Engine) -> list[tuple[str, str, set[str]]]:
    """(function, path template, path params) of every authenticated GET route."""
    found = []
    for name in READ_FUNCTIONS:
        spec = httpx.get(f"{engine.url(name)}/openapi.json", timeout=10).json()
        for path, operations in spec["paths"].items():
            operation = operations.get("get")
            if operation is None or not operation.get("security"):
                continue
            params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            found.append((name, path, params))
    return found


def plan(engine: Engine, school: School, args: argparse.Namespace) -> dict[str, Any]:
    """Identities, tokens and the routes that answer 2xx for students and for teachers."""
    ttl = timedelta(seconds=args.seconds + 600)
    students = [{"id": s, "token": mint_token(engine.secret, s, "student", ttl=ttl)}
                for s in school.students]  # fmt: skip
    teachers = [{"id": t, "classes": list(c),
                 "token": mint_token(engine.secret, t, "teacher", c, ttl=ttl)}
                for t, c in school.teachers.items()]  # fmt: skip
    student_routes, teacher_routes, skipped = [], [], []
    probe_student, probe_teacher = students[0], teachers[0]
    class_id = probe_teacher["classes"][0]
    values = {"student_id": school.classes[class_id][0], "class_id": class_id,
              "teacher_id": probe_teacher["id"], "topic_id": CURRICULUM.topological_order()[0]}  # fmt: skip
    for function, path, params in discover(engine):
        if not params <= KNOWN_PARAMS:
            skipped.append(f"{function} {path}: unknown path parameters")
            continue
        url = engine.url(function) + path + ("?days=30" if path.endswith("/history") else "")
        route = {
            "name": f"{function} {path}",
            "url": url,
            "weight": WEIGHTS.get(path, DEFAULT_WEIGHT),
        }
        if "student_id" in params and "class_id" not in params:
            who, target = ({**values, "student_id": probe_student["id"]}, probe_student)
            routes = student_routes
        else:
            who, target, routes = values, probe_teacher, teacher_routes
        status = httpx.get(url.format(**who), timeout=10,
                           headers={"Authorization": f"Bearer {target['token']}"}).status_code  # fmt: skip
        if 200 <= status < 300:
            routes.append(route)
            if routes is student_routes and path.endswith("/mastery"):
                # Teachers also open one of their students now and then (the mastery page).
                teacher_routes.append({**route, "weight": 1})
        else:
            skipped.append(f"{route['name']}: answered {status} to the probe")
    return {"students": students, "teachers": teachers, "classes": school.classes,
            "topics": list(CURRICULUM.topics), "student_routes": student_routes,
            "teacher_routes": teacher_routes,
            "student_weight": 9, "teacher_weight": 1,
            "student_think_s": [2, 6], "teacher_think_s": [3, 10], "skipped": skipped}  # fmt: skip


class Producer(threading.Thread):
    """Live learning events to ingest's binding route, like Dapr: `rate` per second.

    Four partitions, one request in flight each, every record POSTed with its Kafka metadata in
    `__*` headers, as daprd's Kafka binding delivers them; each partition on its own keep-alive
    connection. The client is a plain HTTP/1.1 exchange on asyncio streams (the head built from
    one template per partition): a benchmark's client must cost less than what it measures, and
    httpx cost ~3 ms of CPU per event (docs/BENCHMARKS.md).
    """

    def __init__(self, url: str, students: list[str], rate: float) -> None:
        super().__init__(daemon=True)
        self.url, self.students, self.rate = url, students, rate
        self.latencies: list[float] = []
        self.errors = 0
        self.stopping = threading.Event()
        self._topics = CURRICULUM.topological_order()[:12]

    def run(self) -> None:
        asyncio.run(self._run())

    def _event(self) -> dict[str, Any]:
        student = random.choice(self.students)  # noqa: S311
        topic = random.choice(self._topics)  # noqa: S311
        # The topic's exercises, numbered as the seeded demo story numbers them
        exercise = f"{topic}.ex{random.randint(1, CURRICULUM.topic(topic).target_exercises)}"  # noqa: S311
        kind = random.random()  # noqa: S311
        if kind < 0.5:
            data: dict[str, Any] = {"ok": kind < 0.35, "exercise_id": exercise}
            data |= {} if data["ok"] else {"error_type": "TypeError"}
            type_ = "code.executed"
        elif kind < 0.8:
            data = {"exercise_id": exercise, "difficulty": "medium", "passed": kind < 0.7}
            type_ = "exercise.completed"
        else:
            data, type_ = {"quiz_id": f"{topic}.live", "correct": 3, "total": 5}, "quiz.completed"
        return {"id": uuid.uuid4().hex, "type": type_, "student_id": student, "topic": topic,
                "occurred_at": datetime.now(UTC).isoformat(), "data": data}  # fmt: skip

    async def _run(self) -> None:
        await asyncio.gather(*(self._partition(p) for p in range(4)))

    async def _partition(self, number: int) -> None:
        url = urlsplit(self.url)
        host, port = url.hostname or "127.0.0.1", url.port or 80
        head = (f"POST {BINDING_PATH} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                "Content-Type: application/json\r\n__topic: learning.events\r\n"
                f"__partition: {number}\r\n__offset: {{}}\r\n__key: {{}}\r\n"
                "Content-Length: {}\r\n\r\n")  # fmt: skip
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        offset = 0
        while not self.stopping.is_set():
            event = self._event()
            body = json.dumps(event).encode()
            request = head.format(offset, event["student_id"], len(body)).encode() + body
            started = time.perf_counter()
            try:
                async with asyncio.timeout(10.0):
                    connection = connection or await asyncio.open_connection(host, port)
                    status, keep_alive = await _exchange(*connection, request)
                self.errors += status != 200
            except (OSError, EOFError, ValueError, TimeoutError):
                self.errors += 1
                keep_alive = False
            self.latencies.append(time.perf_counter() - started)
            if not keep_alive and connection is not None:
                connection[1].close()
                connection = None
            offset += 1
            await asyncio.sleep(max(0.0, 4 / self.rate - (time.perf_counter() - started)))
        if connection is not None:
            connection[1].close()


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bool]:
    """Send one request; read its answer (Content-Length framed). (status, connection reusable)"""
    writer.write(request)
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    status = int(head[9:12])
    length = head.find(b"\r\ncontent-length:")
    if length < 0:
        raise ValueError("an answer without Content-Length")
    await reader.readexactly(int(head[length + 17 : head.index(b"\r\n", length + 2)]))
    return status, b"\r\nconnection: close\r\n" not in head


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


def run_locust(plan_path: Path, prefix: Path, args: argparse.Namespace, host: str) -> float:
    """Run Locust headless; return the CPU seconds it used (all its processes)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    argv = [sys.executable, "-m", "locust", "-f", str(BENCH / "locustfile.py"), "--headless",
            "--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
            "--run-time", f"{args.seconds}s", "--reset-stats", "--csv", str(prefix),
            "--only-summary", "--host", host, "--loglevel", "WARNING"]  # fmt: skip
    if args.locust_processes > 1:
        argv += ["--processes", str(args.locust_processes)]
    env = {**os.environ, "LOAD_PLAN": str(plan_path)}
    subprocess.run(argv, env=env, check=False, timeout=args.seconds + 300)  # noqa: S603
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cpu_meter(engine: Engine) -> CpuMeter:
    """Our processes by role: each function (master + workers), the servers, this process."""
    groups = {name: descendants(f.process.pid) for name, f in engine.functions.items()}
    ours = {pid for pids in groups.values() for pid in pids}
    me = os.getpid()
    # The servers may run detached from this process (a new session): found by their ports.
    ports = [engine.redis_url.rsplit(":", 1)[-1].split("/")[0],
             *(b.rsplit(":", 1)[-1] for b in engine.brokers.split(","))]  # fmt: skip
    servers = [p for p in listening_on(ports) if p not in ours and p != me]
    groups["redis + broker"] = sorted(
        {*servers, *(p for p in descendants(me) if p not in ours and p != me)}
    )
    groups["bench (producer)"] = [me]
    return CpuMeter(groups)


def summarise(prefix: Path, producer: Producer, seconds: float) -> list[dict[str, Any]]:
    """Per-route figures from Locust's stats CSV, plus ingest's from the producer."""
    rows = []
    with open(f"{prefix}_stats.csv", newline="") as stats:
        for row in csv.DictReader(stats):
            rows.append({
                "route": row["Name"] if row["Name"] != "Aggregated" else "all reads",
                "requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                "rps": round(float(row["Requests/s"]), 1),
                "p50_ms": float(row["50%"]), "p95_ms": float(row["95%"]),
                "p99_ms": float(row["99%"]), "max_ms": float(row["Max Response Time"]),
            })  # fmt: skip
    lat = producer.latencies
    rows.append({"route": "ingest POST /learning-events (producer)", "requests": len(lat),
                 "failures": producer.errors, "rps": round(len(lat) / seconds, 1),
                 "p50_ms": round(_percentile(lat, 50) * 1000, 2),
                 "p95_ms": round(_percentile(lat, 95) * 1000, 2),
                 "p99_ms": round(_percentile(lat, 99) * 1000, 2),
                 "max_ms": round(max(lat, default=0) * 1000, 2)})  # fmt: skip
    for row in rows:
        row["error_rate"] = round(row["failures"] / row["requests"], 5) if row["requests"] else 0
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--spawn-rate", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=1, help="gunicorn WORKERS per function")
    parser.add_argument("--rate", type=float, default=50.0, help="live events per second")
    parser.add_argument("--classes", type=int, default=30)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--locust-processes", type=int, default=1)
    args = parser.parse_args(argv)
    school = make_school(args.classes, 30, teachers=max(1, args.classes * 2 // 3))
    with running_engine(workers=args.workers) as engine, tempfile.TemporaryDirectory() as tmp:
        seeded = asyncio.run(seed(engine.redis_url, school, args.days, datetime.now(UTC)))
        load_plan = plan(engine, school, args)
        plan_path = Path(tmp) / "plan.json"
        plan_path.write_text(json.dumps(load_plan))
        for note in load_plan["skipped"]:
            print(f"skipped {note}", file=sys.stderr)
        producer = Producer(engine.url("ingest"), school.students, args.rate)
        meter = cpu_meter(engine)
        producer.start()
        started = time.perf_counter()
        meter.start()
        locust_cpu = run_locust(plan_path, Path(tmp) / "locust", args, engine.url("query"))
        wall = time.perf_counter() - started
        cpu = meter.stop(wall, {"locust": locust_cpu})
        producer.stopping.set()
        producer.join(timeout=15)
        rows = summarise(Path(tmp) / "locust", producer, wall)
    reads = next(r for r in rows if r["route"] == "all reads")
    document = {
        "benchmark": "load test", "machine": machine(), "settings": vars(args), "seeded": seeded,
        "routes": {"students": [r["name"] for r in load_plan["student_routes"]],
                   "teachers": [r["name"] for r in load_plan["teacher_routes"]],
                   "skipped": load_plan["skipped"]},
        "throughput_rps": reads["rps"], "error_rate": reads["error_rate"],
        "load_generator_cpu_cores": round(locust_cpu / wall, 2), "cpu_cores": cpu,
        "results": rows,
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load-latest.json").write_text(json.dumps(document, indent=2) + "\n")
    with open(RESULTS / "load-latest.csv", "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot_latency(rows, BENCH.parent / "docs" / "load-latency.png", document)
    for row in rows:
        print(f"{row['route']:62} {row['requests']:7} req {row['rps']:7.1f}/s  p50 "
              f"{row['p50_ms']:6.1f}  p95 {row['p95_ms']:6.1f}  p99 {row['p99_ms']:6.1f} ms  "
              f"errors {row['error_rate']:.3%}", file=sys.stderr)  # fmt: skip
    print(f"load generator used {document['load_generator_cpu_cores']} CPU cores", file=sys.stderr)
    print(f"CPU cores used (of {os.cpu_count()}): {json.dumps(cpu)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
