"""Heap snapshots of a served function over time (`python -m bench.soak --trace-memory DIR`).

Python imports `sitecustomize` at start-up from the path; the soak puts this directory first on
the functions' PYTHONPATH. In a process serving a function (`FUNCTION_TARGET` set) with
`MEMTRACE_DIR` set, a daemon thread starts tracemalloc (10 frames) `MEMTRACE_START_S` after
start (default 150: start-up is not what grows), then every `MEMTRACE_EVERY_S` (default 120)
dumps a snapshot to `DIR/<function>-<pid>-<n>.snap`. Compare two with `python -m
bench.memtrace.compare DIR <function>`. Tracing slows the process several-fold and adds its own
memory to the resident figures: a traced soak finds causes, it does not measure slopes.

With `MEMPROBE_DIR` set instead (`bench.peak_memory`), a daemon thread appends every 2 s one JSON
line to `DIR/<function>-<pid>.jsonl`: the resident memory, pymalloc's live blocks and glibc's
heap (`mallinfo2`: bytes in use, free bytes it holds). That costs next to nothing.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path


def _trace(target: str, out: str) -> None:
    time.sleep(float(os.environ.get("MEMTRACE_START_S", "150")))
    tracemalloc.start(10)
    every = float(os.environ.get("MEMTRACE_EVERY_S", "120"))
    for n in range(1, 10_000):
        time.sleep(every)
        tracemalloc.take_snapshot().dump(f"{out}/{target}-{os.getpid()}-{n:03d}.snap")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]  # fmt: skip


def _probe(target: str, out: str) -> None:
    mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    mallinfo2.restype = _MallInfo2
    status = Path("/proc/self/status")
    with open(f"{out}/{target}-{os.getpid()}.jsonl", "a") as lines:
        while True:
            time.sleep(2)
            heap = mallinfo2()
            rss = next(int(line.split()[1]) for line in status.read_text().splitlines()
                       if line.startswith("VmRSS:"))  # fmt: skip
            lines.write(json.dumps({"wall": time.time(), "rss_kib": rss,
                                    "blocks": sys.getallocatedblocks(),
                                    "in_use": heap.uordblks, "free": heap.fordblks}) + "\n")  # fmt: skip
            lines.flush()


if os.environ.get("FUNCTION_TARGET") and os.environ.get("MEMPROBE_DIR"):
    threading.Thread(
        target=_probe, args=(os.environ["FUNCTION_TARGET"], os.environ["MEMPROBE_DIR"]), daemon=True
    ).start()
if os.environ.get("FUNCTION_TARGET") and os.environ.get("MEMTRACE_DIR"):
    threading.Thread(
        target=_trace, args=(os.environ["FUNCTION_TARGET"], os.environ["MEMTRACE_DIR"]), daemon=True
    ).start()
