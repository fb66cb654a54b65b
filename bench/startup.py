"""Cold start (process start to first 200) and idle resident memory, ours vs a bare hello.

    .venv/bin/python -m bench.startup [--rounds 5] [--workers 1]

Each function is started the way its container starts it (functions-framework ASGI mode, gunicorn
with `WORKERS` uvicorn workers) on a free port, and polled every 5 ms on `/healthz` until it
answers 200: that first request also builds the function (clients, verifier), as a scale-from-
zero request would. A second cold start of each is polled on a real route instead (a student's
own mastery / forecast / recommendations / export with a real JWT, ingest's binding route with
a real event; the hello's only route), so what `/healthz` does not touch is counted too. Then, one second idle, the resident memory of the whole process tree
(gunicorn master + workers): RSS, and PSS (shared pages split between processes, so the sum is
what the tree really costs). Redis and Kafka run, so ingest's producer connects as in production.
Writes bench/results/startup-latest.json; ratios are ours ÷ bare hello.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.engine import BASELINES, RESULTS, machine, running_engine
from mastery.local.functions import FUNCTIONS, start_function, stop_all
from mastery.local.servers import free_port
from mastery.web.auth import mint_token


def _tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            children = (task / "children").read_text().split()
            pending.extend(int(c) for c in children)
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of the process tree in kB."""
    rss = pss = 0
    for member in _tree(pid):
        for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss += int(line.split()[1])
            elif line.startswith("Pss:"):
                pss += int(line.split()[1])
    return rss, pss


# The real route polled per function: (method, path); {s} is a fresh student of the run. gdpr's
# export of a student with no data answers 404 (after auth, a store read and the problem body):
# that answer counts as its first real one.
EXPECTED = {"gdpr": 404}
REAL_ROUTES = {
    "hello": ("GET", "/"),
    "ingest": ("POST", "/learning-events"),
    "query": ("GET", "/v1/students/{s}/mastery"),
    "predict": ("GET", "/v1/students/{s}/forecast"),
    "recommend": ("GET", "/v1/students/{s}/recommendations"),
    "gdpr": ("GET", "/v1/students/{s}/export"),
}


def real_request(name: str, secret: str, base_url: str) -> httpx.Request:
    """A request to `name`'s real route, as a student (or as Dapr's binding, for ingest)."""
    method, path = REAL_ROUTES[name]
    student = f"cold-{uuid.uuid4().hex[:8]}"
    if name == "ingest":
        event = {"id": uuid.uuid4().hex, "type": "quiz.completed", "student_id": student,
                 "topic": "basics.variables", "occurred_at": datetime.now(UTC).isoformat(),
                 "data": {"quiz_id": "q1", "correct": 3, "total": 5}}  # fmt: skip
        return httpx.Request(
            method, base_url + path, json=event, headers={"__topic": "learning.events"}
        )
    token = mint_token(secret, student, "student", ttl=timedelta(minutes=10))
    return httpx.Request(
        method, base_url + path.format(s=student), headers={"Authorization": f"Bearer {token}"}
    )


def measure(
    name: str, env: dict[str, str], source: Path | None, real: str | None = None
) -> dict[str, float]:
    """One cold start of `name`: seconds to the first 200 (of /healthz, or of its real route
    as a student of `real`, the run's JWT secret), and idle memory after it."""
    port = free_port()
    started = time.perf_counter()
    function = start_function(name, port, env, source=source)
    try:
        request = (httpx.Request("GET", f"{function.url}/healthz") if real is None
                   else real_request(name, real, function.url))  # fmt: skip
        with httpx.Client(timeout=5.0) as client:
            while True:
                if function.process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {function.process.returncode}")
                if time.perf_counter() - started > 60:
                    raise RuntimeError(f"{name}: no 200 from {request.url} in 60 s")
                try:
                    wanted = 200 if real is None else EXPECTED.get(name, 200)
                    if client.send(request).status_code == wanted:
                        break
                except httpx.ConnectError:
                    pass
                time.sleep(0.005)
        cold = time.perf_counter() - started
        time.sleep(1.0)
        rss, pss = _memory_kb(function.process.pid)
    finally:
        stop_all([function])
    return {"cold_start_s": cold, "rss_mb": rss / 1024, "pss_mb": pss / 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    targets: list[tuple[str, Path | None]] = [("hello", BASELINES / "hello" / "main.py")]
    targets += [(name, None) for name in FUNCTIONS]
    samples: dict[str, list[dict[str, float]]] = {name: [] for name, _ in targets}
    with running_engine([], workers=args.workers) as engine:
        for _ in range(args.rounds):  # interleaved, so drift hits every function alike
            for name, source in targets:
                sample = measure(name, engine.env, source)
                real = measure(name, engine.env, source, engine.secret)
                sample["first_real_s"] = real["cold_start_s"]
                samples[name].append(sample)
    rows: list[dict[str, Any]] = []
    for name, runs in samples.items():
        row = {"function": name, **{k: round(statistics.median(r[k] for r in runs), 4)
                                    for k in ("cold_start_s", "first_real_s", "rss_mb",
                                              "pss_mb")}}  # fmt: skip
        rows.append(row)
    hello = rows[0]
    for row in rows[1:]:
        for key, ratio in (("cold_start_s", "cold_start"), ("first_real_s", "first_real"),
                           ("rss_mb", "rss"), ("pss_mb", "pss")):  # fmt: skip
            row[f"{ratio}_ratio"] = round(row[key] / hello[key], 3)
        print(f"{row['function']:10} cold {row['cold_start_s'] * 1000:6.0f} ms "
              f"({row['cold_start_ratio']:.2f}x)  real route {row['first_real_s'] * 1000:6.0f} ms "
              f"({row['first_real_ratio']:.2f}x)  rss {row['rss_mb']:6.1f} MB "
              f"({row['rss_ratio']:.2f}x)  pss {row['pss_mb']:6.1f} MB ({row['pss_ratio']:.2f}x)",
              file=sys.stderr)  # fmt: skip
    print(f"hello      cold {hello['cold_start_s'] * 1000:6.0f} ms  real route "
          f"{hello['first_real_s'] * 1000:6.0f} ms  rss {hello['rss_mb']:6.1f} MB"
          f"  pss {hello['pss_mb']:6.1f} MB", file=sys.stderr)  # fmt: skip
    document = {"benchmark": "cold start and idle memory vs bare hello", "machine": machine(),
                "settings": vars(args), "results": rows}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "startup-latest.json").write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
