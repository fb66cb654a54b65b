"""One definition of evidence: current mastery, history and forecasts agree on every topic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from mastery.domain.curriculum import CURRICULUM
from mastery.domain.daily import daily_scores, history
from mastery.domain.events import parse_event
from mastery.domain.mastery import MasteryRules, student_mastery
from mastery.domain.outlook import student_outlook
from mastery.domain.record import StudentRecord
from mastery.domain.record_events import apply_event
from mastery.entrypoints.http.views import history_view
from tests.factories import event

RULES = MasteryRules()
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
CONTROL_FLOW = [t for t in CURRICULUM.topics if t.startswith("control_flow.")]
TOPICS = ["basics.variables", "basics.operators", *CONTROL_FLOW]


def build(documents: list[dict[str, object]]) -> StudentRecord:
    record = StudentRecord(student_id="s1")
    for document in documents:
        apply_event(record, parse_event(document, NOW, CURRICULUM))
    return record


def assert_one_rule(record: StudentRecord) -> None:
    """The last history point, the history view and every forecast's current score are today's
    mastery, topic by topic."""
    today = record.local_day(NOW)
    current = student_mastery(record, CURRICULUM, today, RULES)
    last = history(record, CURRICULUM, today, 30, RULES)[-1]
    daily = daily_scores(record, CURRICULUM, today, 30, RULES)
    outlook = student_outlook(record, CURRICULUM, today, RULES, 7)
    assert last.overall == daily.overall[-1] == outlook.overall.current == current.overall
    for topic_id in CURRICULUM.topics:
        now = current.topic(topic_id)
        assert last.topic(topic_id).score == now.score, topic_id
        assert last.topic(topic_id).practised == now.practised, topic_id
        assert (daily.topics[topic_id][-1] or 0.0) == now.score, topic_id
        assert outlook.topics[topic_id].current == now.score, topic_id
    shown = history_view("s1", daily)["days"][-1]["topics"]
    expected = {t.topic: t.display_score for m in current.modules for t in m.topics if t.practised}
    assert shown == expected


def test_code_runs_alone_do_not_make_a_topic_practised() -> None:
    # A 10/10 quiz in variables on each of the last 7 days, and one clean run today in each
    # control-flow topic: runs are activity (the streak), not evidence.
    documents = [
        event("quiz.completed", "s1", "basics.variables", NOW - timedelta(days=d),
              quiz_id=f"q{d}", correct=10, total=10)
        for d in range(7)
    ]  # fmt: skip
    documents += [event("code.executed", "s1", t, NOW, ok=True) for t in CONTROL_FLOW]
    record = build(documents)
    current = student_mastery(record, CURRICULUM, NOW.date(), RULES)
    assert [current.topic(t).score for t in CONTROL_FLOW] == [0.0] * 4
    assert current.topic("basics.variables").score == 30 + 10  # quiz 1.0, 7-day streak
    assert current.overall == 40 / 5 / 8
    assert_one_rule(record)


_KINDS = ["pass", "fail", "quiz", "review", "run", "failed_run", "help", "start"]


def _document(kind: str, topic: str, at: datetime, n: int) -> dict[str, object]:
    if kind in ("pass", "fail"):
        return event("exercise.completed", "s1", topic, at, exercise_id=f"e{n % 7}",
                     difficulty="medium", passed=kind == "pass")  # fmt: skip
    if kind == "quiz":
        return event("quiz.completed", "s1", topic, at, quiz_id=f"q{n}", correct=n % 6, total=5)
    if kind == "review":
        return event("code.reviewed", "s1", topic, at, submission_id=f"r{n}", quality=n % 101)
    if kind in ("run", "failed_run"):
        ok = kind == "run"
        return event("code.executed", "s1", topic, at, ok=ok, error_type=None if ok else "E")
    if kind == "help":
        return event("help.requested", "s1", topic, at, text="how do I do this?")
    return event("exercise.started", "s1", topic, at, exercise_id=f"e{n % 7}")


@settings(max_examples=60, deadline=None)
@given(
    items=st.lists(
        st.tuples(st.sampled_from(_KINDS), st.sampled_from(TOPICS), st.integers(0, 40 * 24 * 60)),
        min_size=1,
        max_size=40,
    ),
    offset=st.sampled_from([-300, 0, 330]),
)
def test_history_and_forecast_end_on_current_mastery_for_every_topic(
    items: list[tuple[str, str, int]], offset: int
) -> None:
    zone = timezone(timedelta(minutes=offset))
    documents = [
        _document(kind, topic, (NOW - timedelta(minutes=back)).astimezone(zone), n)
        for n, (kind, topic, back) in enumerate(items)
    ]
    assert_one_rule(build(documents))
