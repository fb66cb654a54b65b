"""The native consumer's apply path alone: CPU per event of `handle_records`, no I/O.

    .venv/bin/python -m bench.apply_batches [--classes 4] [--batch 2000] [--cache-mib N]

The school stream of `bench.ingest_paths` (demo classes of 30 students over 30 days, merged in
time order) goes through `handle_records` in batches of `--batch` consecutive records, as the
consumer's polls bring them, on the in-memory store: parsing, dedupe, apply, learner model,
struggle detection, serialising, the parsed-record cache. The first tenth warms up; the process
CPU time of the rest, per event, is printed. No Kafka client, no Redis client, no event loop
waiting: what is left is ingest's own per-event Python. Also printed: how often the parsed-record
cache (`--cache-mib`, default ingest's) had a student's record when its batch came, which is
what sizes that cache: `--classes 21` is `bench.ingest_paths`'s school of 630 students.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime

from bench.ingest_paths import school_events
from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.domain.curriculum import CURRICULUM
from mastery.entrypoints.envelopes import read_envelope
from mastery.services.ingest import IngestDeps, KafkaMetadata, handle_records
from mastery.services.record_cache import DEFAULT_RECORD_CACHE_BYTES, RecordCache


async def _apply(records: list[tuple[bytes, KafkaMetadata]], deps: IngestDeps, batch: int) -> None:
    for start in range(0, len(records), batch):
        await handle_records(records[start : start + batch], deps)


def main() -> None:
    """Apply the stream and print the CPU per event after the warm-up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument("--cache-mib", type=float, default=DEFAULT_RECORD_CACHE_BYTES / 2**20,
                        help="the parsed-record cache's bound (default: ingest's)")  # fmt: skip
    args = parser.parse_args()
    events = school_events("apply", args.classes, 30, 30)
    records = [
        (json.dumps(e).encode(), KafkaMetadata("events", "0", str(n), e["student_id"]))
        for n, e in enumerate(events)
    ]
    cache = RecordCache(int(args.cache_mib * 2**20))
    deps = IngestDeps(MemoryStateStore(), MemorySink(), lambda: datetime.now(UTC), CURRICULUM,
                      read_envelope, alerts=MemorySink(), records=cache)  # fmt: skip
    warm = len(records) // 10
    asyncio.run(_apply(records[:warm], deps, args.batch))
    began = time.process_time()
    asyncio.run(_apply(records[warm:], deps, args.batch))
    cpu = time.process_time() - began
    print(f"{len(records) - warm:,} events after {warm:,} of warm-up, batches of {args.batch:,}: "
          f"{1e6 * cpu / (len(records) - warm):.0f} us CPU per event")  # fmt: skip
    takes = cache.hits + cache.misses
    print(f"parsed-record cache of {args.cache_mib:g} MiB: {cache.hits:,} of {takes:,} record "
          f"reads found it parsed ({cache.hits / takes:.1%}); {len(cache):,} records, "
          f"{cache.size / 2**20:.1f} MiB counted, at the end")  # fmt: skip


if __name__ == "__main__":
    main()
