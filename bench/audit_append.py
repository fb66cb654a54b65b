"""Audit append cost against the length of the student's trail: 0, 1,000 and 100,000 entries.

    .venv/bin/python -m bench.audit_append [--sizes 0 1000 100000] [--calls 2000]

A private Redis; per size, one student with a record and a trail pre-filled with that many
entries (distinct callers, so none coalesce; filled again before each round), then `--calls`
appends through the state store as a read records them (`record_access`): a new entry each (a
caller not seen before) and a coalesced one (the same caller again within the window), sizes
interleaved over `--rounds` rounds. Reported per append, medians of the rounds: the client's
round trip (median, P95) and Redis's own time per script call (`INFO commandstats`), and the
trail's memory per entry. A plain HMGET of the record is the same-run baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.engine import RESULTS, machine
from mastery.adapters.redis_store import RedisStateStore, connect
from mastery.local.redis_server import RedisServer
from mastery.ports import LogAppend
from mastery.services.audit import audit_keys, record_access
from mastery.services.students import student_key

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
KEEP_MS = 90 * 86_400_000


class Caller:
    def __init__(self, subject: str) -> None:
        self.subject, self.role = subject, "teacher"


async def _fill(store: RedisStateStore, student: str, size: int) -> None:
    stream, tally = audit_keys(student)
    start = int((NOW - timedelta(hours=12)).timestamp() * 1000)
    for first in range(0, size, 1000):
        batch = [
            LogAppend(stream, tally, student_key(student), f'["filler-{n}","teacher","read","GET /x"]', "c" * 32)
            for n in range(first, min(size, first + 1000))
        ]  # fmt: skip
        await store.append_logs(batch, now_ms=start + first, window_ms=600_000, keep_ms=KEEP_MS)


async def _timed(calls: int, action: Any) -> list[float]:
    times = []
    for n in range(calls):
        began = time.perf_counter()
        await action(n)
        times.append((time.perf_counter() - began) * 1e6)
    return times


def _script_usec(info: dict[str, Any]) -> float:
    stats = [v for k, v in info.items() if k in ("cmdstat_evalsha", "cmdstat_eval")]
    calls = sum(s["calls"] for s in stats)
    return sum(s["usec"] for s in stats) / calls if calls else 0.0


async def measure(url: str, sizes: list[int], calls: int, rounds: int) -> list[dict[str, Any]]:
    """Per size and case, the medians over `rounds` interleaved rounds of `calls` calls."""
    client = connect(url, cluster=False)
    store = RedisStateStore(client)
    clock = lambda: NOW  # noqa: E731
    samples: dict[tuple[int, str], list[tuple[float, float, float]]] = {}
    try:
        for r in range(rounds):
            for size in sizes:
                student = f"bench-{size}"
                # Filled again each round: the trail holds `size` entries when the round starts.
                await client.delete(student_key(student), *audit_keys(student))
                await store.write(student_key(student), b"{}", etag=None, ttl_seconds=86_400)
                await _fill(store, student, size)
                assert await store.log_length(audit_keys(student)[0]) == size

                async def new_entry(n: int, student: str = student, r: int = r) -> None:
                    caller = Caller(f"new-{r}-{n}")
                    await record_access(store, caller, [student], "GET /v1/x", clock)

                async def coalesced(n: int, student: str = student) -> None:
                    await record_access(store, Caller("same"), [student], "GET /v1/x", clock)

                async def plain_read(n: int, student: str = student) -> None:
                    await store.read(student_key(student))

                for name, action in (("new", new_entry), ("coalesced", coalesced),
                                     ("baseline_read", plain_read)):  # fmt: skip
                    await client.config_resetstat()
                    times = await _timed(calls, action)
                    info = await client.info("commandstats")
                    samples.setdefault((size, name), []).append((
                        statistics.median(times), statistics.quantiles(times, n=20)[-1],
                        _script_usec(info),
                    ))  # fmt: skip
        rows = []
        for size in sizes:
            row: dict[str, Any] = {"existing_entries": size}
            for name in ("new", "coalesced", "baseline_read"):
                runs = samples[(size, name)]
                row[name] = {
                    "median_us": round(statistics.median(m for m, _, _ in runs), 1),
                    "p95_us": round(statistics.median(p for _, p, _ in runs), 1),
                    "redis_us_per_script": round(statistics.median(u for _, _, u in runs), 2),
                }
            stream, tally = audit_keys(f"bench-{size}")
            memory = sum([await client.memory_usage(k, samples=0) or 0 for k in (stream, tally)])
            row["trail_bytes_per_entry"] = round(memory / await store.log_length(stream), 1)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    finally:
        await store.aclose()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 1000, 100_000])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with RedisServer() as redis_server:
        rows = asyncio.run(measure(redis_server.url, args.sizes, args.calls, args.rounds))
    base = rows[0]
    for row in rows:
        for name in ("new", "coalesced"):
            row[name]["ratio_to_first_size"] = round(
                row[name]["median_us"] / base[name]["median_us"], 2
            )
    document = {"benchmark": "audit append vs trail length", "machine": machine(),
                "settings": vars(args), "results": rows}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "audit-append-latest.json").write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
