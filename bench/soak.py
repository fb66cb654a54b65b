"""Soak: the load test's traffic for an hour, watching every function's memory and Redis's.

    .venv/bin/python -m bench.soak [--minutes 60] [--sample-s 30] [--warmup-min 10]
                                   [--tail-min 20] [--late-window-hours H]
                                   [--users 1000] [--rate 50] [--classes 30] [--trace-memory DIR]

The engine, the seeded school, the ~1000 Locust users and the live event producer are the load
test's (`bench/load.py`, same defaults); the school's month of demo events is applied through
ingest's own path with the run's settings (`bench.engine.seed`), so each record starts as a
student's with that history, and the live events pass exercises of the same catalogue. Every `--sample-s` seconds it records the resident
memory (VmRSS, /proc) of each function's process tree, the machine's 1-minute load average and,
in Redis, the bytes (`MEMORY USAGE`) of the student records, the audit keys and everything
else, with the number of each.
At the end: per function, the slope of resident memory after the warm-up (least squares, MiB
per hour) and over the last `--tail-min` minutes, and Redis's growth split by kind, with the
student records' growth per live event after the warm-up and over the last part.

The producer times every event *now*, so what a record keeps for the late-arrival window grows
until the run is a window old: `--late-window-hours` sets ingest's `INGEST_LATE_WINDOW_HOURS`
(0.25 = 15 minutes), so that it reaches its bound inside the run and the last part shows what
still grows; the struggle evidence reaches its bound ten minutes after the window's
(`StruggleRules.prune_step_s`), hence `--warmup-min 30` with that window. What the records are made of (`bench.record_fields.composition`, every 10th record)
is read after the warm-up, at the start of the last part and at the end.
Results: `bench/results/soak-latest.json`; each sample is also printed as one JSON line when
taken. `--trace-memory DIR`: each function also dumps heap snapshots into DIR
(`bench/memtrace`), to find what grows; tracing slows the functions, so such a run's slopes
are not the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from redis import asyncio as aioredis

from bench.cpu import descendants
from bench.engine import BENCH, RESULTS, machine, make_school, running_engine, seed
from bench.load import Producer, plan, run_locust
from bench.record_fields import composition

KINDS = (("student records", b"student:"), ("audit", b"audit:"))


def resident_mib(pids: list[int]) -> float:
    """VmRSS of the live processes among `pids`, in MiB."""
    total = 0
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in lines if line.startswith("VmRSS:")), 0)
    return total / 1024


async def redis_bytes(url: str) -> dict[str, dict[str, int]]:
    """Bytes and keys in Redis by kind (student records, audit, other)."""
    client = aioredis.Redis.from_url(url)
    keys = [key async for key in client.scan_iter(count=1000)]
    async with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.memory_usage(key)
        sizes = await pipe.execute()
    await client.aclose()
    found = {name: {"bytes": 0, "keys": 0} for name, _ in (*KINDS, ("other", b""))}
    for key, size in zip(keys, sizes, strict=True):
        name = next((n for n, prefix in KINDS if key.startswith(prefix)), "other")
        found[name]["bytes"] += size or 0
        found[name]["keys"] += 1
    return found


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per hour."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return 3600 * sum((t - mean_t) * (v - mean_v) for t, v in points) / var if var else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--sample-s", type=float, default=30)
    parser.add_argument("--warmup-min", type=float, default=10)
    parser.add_argument("--tail-min", type=float, default=20, help="the last part's minutes")
    parser.add_argument("--late-window-hours", type=float,
                        help="INGEST_LATE_WINDOW_HOURS (default: the engine's, 168)")  # fmt: skip
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--spawn-rate", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50.0, help="live events per second")
    parser.add_argument("--classes", type=int, default=30)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--trace-memory", metavar="DIR", help="heap snapshots into DIR")
    args = parser.parse_args(argv)
    if args.trace_memory:  # the functions inherit this environment (bench/memtrace)
        Path(args.trace_memory).mkdir(parents=True, exist_ok=True)
        os.environ["MEMTRACE_DIR"] = str(Path(args.trace_memory).resolve())
        os.environ["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(BENCH / "memtrace"), os.environ.get("PYTHONPATH")])
        )
    args.seconds, args.locust_processes = int(args.minutes * 60), 1
    school = make_school(args.classes, 30, teachers=max(1, args.classes * 2 // 3))
    samples: list[dict[str, Any]] = []
    window = {} if args.late_window_hours is None else {
        "INGEST_LATE_WINDOW_HOURS": str(args.late_window_hours)}  # fmt: skip
    readings: dict[str, Any] = {}
    reading_at = {"after warm-up": args.warmup_min * 60,
                  "last part": (args.minutes - args.tail_min) * 60}  # fmt: skip
    with running_engine(extra_env=window) as engine, tempfile.TemporaryDirectory() as tmp:
        records = redis.Redis.from_url(engine.redis_url)
        seeded = asyncio.run(
            seed(engine.redis_url, school, args.days, datetime.now(UTC), engine.env)
        )
        plan_path = Path(tmp) / "plan.json"
        plan_path.write_text(json.dumps(plan(engine, school, args)))
        producer = Producer(engine.url("ingest"), school.students, args.rate)
        locust = threading.Thread(
            target=run_locust, args=(plan_path, Path(tmp) / "locust", args, engine.url("query"))
        )
        producer.start()
        locust.start()
        started = time.monotonic()
        while locust.is_alive():
            samples.append({
                "t": round(time.monotonic() - started, 1), "events": len(producer.latencies),
                "load": os.getloadavg()[0],
                "rss_mib": {name: round(resident_mib(descendants(f.process.pid)), 2)
                            for name, f in engine.functions.items()},
                "redis": asyncio.run(redis_bytes(engine.redis_url)),
            })  # fmt: skip
            print(json.dumps(samples[-1]), flush=True)  # a run cut short still shows its figures
            for name, at in reading_at.items():
                if name not in readings and samples[-1]["t"] >= at:
                    readings[name] = composition(records)
                    print(json.dumps({name: readings[name]}), flush=True)
            locust.join(args.sample_s)
        readings["end"] = composition(records)
        records.close()
        producer.stopping.set()
        producer.join(timeout=15)
    warm = [s for s in samples if s["t"] >= args.warmup_min * 60] or samples[-2:]
    first, last = warm[0], warm[-1]
    tail = [s for s in warm if s["t"] >= last["t"] - args.tail_min * 60]
    rss_slopes, tail_slopes = (
        {name: round(slope_per_hour([(s["t"], s["rss_mib"][name]) for s in part]), 2)
         for name in first["rss_mib"]}
        for part in (warm, tail)
    )  # fmt: skip
    growth = {
        kind: {key: last["redis"][kind][key] - first["redis"][kind][key] for key in ("bytes", "keys")}
        for kind in first["redis"]
    }  # fmt: skip
    events = last["events"] - first["events"]
    tail_events = last["events"] - tail[0]["events"]
    tail_bytes = (
        last["redis"]["student records"]["bytes"] - tail[0]["redis"]["student records"]["bytes"]
    )
    loads = [s["load"] for s in warm]
    document = {
        "benchmark": "soak", "machine": machine(), "settings": vars(args), "seeded": seeded,
        "after_warmup_s": [first["t"], last["t"]], "live_events_after_warmup": events,
        "load_average_1m_after_warmup": [min(loads), max(loads)],
        "rss_slope_mib_per_hour": rss_slopes, "redis_growth_after_warmup": growth,
        "student_record_bytes_per_live_event": round(
            growth["student records"]["bytes"] / events, 1) if events else None,
        "last_part_s": [tail[0]["t"], last["t"]], "live_events_last_part": tail_events,
        "rss_slope_mib_per_hour_last_part": tail_slopes,
        "student_record_bytes_per_live_event_last_part": round(
            tail_bytes / tail_events, 1) if tail_events else None,
        "record_composition": readings,
        "samples": samples,
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak-latest.json").write_text(json.dumps(document, indent=2) + "\n")
    print(f"after warm-up ({first['t']:.0f}-{last['t']:.0f} s, {events} live events, "
          f"load average {min(loads):.1f}-{max(loads):.1f}):")  # fmt: skip
    for name, slope in rss_slopes.items():
        print(f"  {name:10} RSS {first['rss_mib'][name]:7.1f} -> {last['rss_mib'][name]:7.1f} "
              f"MiB, slope {slope:+.2f} MiB/h (last part {tail_slopes[name]:+.2f})")  # fmt: skip
    for kind, change in growth.items():
        print(f"  Redis {kind:16} {change['bytes']:+,} B, {change['keys']:+} keys")
    print(f"  student records: {document['student_record_bytes_per_live_event']} B per live event"
          f" (last part, {tail[0]['t']:.0f}-{last['t']:.0f} s: "
          f"{document['student_record_bytes_per_live_event_last_part']})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
