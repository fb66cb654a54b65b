"""What the student records in a running engine's Redis are made of, field by field.

    .venv/bin/python -m bench.record_fields REDIS_URL [--every 10]

Reads every `--every`-th student record (read only, e.g. the Redis of a running `bench.soak`)
and prints, per record on average, the JSON bytes of each top-level field, of each field of the
topics' evidence and of the struggle evidence (runs, starts, passes, help), with the number of
dedupe ids and alerts. Run it twice during a soak to see what grows (`bench.soak` takes the same
reading itself after its warm-up, at the start of its last part and at its end: `composition`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from typing import Any

import redis


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def composition(client: redis.Redis, every: int = 10) -> dict[str, Any] | None:
    """Per record on average, the JSON bytes of each field, of every `every`-th record (None:
    there are none)."""
    keys = sorted(client.scan_iter(match="student:*", count=1000))[::every]
    fields: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    records = stored = 0
    for key in keys:
        raw = client.hget(key, "data")
        if raw is None:
            continue
        document = json.loads(raw)
        records, stored = records + 1, stored + len(raw)
        fields.update({field: _size(value) for field, value in document.items()})
        for evidence in document.get("topics", {}).values():
            parts.update({f"topics.{f}": _size(v) for f, v in evidence.items()})
        for evidence in document.get("struggle", {}).get("topics", {}).values():
            parts.update({f"struggle.{f}": _size(v) for f, v in evidence.items()})
        parts.update({"seen (ids)": len(document.get("seen", {})),
                      "alerts (count)": len(document.get("alerts", []))})  # fmt: skip
    if not records:
        return None
    return {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "records": records,
        "mean_json_bytes": round(stored / records),
        "fields": {k: round(v / records) for k, v in fields.most_common()},
        "parts": {k: round(v / records, 1) for k, v in parts.most_common()},
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("redis_url")
    parser.add_argument("--every", type=int, default=10)
    args = parser.parse_args(argv)
    found = composition(redis.Redis.from_url(args.redis_url), args.every)
    if found is None:
        print("no student records")
        return 1
    print(json.dumps(found, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
