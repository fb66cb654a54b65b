"""Query throughput and latency against a bare functions-framework function doing one Redis GET.

    .venv/bin/python -m bench.query [--seconds 10] [--connections 32] [--rounds 2] [--workers 1]
        [--server serve|functions-framework]

A third bare case reads the 30 records of the heat map's class in one MGET and returns them:
the floor for the heat map (whose ratio is to it). All serve from functions-framework's ASGI mode
with the same `WORKERS`, on the same Redis, and
are loaded by the same client (`wrk`; the command stops with its install command without it)
with the same concurrency, interleaved round by round. First the client's own ceiling is
measured against a no-op server (`client_ceiling` in the results): a case served at more than
half of it is flagged, since the client may then be what limits it. Two request mixes: one student over and over (what a
dashboard refresh does, and what any read cache favours), and `--students` different students in
turn (every read a different record). The bare function GETs a plain copy of the same record
bytes. Writes bench/results/query-latest.json; ratios are ours ÷ bare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from bench import loadgen
from bench.cpu import cpu_seconds, descendants
from bench.engine import RESULTS, machine, make_school, running_baseline, running_engine, seed
from mastery.local.functions import SERVERS
from mastery.services.students import student_key
from mastery.web.auth import mint_token

TOPIC = "control_flow.for_loops"


def _cases(engine: Any, school: Any, students: int) -> list[tuple[str, str, list[str], str]]:
    """(name, base URL, paths, token) for ours; the bare case is added by the caller."""
    secret = engine.secret
    one = school.students[1]
    many = school.students[:students]
    class_id, teacher = next(iter(school.classes)), "teacher-001"
    own = mint_token(secret, one, "student", ttl=timedelta(hours=2))
    admin = mint_token(secret, "admin-bench", "admin", ttl=timedelta(hours=2))
    teach = mint_token(secret, teacher, "teacher", school.teachers[teacher], ttl=timedelta(hours=2))
    query = engine.url("query")
    return [
        ("mastery (one student)", query, [f"/v1/students/{one}/mastery"], own),
        ("mastery (many students)", query, [f"/v1/students/{s}/mastery" for s in many], admin),
        ("topic", query, [f"/v1/students/{one}/topics/{TOPIC}"], own),
        ("history 30 days", query, [f"/v1/students/{one}/history?days=30"], own),
        ("class view (30 students)", query, [f"/v1/classes/{class_id}/mastery"], teach),
    ]


def bare_copies(redis_url: str, students: Sequence[str]) -> list[int]:
    """Copy each student's record bytes to `bench:{id}` for the bare function; their sizes."""
    direct = redis.Redis.from_url(redis_url)
    sizes = []
    for student in students:
        data = direct.hget(student_key(student), "data")
        assert data is not None
        direct.set(f"bench:{student}", data)
        sizes.append(len(data))
    direct.close()
    return sizes


