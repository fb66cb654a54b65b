"""Where the machine's CPU went during a benchmark: per process tree, ours, and everyone else's.

Read from /proc (Linux only; elsewhere every figure is 0). The load test reports it so a missed
latency target can be told apart from a saturated machine: on 2 shared cores, the functions,
Redis, the broker, the load generator and other people's processes all compete.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str]:
    text = (_PROC / str(pid) / "stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # the command name may hold spaces


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            try:
                parent = int(_stat_fields(int(entry.name))[1])
            except (OSError, ValueError, IndexError):
                continue
            tree.setdefault(parent, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (e.g. a gunicorn master and its workers)."""
    tree, found, todo = _children(), [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree.get(current, []))
    return found


def listening_on(ports: Iterable[str]) -> list[int]:
    """Processes whose command line names one of `ports` (how our servers are started)."""
    found = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(f":{port} " in f"{args} " or f" {port} " in f"{args} " for port in ports):
            found.append(int(entry.name))
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU seconds the live processes among `pids` have used so far."""
    total = 0
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except (OSError, ValueError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


def scheduled_seconds(pids: Iterable[int]) -> tuple[float, float]:
    """(on a core, waiting for one): the seconds the live threads of `pids` have spent running
    and runnable but queued behind other work, from the scheduler's own nanosecond accounts
    (`/proc/<pid>/task/<tid>/schedstat`). Finer than `cpu_seconds`' 10 ms ticks; the wait is
    what the neighbours cost them. Threads that have exited are not counted."""
    running = waiting = 0
    for pid in pids:
        try:
            tasks = list((_PROC / str(pid) / "task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                on_cpu, queued, _ = (task / "schedstat").read_text().split()
            except (OSError, ValueError):
                continue
            running += int(on_cpu)
            waiting += int(queued)
    return running / 1e9, waiting / 1e9


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent not idle (all processes, all cores)."""
    try:
        values = [int(v) for v in (_PROC / "stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / _TICKS


@dataclass
class CpuMeter:
    """CPU used between `start()` and `stop()` by named groups of processes and the machine."""

    groups: Mapping[str, list[int]]
    """name -> the pids counted under that name (see `descendants`)."""
    _before: dict[str, float] | None = None

    def _sample(self) -> dict[str, float]:
        sample = {name: cpu_seconds(pids) for name, pids in self.groups.items()}
        sample["machine"] = machine_busy_seconds()
        return sample

    def start(self) -> None:
        """Take the first sample."""
        self._before = self._sample()

    def stop(
        self, wall_seconds: float, extra: Mapping[str, float] | None = None
    ) -> dict[str, float]:
        """Cores used on average: per group, plus `extra` (CPU seconds measured elsewhere),
        `machine` (everything) and `others` (the machine minus ours)."""
        assert self._before is not None
        after = self._sample()
        used = {name: after[name] - self._before[name] for name in after}
        used.update(extra or {})
        ours = sum(v for k, v in used.items() if k != "machine")
        used["others"] = max(0.0, used["machine"] - ours)
        return {name: round(seconds / wall_seconds, 2) for name, seconds in used.items()}
