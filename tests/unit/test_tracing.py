"""W3C trace context: parsing, child spans, what is sent on, and the trace of a batch's alert."""

from __future__ import annotations

import pytest

from mastery.tracing import (
    current_trace,
    delivered_trace,
    event_traces,
    parse_traceparent,
    trace_headers,
    traced,
    traced_by_evidence,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        f"ff-{TRACE}-00f067aa0ba902b7-01",  # version ff is invalid
        f"00-{'0' * 32}-00f067aa0ba902b7-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE}-00f067aa0ba902b7-01-extra",  # version 00 has nothing after the flags
        f"00-{TRACE.upper()}-00f067aa0ba902b7-01",  # ids are lower-case hex
    ],
)
def test_invalid_traceparent_is_ignored(value: str | None) -> None:
    assert parse_traceparent(value) is None


def test_later_versions_may_carry_more_fields() -> None:
    assert parse_traceparent(f"01-{TRACE}-00f067aa0ba902b7-00-more") == (
        TRACE, "00f067aa0ba902b7", False,
    )  # fmt: skip


def test_work_is_a_child_span_in_the_callers_trace_and_sends_it_on() -> None:
    assert current_trace() is None
    assert trace_headers() == []
    with traced("work", PARENT, "vendor=1") as trace:
        assert (trace.trace_id, trace.state) == (TRACE, "vendor=1")
        assert trace.span_id != "00f067aa0ba902b7"
        assert trace_headers() == [
            ("traceparent", f"00-{TRACE}-{trace.span_id}-01"), ("tracestate", "vendor=1"),
        ]  # fmt: skip
        with traced("inner", None) as inner:  # nothing valid came: the bound trace goes on
            assert inner.trace_id == TRACE
    assert current_trace() is None


def test_without_a_caller_trace_a_new_trace_starts() -> None:
    with traced("work", "not-a-traceparent") as first, traced("other", None):
        pass
    with traced("work", None) as second:
        assert len(second.trace_id) == 32
    assert first.trace_id != second.trace_id


def test_an_alert_of_a_batch_goes_on_in_the_trace_of_its_newest_evidence() -> None:
    other = f"00-{'1' * 32}-{'2' * 16}-01"
    traces = {"e1": delivered_trace(PARENT), "e2": delivered_trace(other)}
    with event_traces({k: v for k, v in traces.items() if v is not None}):
        with traced_by_evidence(["e1", "e2", "e9"]):
            assert trace_headers() == [("traceparent", other)]
        with traced_by_evidence(["e1"]):
            assert trace_headers() == [("traceparent", PARENT)]
        with traced_by_evidence(["unknown"]):
            assert trace_headers() == []


def test_a_delivery_of_one_event_keeps_the_bound_span() -> None:
    with traced("delivery", PARENT) as bound:
        assert delivered_trace(PARENT) is bound
    assert delivered_trace(None) is None
