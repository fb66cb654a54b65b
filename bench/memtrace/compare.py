"""What grew in a function's heap between two snapshots of `bench.soak --trace-memory DIR`.

    .venv/bin/python -m bench.memtrace.compare DIR FUNCTION [--first 1] [--last -1] [--top 15]

Each allocation still live is charged to its innermost frame in the engine's own code (else
its innermost frame): the lines whose live bytes grew most are listed with their live bytes
and blocks at the later snapshot.
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from collections import defaultdict
from pathlib import Path

OURS = "/shared/mastery/"


def _site(traceback: tracemalloc.Traceback) -> str:
    ours = [frame for frame in traceback if OURS in frame.filename]  # oldest frame first
    frame = ours[-1] if ours else traceback[-1]
    return f"{frame.filename.split(OURS)[-1].rsplit('/site-packages/')[-1]}:{frame.lineno}"


def live_by_site(snapshot: tracemalloc.Snapshot) -> dict[str, list[int]]:
    """Live bytes and blocks per allocation site."""
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for trace in snapshot.traces:
        entry = found[_site(trace.traceback)]
        entry[0] += trace.size
        entry[1] += 1
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("function")
    parser.add_argument("--first", type=int, default=0, help="index among the snapshots")
    parser.add_argument("--last", type=int, default=-1)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    paths = sorted(args.directory.glob(f"{args.function}-*.snap"))
    before, after = (live_by_site(tracemalloc.Snapshot.load(str(paths[i])))
                     for i in (args.first, args.last))  # fmt: skip
    print(f"{paths[args.first].name} -> {paths[args.last].name}: live "
          f"{sum(v[0] for v in before.values()) / 2**20:.1f} -> "
          f"{sum(v[0] for v in after.values()) / 2**20:.1f} MiB")  # fmt: skip
    grown = sorted(after, key=lambda site: before.get(site, [0, 0])[0] - after[site][0])
    for site in grown[: args.top]:
        size, blocks = after[site]
        change = size - before.get(site, [0, 0])[0]
        print(
            f"  {change / 1024:+9.1f} KiB  live {size / 1024:8.1f} KiB {blocks:7d} blocks  {site}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
