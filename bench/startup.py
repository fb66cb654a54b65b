"""Cold start (process start to first 200) and idle resident memory, ours vs a bare hello.

    .venv/bin/python -m bench.startup [--rounds 5] [--workers 1]

Each function is started the way its container starts it (`--server`: one uvicorn process, or
functions-framework's CLI, gunicorn with `WORKERS` uvicorn workers) on a free port, and polled
every 5 ms on `/healthz` until it answers 200. A second cold start of each is polled on a real
route instead (a student's own mastery / forecast / recommendations / export with a real JWT,
ingest's binding route with a real event; the hello's only route), so what `/healthz` does not
touch is counted too. Right after each first 200, the CPU time the server's process tree has
used since it started, and the time its threads spent runnable but waiting for a core (the
scheduler's nanosecond accounts, `bench.cpu.scheduled_seconds`): on a shared machine the wall
time measures the neighbours too, the CPU time what start-up really costs, the wait how much the
neighbours took; and how busy everything else kept the machine meanwhile. Then, one second idle,
the resident memory of the whole process tree (gunicorn master + workers): RSS, and PSS (shared
pages split between processes, so the sum is what the tree really costs). Redis and Kafka run,
so ingest's producer connects as in production. First a warm-up round (`--warm-up`), not
counted: each target started once, so no target's first start of the run pays for reading files
into the page cache for the others. Then rounds interleaved, each in its own shuffled order, so
drift and position hit every target alike. Our sources and the baselines are compiled to
bytecode first, as the image has them. Writes bench/results/startup-latest.json; ratios are ours
÷ bare hello, of the medians, with each figure's range over the rounds beside them, the first
real 200's ratio round by round and of the fastest starts (the least disturbed), and the load
average before and after.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.cpu import descendants, machine_busy_seconds, scheduled_seconds
from bench.engine import BASELINES, RESULTS, machine, running_engine
from mastery.local.functions import FUNCTIONS, ROOT, SERVERS, start_function, stop_all
from mastery.local.servers import free_port
from mastery.web.auth import mint_token


def compile_sources() -> None:
    """Compile our sources and the baselines to bytecode, as the image has them (pip compiles
    the installed package, the Dockerfile `functions`). A worktree's `__pycache__` goes out of
    date as its files change, and nothing rewrites it where PYTHONDONTWRITEBYTECODE is set (as
    in the image and here): every start would compile each changed module from source again
    (all of ours: +21% instructions for a query start), which no container does."""
    for folder in (ROOT / "shared", ROOT / "functions", BASELINES):
        compileall.compile_dir(folder, quiet=1)


def _memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of the process tree in kB."""
    rss = pss = 0
    for member in descendants(pid):
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
    "agents": ("POST", "/mcp"),  # an MCP tools/call of get_student_mastery (stateless JSON)
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
    headers = {"Authorization": f"Bearer {token}"}
    if name == "agents":
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "get_student_mastery", "arguments": {"student_id": student}}}  # fmt: skip
        headers["Accept"] = "application/json, text/event-stream"
        return httpx.Request(method, base_url + path, json=call, headers=headers)
    return httpx.Request(method, base_url + path.format(s=student), headers=headers)


@dataclass(frozen=True)
class Target:
    """What is started: `name`'s function from `source` (ours when None), served by `server`."""

    label: str
    name: str
    source: Path | None
    server: str


def measure(target: Target, env: dict[str, str], real: str | None = None) -> dict[str, float]:
    """One cold start of `target`: seconds to the first 200 (of /healthz, or of its real route
    as a student of `real`, the run's JWT secret), the CPU seconds its process tree had used by
    then and the seconds it had waited for a core, the cores everything else on the machine kept
    busy meanwhile (this benchmark's own poller, Redis and the broker included), and idle memory
    after it."""
    name = target.name
    port = free_port()
    busy = machine_busy_seconds()
    started = time.perf_counter()
    function = start_function(name, port, env, source=target.source, server=target.server)
    try:
        request = (httpx.Request("GET", f"{function.url}/healthz") if real is None
                   else real_request(name, real, function.url))  # fmt: skip
        # A server may accept before it can answer (gunicorn's master binds, then forks its
        # worker): a slow first answer is waited for, up to the same deadline, not a failure.
        with httpx.Client(timeout=60.0) as client:
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
        cpu, wait = scheduled_seconds(descendants(function.process.pid))
        others = max(0.0, machine_busy_seconds() - busy - cpu) / cold
        time.sleep(1.0)
        rss, pss = _memory_kb(function.process.pid)
    finally:
        stop_all([function])
    return {"cold_start_s": cold, "cpu_s": cpu, "wait_s": wait, "others_cores": others,
            "rss_mb": rss / 1024, "pss_mb": pss / 1024}  # fmt: skip


