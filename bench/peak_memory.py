"""One function's memory under rising then falling concurrency: kept, or the heap's high-water.

    .venv/bin/python -m bench.peak_memory [--function recommend] [--phases 1,4,16,64,16,4,1]
                                          [--phase-s 60] [--class-share 0.2] [--rate 50]

Starts ingest and the function on the load test's seeded school (`bench.engine`), keeps live
events flowing (the load test's producer), and drives the function with wrk at each concurrency
of `--phases` in turn: its class route for `--class-share` of the requests, else its student
route (recommend: class alerts and a student's recommendations; query: the class heat map and a
student's mastery; predict: a student's forecast only), as an admin, through `bench.loadgen`. Every 2 s the function
samples itself (`bench/memtrace`, `MEMPROBE_DIR`): resident memory, pymalloc's live blocks and
glibc's heap (mallinfo2: bytes in use, and free bytes the heap holds). What a process keeps shows
as bytes in use that stay up when the concurrency falls again; the allocator's high-water as
bytes in use that fall back while the free bytes, and the resident memory, stay where the peak
left them. Results: `bench/results/peak-memory-latest.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.engine import BENCH, RESULTS, School, machine, make_school, running_engine, seed
from bench.load import Producer
from bench.loadgen import require_client, run
from mastery.web.auth import mint_token

ROUTES = {
    "recommend": ("/v1/students/{}/recommendations", "/v1/classes/{}/alerts"),
    "query": ("/v1/students/{}/mastery", "/v1/classes/{}/mastery"),
    "predict": ("/v1/students/{}/forecast", None),
}
_MIB = 2**20


def request_mix(school: School, function: str, class_share: float, seed: int = 7) -> list[str]:
    """The paths wrk requests in turn: a class's for `class_share` of them, else a student's."""
    student_route, class_route = ROUTES[function]
    rng = random.Random(seed)  # noqa: S311 - a request mix, not a secret
    classes = round(class_share * 2000) if class_route is not None else 0
    paths = [str(class_route).format(rng.choice(list(school.classes))) for _ in range(classes)]
    paths += [student_route.format(rng.choice(school.students)) for _ in range(2000 - classes)]
    rng.shuffle(paths)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--function", choices=sorted(ROUTES), default="recommend")
    parser.add_argument("--phases", default="1,4,16,64,16,4,1", help="wrk connections, in turn")
    parser.add_argument("--phase-s", type=int, default=60)
    parser.add_argument("--class-share", type=float, default=0.2)
    parser.add_argument("--rate", type=float, default=50.0, help="live events per second")
    args = parser.parse_args(argv)
    require_client()
    school = make_school(30, 30, teachers=20)
    paths = request_mix(school, args.function, args.class_share)
    phases: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        probe = {"PYTHONPATH": str(BENCH / "memtrace"), "MEMPROBE_DIR": tmp}
        with running_engine(("ingest", args.function), extra_env=probe) as engine:
            asyncio.run(seed(engine.redis_url, school, 30, datetime.now(UTC)))
            token = mint_token(engine.secret, "admin-1", "admin", ttl=timedelta(hours=2))
            headers = {"Authorization": f"Bearer {token}"}
            producer = Producer(engine.url("ingest"), school.students, args.rate)
            producer.start()
            for connections in (int(c) for c in args.phases.split(",")):
                started = time.time()
                done = run(engine.url(args.function), paths, headers,
                           connections=connections, seconds=args.phase_s)  # fmt: skip
                phases.append({"connections": connections, "from": started, "to": time.time(),
                               "load": os.getloadavg()[0], "rps": round(done.rps, 1),
                               "p50_ms": done.p50_ms, "p99_ms": done.p99_ms,
                               "errors": done.errors})  # fmt: skip
            producer.stopping.set()
            producer.join(timeout=15)
        samples = [json.loads(line) for path in Path(tmp).glob(f"{args.function}-*.jsonl")
                   for line in path.read_text().splitlines()]  # fmt: skip
    for phase in phases:
        inside = [s for s in samples if phase["from"] <= s["wall"] < phase["to"]] or samples[-1:]
        phase |= {"rss_mib_at_end": round(inside[-1]["rss_kib"] / 1024, 1),
                  "heap_in_use_mib_max": round(max(s["in_use"] for s in inside) / _MIB, 1),
                  "heap_in_use_mib_at_end": round(inside[-1]["in_use"] / _MIB, 1),
                  "heap_free_mib_at_end": round(inside[-1]["free"] / _MIB, 1),
                  "pymalloc_blocks_at_end": inside[-1]["blocks"]}  # fmt: skip
    document = {"benchmark": "peak memory", "machine": machine(), "settings": vars(args),
                "before_load": samples[0] if samples else None, "phases": phases,
                "samples": samples}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "peak-memory-latest.json").write_text(json.dumps(document, indent=2) + "\n")
    print(f"{args.function}: {'wrk -c':>6} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'load':>5} "
          f"{'RSS':>6} {'in use max':>10} {'in use':>7} {'free':>6} (MiB, at the phase's end)")  # fmt: skip
    for p in phases:
        print(f"{'':{len(args.function) + 2}}{p['connections']:>6} "
              f"{p['rps']:>7.0f} {p['p50_ms']:>7.1f} {p['p99_ms']:>7.1f} "
              f"{p['load']:>5.1f} {p['rss_mib_at_end']:>6.1f} {p['heap_in_use_mib_max']:>10.1f} "
              f"{p['heap_in_use_mib_at_end']:>7.1f} {p['heap_free_mib_at_end']:>6.1f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