def mget_path(students: Sequence[str]) -> str:
    """The bare function's path that reads the copies of `students` in one MGET."""
    return "/" + ",".join(f"bench:{s}" for s in students)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--server", choices=SERVERS, default="serve",
                        help="how both query and the bare GET are served")  # fmt: skip
    parser.add_argument("--students", type=int, default=120)
    args = parser.parse_args(argv)
    try:
        client = loadgen.require_client()
    except loadgen.ClientMissingError as exc:
        print(exc, file=sys.stderr)
        return 2
    limit = loadgen.ceiling(args.connections, min(args.seconds, 5.0))
    print(f"client ceiling (no-op server) {limit.rps:8.0f} req/s", file=sys.stderr)
    school = make_school(classes=max(1, args.students // 30), students_per_class=30, teachers=2)
    with running_engine(["query"], workers=args.workers, server=args.server) as engine:
        seeded = asyncio.run(seed(engine.redis_url, school, days=30, now=datetime.now(UTC)))
        sizes = bare_copies(engine.redis_url, school.students[: args.students])
        direct = redis.Redis.from_url(engine.redis_url)
        one = school.students[1]
        direct.set("bench:value", direct.get(f"bench:{one}") or b"")
        with running_baseline(
            "bare_get", engine.env, workers=args.workers, server=args.server
        ) as bare:
            cases = _cases(engine, school, args.students)
            heat_map_class = school.classes[next(iter(school.classes))]
            bare_cases = {
                "one": ("bare GET (one key)", bare.url, ["/bench:value"], ""),
                "many": ("bare GET (many keys)", bare.url,
                         [f"/bench:{s}" for s in school.students[: args.students]], ""),
                "class": ("bare MGET (30 keys)", bare.url, [mget_path(heat_map_class)], ""),
            }  # fmt: skip
            runs: dict[str, list[loadgen.LoadResult]] = {}
            # The server's own CPU per request (its whole process tree): unlike req/s, it does
            # not depend on how much of the shared machine the run happened to get.
            pids = {
                bare.url: bare.process.pid,
                engine.url("query"): engine.functions["query"].process.pid,
            }
            cpu_ms: dict[str, list[float]] = {}
            for _ in range(args.rounds):
                for name, base, paths, token in [*bare_cases.values(), *cases]:
                    headers = {"Authorization": f"Bearer {token}"} if token else {}
                    loadgen.run(base, paths, headers, connections=4, seconds=1)  # warm up
                    tree = descendants(pids[base])
                    before = cpu_seconds(tree)
                    result = loadgen.run(
                        base, paths, headers, connections=args.connections, seconds=args.seconds
                    )
                    per_request = (cpu_seconds(tree) - before) * 1000 / max(1, result.requests)
                    cpu_ms.setdefault(name, []).append(per_request)
                    runs.setdefault(name, []).append(result)
                    print(f"{name:28} {result.rps:8.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
                          f"p95 {result.p95_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  "
                          f"errors {result.errors}  server cpu {per_request:.3f} ms/req  "
                          f"wrk cpu {result.client_cpu_cores:.2f} cores",
                          file=sys.stderr)  # fmt: skip
    summary = _summarise(runs, bare_cases)
    for row in summary:
        row["client_bound"] = row["rps"] > limit.rps / 2
        row["server_cpu_ms_per_request"] = round(statistics.median(cpu_ms[row["case"]]), 4)
    document = {
        "benchmark": "query vs bare GET",
        "machine": machine(),
        "client": client,
        "client_ceiling": limit.as_dict(),
        "settings": vars(args),
        "seeded": seeded,
        "record_bytes": {"median": statistics.median(sizes), "max": max(sizes)},
        "results": summary,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "query-latest.json").write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


def _summarise(
    runs: dict[str, list[loadgen.LoadResult]],
    bare_cases: dict[str, tuple[str, str, list[str], str]],
) -> list[dict[str, Any]]:
    """Median of the rounds per case, with ratios to the matching bare case."""
    medians = {}
    for name, results in runs.items():
        medians[name] = {
            "rps": statistics.median(r.rps for r in results),
            "p50_ms": statistics.median(r.p50_ms for r in results),
            "p95_ms": statistics.median(r.p95_ms for r in results),
            "p99_ms": statistics.median(r.p99_ms for r in results),
            "errors": sum(r.errors for r in results),
            "requests": sum(r.requests for r in results),
            "client_cpu_cores": statistics.median(r.client_cpu_cores for r in results),
        }
    rows = []
    for name, figures in medians.items():
        row: dict[str, Any] = {"case": name, **{k: round(v, 3) for k, v in figures.items()}}
        if not name.startswith("bare"):
            kind = "class" if "class" in name else "many" if "many" in name else "one"
            bare = medians[bare_cases[kind][0]]
            row["throughput_ratio"] = round(figures["rps"] / bare["rps"], 3)
            row["p50_ratio"] = round(figures["p50_ms"] / bare["p50_ms"], 3)
            row["p95_ratio"] = round(figures["p95_ms"] / bare["p95_ms"], 3)
        rows.append(row)
    return rows


if __name__ == "__main__":
    sys.exit(main())