# What each row reports (the medians of its rounds): key, label, unit, scale.
FIGURES = (
    ("cold_start_s", "cold", "ms", 1000),
    ("cold_start_cpu_s", "cpu", "ms", 1000),
    ("first_real_s", "real route", "ms", 1000),
    ("first_real_cpu_s", "cpu", "ms", 1000),
    ("first_real_wait_s", "wait", "ms", 1000),
    ("first_real_others_cores", "others", "% of a core", 100),
    ("rss_mb", "rss", "MB", 1),
    ("pss_mb", "pss", "MB", 1),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warm-up", type=int, default=1,
                        help="rounds started first and not counted")  # fmt: skip
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--server", choices=SERVERS, default="serve",
                        help="how our functions are served (the hello is served both ways)")  # fmt: skip
    args = parser.parse_args(argv)
    source = BASELINES / "hello" / "main.py"
    targets = [Target("hello", "hello", source, "functions-framework"),
               Target("hello/serve", "hello", source, "serve")]  # fmt: skip
    targets += [Target(name, name, None, args.server) for name in FUNCTIONS]
    samples: dict[str, list[dict[str, float]]] = {t.label: [] for t in targets}
    compile_sources()
    load_before = os.getloadavg()
    with running_engine([], workers=args.workers) as engine:
        for target in targets * args.warm_up:  # not counted
            measure(target, engine.env)
            measure(target, engine.env, engine.secret)
        for round_ in range(args.rounds):  # interleaved, so drift hits every function alike
            order = list(targets)
            random.Random(round_).shuffle(order)  # noqa: S311 - no target always follows one
            for target in order:
                sample = measure(target, engine.env)
                real = measure(target, engine.env, engine.secret)
                samples[target.label].append({
                    "cold_start_s": sample["cold_start_s"], "cold_start_cpu_s": sample["cpu_s"],
                    "first_real_s": real["cold_start_s"], "first_real_cpu_s": real["cpu_s"],
                    "first_real_wait_s": real["wait_s"],
                    "first_real_others_cores": real["others_cores"],
                    "rss_mb": sample["rss_mb"], "pss_mb": sample["pss_mb"],
                })  # fmt: skip
    load_after = os.getloadavg()
    rows: list[dict[str, Any]] = []
    for label, runs in samples.items():
        row: dict[str, Any] = {"function": label}
        for key, *_ in FIGURES:
            values = [r[key] for r in runs]
            row[key] = round(statistics.median(values), 4)
            row[f"{key}_range"] = [round(min(values), 4), round(max(values), 4)]
        rows.append(row)
    # Ratios against the bare hello as functions-framework serves it (its CLI: gunicorn + a
    # uvicorn worker), and, `same_server`, against the hello served the way ours are.
    # The wait and the others' cores are the neighbours' doing, not the target's: reported, not
    # compared.
    hello, same = rows[0], rows[1]
    hello_real = [r["first_real_s"] for r in samples["hello"]]
    for row in rows[1:]:
        for key, *_ in FIGURES:
            if key not in ("first_real_wait_s", "first_real_others_cores"):
                row[f"{key}_ratio"] = round(row[key] / hello[key], 3)
                row[f"{key}_same_server_ratio"] = round(row[key] / same[key], 3)
        row["first_real_s_round_ratios"] = [  # round r's start ÷ the hello's in round r
            round(r["first_real_s"] / h, 3)
            for r, h in zip(samples[row["function"]], hello_real, strict=True)
        ]
        # The least disturbed start of each (timeit's rule): ours' fastest ÷ the hello's.
        row["first_real_s_best_ratio"] = round(
            row["first_real_s_range"][0] / hello["first_real_s_range"][0], 3
        )
    for row in rows:
        line = f"{row['function']:12}"
        for key, what, unit, scale in FIGURES:
            low, high = (value * scale for value in row[f"{key}_range"])
            line += f"  {what} {row[key] * scale:.0f} [{low:.0f}-{high:.0f}] {unit}"
            if f"{key}_ratio" in row:
                line += (f" ({row[f'{key}_ratio']:.2f}x"
                         f" / {row[f'{key}_same_server_ratio']:.2f}x)")  # fmt: skip
        if "first_real_s_round_ratios" in row:
            line += "  real route by round " + " ".join(
                f"{ratio:.2f}x" for ratio in row["first_real_s_round_ratios"]
            )
            line += f", fastest ÷ fastest {row['first_real_s_best_ratio']:.2f}x"
        print(line, file=sys.stderr)
    print(
        "median [min-max] of the rounds; ratios of the medians: ÷ hello (functions-framework"
        " CLI) / ÷ hello/serve (same server); load average"
        f" {load_before[0]:.2f} before, {load_after[0]:.2f} after",
        file=sys.stderr,
    )
    document = {"benchmark": "cold start and idle memory vs bare hello", "machine": machine(),
                "settings": vars(args), "load_average": {"before": load_before,
                                                         "after": load_after},
                "results": rows}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "startup-latest.json").write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
