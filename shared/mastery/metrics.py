"""Prometheus metrics: counters, gauges and histograms with labels, and the text `/metrics` serves.

What prometheus-client did for the engine, written for it (docs/DECISIONS.md): that package's
initialiser imports its exposition servers (`http.server`, `wsgiref`, `urllib.request`), its
multiprocess and OpenMetrics modules and registers collectors that read `/proc` at import —
~49 M instructions, 4% of a function's start to its first response, which no request needs.
The text is the same as its `generate_latest` wrote (Prometheus text format 0.0.4): each family
in the order it was made, after the Python and process families (`python_gc_*`, `python_info`,
`process_*`, read when scraped); counters as `<name>_total`; labels sorted by name; every
counter and histogram with its `_created` time; values as Go writes floats.

Metric objects are made once per process, at module level, and register themselves by name.
"""

from __future__ import annotations

import gc
import math
import os
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

__all__ = ["CONTENT_TYPE", "Counter", "Gauge", "Histogram", "exposition"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_Child = TypeVar("_Child", bound="_Value")
# The process's metrics by name, in the order they were made (prometheus-client's default
# registry): module-level, like the metric objects themselves.
_FAMILIES: dict[str, _Family[Any]] = {}


class _Value:
    __slots__ = ("_lock", "created")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.created = time.time()


class _CounterValue(_Value):
    __slots__ = ("value",)

    def __init__(self) -> None:
        super().__init__()
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        """Add `amount` (never negative)."""
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        with self._lock:
            self.value += amount


class _GaugeValue(_Value):
    __slots__ = ("value",)

    def __init__(self) -> None:
        super().__init__()
        self.value = 0.0

    def set(self, value: float) -> None:
        """Set the gauge to `value`."""
        with self._lock:
            self.value = float(value)


class _HistogramValue(_Value):
    __slots__ = ("_bounds", "buckets", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        super().__init__()
        self._bounds = bounds
        self.buckets = [0.0] * len(bounds)  # per bucket, not cumulative
        self.sum = 0.0
        self.created = time.time()

    def observe(self, amount: float) -> None:
        """Count one observation of `amount`."""
        with self._lock:
            self.sum += amount
            for index, bound in enumerate(self._bounds):
                if amount <= bound:
                    self.buckets[index] += 1.0
                    break


class _Family(Generic[_Child]):
    """One named metric and its children, one per combination of label values."""

    type = ""

    def __init__(self, name: str, documentation: str, labelnames: Iterable[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], _Child] = {}
        self._lock = threading.Lock()
        if name in _FAMILIES:
            raise ValueError(f"Duplicated timeseries in the registry: {name}")
        _FAMILIES[name] = self
        if not self.labelnames:
            self._only = self.labels()

    def _child(self) -> _Child:
        raise NotImplementedError

    def labels(self, *values: object, **named: object) -> _Child:
        """The child of these label values (by position or by name), made on first use."""
        if named:
            if values or set(named) != set(self.labelnames):
                raise ValueError(f"{self.name}: incorrect label names")
            values = tuple(named[label] for label in self.labelnames)
        elif len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: incorrect label count")
        key = tuple(str(value) for value in values)
        child = self._children.get(key)
        if child is None:
            with self._lock:
                child = self._children.setdefault(key, self._child())
        return child

    def _unlabelled(self) -> _Child:
        if self.labelnames:
            raise ValueError(f"{self.name}: no label values given")
        return self._only

    def _samples(self) -> Iterator[tuple[str, dict[str, str], float]]:
        raise NotImplementedError

    def _created(self) -> Iterator[tuple[dict[str, str], float]]:
        """When each child was made (counters and histograms)."""
        if self.type != "gauge":
            for labels, child in self._labelled():
                yield labels, child.created

    def _labelled(self) -> list[tuple[dict[str, str], _Child]]:
        with self._lock:
            children = list(self._children.items())
        return [(dict(zip(self.labelnames, key, strict=True)), child) for key, child in children]


class Counter(_Family[_CounterValue]):
    """A count that only goes up; its samples are named `<name>_total` (`_total` is optional
    in `name`)."""

    type = "counter"

    def __init__(self, name: str, documentation: str, labelnames: Iterable[str] = ()) -> None:
        super().__init__(name.removesuffix("_total"), documentation, labelnames)

    def _child(self) -> _CounterValue:
        return _CounterValue()

    def inc(self, amount: float = 1.0) -> None:
        """Add `amount` to the unlabelled counter."""
        self._unlabelled().inc(amount)

    def _samples(self) -> Iterator[tuple[str, dict[str, str], float]]:
        for labels, child in self._labelled():
            yield f"{self.name}_total", labels, child.value


class Gauge(_Family[_GaugeValue]):
    """A value that is set."""

    type = "gauge"

    def _child(self) -> _GaugeValue:
        return _GaugeValue()

    def set(self, value: float) -> None:
        """Set the unlabelled gauge."""
        self._unlabelled().set(value)

    def _samples(self) -> Iterator[tuple[str, dict[str, str], float]]:
        for labels, child in self._labelled():
            yield self.name, labels, child.value


class Histogram(_Family[_HistogramValue]):
    """Observations counted in buckets by upper bound (`+Inf` added), with their sum."""

    type = "histogram"

    def __init__(
        self, name: str, documentation: str, labelnames: Iterable[str], buckets: Iterable[float]
    ) -> None:
        bounds = sorted(float(bound) for bound in buckets)
        if bounds[-1] != math.inf:
            bounds.append(math.inf)
        self._bounds = tuple(bounds)
        super().__init__(name, documentation, labelnames)

    def _child(self) -> _HistogramValue:
        return _HistogramValue(self._bounds)

    def _samples(self) -> Iterator[tuple[str, dict[str, str], float]]:
        for labels, child in self._labelled():
            with child._lock:
                buckets, total = list(child.buckets), child.sum
            cumulative = 0.0
            for bound, count in zip(self._bounds, buckets, strict=True):
                cumulative += count
                yield f"{self.name}_bucket", {**labels, "le": _go_float(bound)}, cumulative
            yield f"{self.name}_count", labels, cumulative
            yield f"{self.name}_sum", labels, total


def exposition() -> bytes:
    """Every metric of this process in the Prometheus text format (what `/metrics` serves)."""
    lines: list[str] = []
    for name, kind, documentation, samples in _process_families():
        _family_lines(lines, name, kind, documentation, samples)
    for family in list(_FAMILIES.values()):
        name = f"{family.name}_total" if family.type == "counter" else family.name
        _family_lines(lines, name, family.type, family.documentation, family._samples())
        created = list(family._created())
        if created:
            _family_lines(lines, f"{family.name}_created", "gauge", family.documentation,
                          ((f"{family.name}_created", labels, at) for labels, at in created))  # fmt: skip
    return "".join(lines).encode()


_Samples = Iterable[tuple[str, dict[str, str], float]]


def _family_lines(
    lines: list[str], name: str, kind: str, documentation: str, samples: _Samples
) -> None:
    help_text = documentation.replace("\\", r"\\").replace("\n", r"\n")
    lines.append(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")
    for sample, labels, value in samples:
        if labels:
            pairs = ",".join(f'{key}="{_escape(labels[key])}"' for key in sorted(labels))
            lines.append(f"{sample}{{{pairs}}} {_go_float(value)}\n")
        else:
            lines.append(f"{sample} {_go_float(value)}\n")


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _go_float(value: float) -> str:
    """`value` as Prometheus's Go server writes floats (1e+10, +Inf, NaN)."""
    value = float(value)
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(value)
    dot = text.find(".")
    if value > 0 and dot > 6:  # Go switches to exponents sooner than Python
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def _process_families() -> Iterator[tuple[str, str, str, _Samples]]:
    """The garbage collector's counts, the interpreter and the process (`/proc`, where there is
    one): the families every Prometheus client library exports."""
    stats = [(str(generation), stat) for generation, stat in enumerate(gc.get_stats())]
    for key, name, documentation in (
        ("collected", "python_gc_objects_collected", "Objects collected during gc"),
        ("uncollectable", "python_gc_objects_uncollectable", "Uncollectable objects found during GC"),
        ("collections", "python_gc_collections", "Number of times this generation was collected"),
    ):  # fmt: skip
        yield (f"{name}_total", "counter", documentation,
               [(f"{name}_total", {"generation": g}, float(s[key])) for g, s in stats])  # fmt: skip
    import platform  # only when scraped

    major, minor, patchlevel = platform.python_version_tuple()
    info = {"implementation": platform.python_implementation(), "major": major,
            "minor": minor, "patchlevel": patchlevel, "version": platform.python_version()}  # fmt: skip
    yield "python_info", "gauge", "Python platform information", [("python_info", info, 1.0)]
    yield from _proc_families()


def _proc_families() -> Iterator[tuple[str, str, str, _Samples]]:
    def gauge(name: str, documentation: str, value: float) -> tuple[str, str, str, _Samples]:
        return name, "gauge", documentation, [(name, {}, value)]

    try:
        with open("/proc/stat", "rb") as stat:
            boot = next(float(line.split()[1]) for line in stat if line.startswith(b"btime "))
        with open("/proc/self/stat", "rb") as own:
            parts = own.read().split(b")")[-1].split()
    except (OSError, StopIteration):
        return
    ticks = os.sysconf("SC_CLK_TCK")
    yield gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", float(parts[20]))
    yield gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                float(parts[21]) * os.sysconf("SC_PAGE_SIZE"))  # fmt: skip
    yield gauge("process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                float(parts[19]) / ticks + boot)  # fmt: skip
    cpu = (float(parts[11]) + float(parts[12])) / ticks
    yield ("process_cpu_seconds_total", "counter",
           "Total user and system CPU time spent in seconds.",
           [("process_cpu_seconds_total", {}, cpu)])  # fmt: skip
    try:
        with open("/proc/self/limits", "rb") as limits:
            max_fds = next(float(line.split()[3]) for line in limits
                           if line.startswith(b"Max open file"))  # fmt: skip
        open_fds = float(len(os.listdir("/proc/self/fd")))
    except (OSError, StopIteration):
        return
    yield gauge("process_open_fds", "Number of open file descriptors.", open_fds)
    yield gauge("process_max_fds", "Maximum number of open file descriptors.", max_fds)
