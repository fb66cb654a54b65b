"""What the student records in a running engine's Redis are made of, field by field.

    .venv/bin/python -m bench.record_fields REDIS_URL [--every 10]

Reads every `--every`-th student record (read only, e.g. the Redis of a running `bench.soak`)
and prints, per record on average, the JSON bytes of each top-level field, of each field of the
topics' evidence and of the struggle state, with the number of dedupe ids and alerts. Run it
twice during a soak to see what grows.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("redis_url")
    parser.add_argument("--every", type=int, default=10)
    args = parser.parse_args(argv)
    client = redis.Redis.from_url(args.redis_url)
    keys = sorted(client.scan_iter(match="student:*", count=1000))[:: args.every]
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
        parts.update({f"struggle.{f}": _size(v) for f, v in document.get("struggle", {}).items()})
        parts.update({"seen (ids)": len(document.get("seen", {})),
                      "alerts (count)": len(document.get("alerts", []))})  # fmt: skip
    if not records:
        print("no student records")
        return 1
    print(json.dumps({
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "records": records,
        "mean_json_bytes": round(stored / records),
        "fields": {k: round(v / records) for k, v in fields.most_common()},
        "parts": {k: round(v / records, 1) for k, v in parts.most_common()},
    }, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
