"""Heap snapshots of a served function over time (`python -m bench.soak --trace-memory DIR`).

Python imports `sitecustomize` at start-up from the path; the soak puts this directory first on
the functions' PYTHONPATH. In a process serving a function (`FUNCTION_TARGET` set) with
`MEMTRACE_DIR` set, a daemon thread starts tracemalloc (10 frames) `MEMTRACE_START_S` after
start (default 150: start-up is not what grows), then every `MEMTRACE_EVERY_S` (default 120)
dumps a snapshot to `DIR/<function>-<pid>-<n>.snap`. Compare two with `python -m
bench.memtrace.compare DIR <function>`. Tracing slows the process several-fold and adds its own
memory to the resident figures: a traced soak finds causes, it does not measure slopes.
"""

from __future__ import annotations

import os
import threading
import time
import tracemalloc


def _trace(target: str, out: str) -> None:
    time.sleep(float(os.environ.get("MEMTRACE_START_S", "150")))
    tracemalloc.start(10)
    every = float(os.environ.get("MEMTRACE_EVERY_S", "120"))
    for n in range(1, 10_000):
        time.sleep(every)
        tracemalloc.take_snapshot().dump(f"{out}/{target}-{os.getpid()}-{n:03d}.snap")


if os.environ.get("FUNCTION_TARGET") and os.environ.get("MEMTRACE_DIR"):
    threading.Thread(
        target=_trace, args=(os.environ["FUNCTION_TARGET"], os.environ["MEMTRACE_DIR"]), daemon=True
    ).start()
