"""The Prometheus text `/metrics` serves, as prometheus-client's `generate_latest` wrote it."""

from __future__ import annotations

import re

import pytest

from mastery import metrics
from mastery.metrics import Counter, Gauge, Histogram


def _text() -> str:
    # Creation times and the process's own figures change from run to run.
    return re.sub(
        r"^(\w+_created(\{.*\})?) \S+$", r"\1 T", metrics.exposition().decode(), flags=re.M
    )


def test_families_are_written_in_the_text_format() -> None:
    requests = Counter(
        "unit_requests_total", 'Requests "by" \\ route.\nTwo lines.', ["route", "method"]
    )
    requests.labels('/v1/a"b\\c\nd', "GET").inc()
    requests.labels(method="POST", route="/x").inc(2.5)
    seconds = Histogram("unit_seconds", "Seconds.", ["route"], buckets=(0.005, 1.0))
    seconds.labels("/x").observe(0.003)
    seconds.labels("/x").observe(7)
    Gauge("unit_partitions", "Partitions.").set(3)
    Counter("unit_big", "Big.").inc(1e10)
    Counter("unit_none_total", "Never counted.", ["outcome"])
    text = _text()
    assert (
        '# HELP unit_requests_total Requests "by" \\\\ route.\\nTwo lines.\n'
        "# TYPE unit_requests_total counter\n"
        'unit_requests_total{method="GET",route="/v1/a\\"b\\\\c\\nd"} 1.0\n'
        'unit_requests_total{method="POST",route="/x"} 2.5\n'
        '# HELP unit_requests_created Requests "by" \\\\ route.\\nTwo lines.\n'
        "# TYPE unit_requests_created gauge\n"
        'unit_requests_created{method="GET",route="/v1/a\\"b\\\\c\\nd"} T\n'
        'unit_requests_created{method="POST",route="/x"} T\n'
    ) in text
    assert (
        "# TYPE unit_seconds histogram\n"
        'unit_seconds_bucket{le="0.005",route="/x"} 1.0\n'
        'unit_seconds_bucket{le="1.0",route="/x"} 1.0\n'
        'unit_seconds_bucket{le="+Inf",route="/x"} 2.0\n'
        'unit_seconds_count{route="/x"} 2.0\n'
        'unit_seconds_sum{route="/x"} 7.003\n'
    ) in text
    assert "# TYPE unit_partitions gauge\nunit_partitions 3.0\n" in text
    assert "unit_big_total 1e+10\n" in text
    assert "# TYPE unit_none_total counter\n# HELP unit_big_total" not in text
    assert "# TYPE unit_none_total counter\n" in text
    assert "unit_none_total{" not in text


def test_the_process_and_interpreter_families_come_first() -> None:
    text = _text()
    assert text.startswith("# HELP python_gc_objects_collected_total ")
    for name in ("python_info", "process_resident_memory_bytes", "process_cpu_seconds_total",
                 "process_open_fds", "process_max_fds"):  # fmt: skip
        assert f"\n{name}" in text


def test_misuse_is_refused() -> None:
    counted = Counter("unit_misuse_total", "Misuse.", ["outcome"])
    with pytest.raises(ValueError, match="Duplicated"):
        Counter("unit_misuse", "Again.")
    with pytest.raises(ValueError, match="label count"):
        counted.labels("a", "b")
    with pytest.raises(ValueError, match="label names"):
        counted.labels(result="a")
    with pytest.raises(ValueError, match="no label values"):
        counted.inc()
    with pytest.raises(ValueError, match="non-negative"):
        counted.labels("a").inc(-1)
