"""Student recommendations: order, explanations, and never a topic with unmet prerequisites."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from mastery.domain.alerts import Alert
from mastery.domain.curriculum import CURRICULUM
from mastery.domain.mastery import MasteryRules, StudentMastery, at_least, student_mastery
from mastery.domain.recommend import REVIEW_AFTER_DAYS, Recommendation, recommend
from mastery.domain.record import StudentRecord, TopicEvidence

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
EPOCH = int(NOW.timestamp())
TODAY = NOW.date()
TOPICS = list(CURRICULUM.topics)
DAY = 86_400


def mastered_evidence(at: int, quality: float = 1.0) -> TopicEvidence:
    """Evidence worth full completion, quiz and (by default) quality."""
    passed = {f"e{i}": ("hard", at) for i in range(12)}
    return TopicEvidence(passed=passed, quizzes=[(at, 1.0, "q")], reviews=[(at, quality, "r")],
                         last_activity=at)  # fmt: skip


def record_with(topics: dict[str, TopicEvidence], alerts: list[Alert] = ()) -> StudentRecord:  # type: ignore[assignment]
    days = [TODAY.toordinal() - i for i in range(7)][::-1]
    return StudentRecord(student_id="s1", topics=topics, alerts=list(alerts), active_days=days)


def run(record: StudentRecord) -> tuple[StudentMastery, list[Recommendation]]:
    mastery = student_mastery(record, CURRICULUM, TODAY, MasteryRules())
    activity = {t: e.last_activity for t, e in record.topics.items()}
    return mastery, recommend(mastery, record.alerts, activity, EPOCH, CURRICULUM)


def alert(topic: str, raised_at: int, acknowledged: bool = False) -> Alert:
    return Alert(id=f"a-{topic}-{raised_at}", student_id="s1", topic=topic,
                 trigger="repeated_error", raised_at=raised_at,
                 acknowledged_at=raised_at + 1 if acknowledged else None)  # fmt: skip


def test_a_student_with_no_data_is_told_to_start_the_first_topic() -> None:
    _, found = run(StudentRecord(student_id="nobody"))
    assert [(r.kind, r.topic) for r in found] == [("start", "basics.variables")]
    assert found[0].reason
    assert found[0].estimated_minutes > 0


def test_order_is_remediation_then_gaps_by_size_then_new_then_review() -> None:
    stale = EPOCH - (REVIEW_AFTER_DAYS + 1) * DAY
    topics = {
        "basics.variables": mastered_evidence(stale),
        "basics.data_types": TopicEvidence(
            passed={"e1": ("medium", EPOCH)},
            quizzes=[(EPOCH, 0.6, "q")],
            reviews=[(EPOCH, 0.65, "r")],
            last_activity=EPOCH,
        ),
    }
    record = record_with(topics, [alert("basics.data_types", EPOCH - 60),
                                  alert("basics.data_types", EPOCH - 10),
                                  alert("basics.variables", EPOCH, acknowledged=True)])  # fmt: skip
    _, found = run(record)
    kinds = [(r.kind, r.topic) for r in found]
    assert kinds == [
        ("remediate", "basics.data_types"),
        ("remediate", "basics.data_types"),
        ("practise", "basics.data_types"),  # completion 1/6 vs 0.80: the largest gap
        ("review", "basics.data_types"),  # quiz 0.60 vs 0.75
        ("refactor", "basics.data_types"),  # quality 0.65 vs 0.70
        ("start", "basics.input_output"),  # needs only variables, which is Mastered
        ("refresh", "basics.variables"),
    ]
    assert found[0].alert_id == f"a-basics.data_types-{EPOCH - 10}"  # newest alert first
    assert [r.gap for r in found[2:5]] == sorted((r.gap or 0 for r in found[2:5]), reverse=True)
    assert "0.60" in found[3].reason
    assert "0.75" in found[3].reason
    assert found[2].estimated_minutes == 10 * 4  # ceil((0.8 - 1/6) * 6) more exercises


def test_a_broken_streak_is_a_gap_on_the_newest_topic() -> None:
    record = record_with({"basics.variables": mastered_evidence(EPOCH - 3 * DAY)})
    record.active_days = [TODAY.toordinal() - 3]
    _, found = run(record)
    streak = [r for r in found if r.kind == "keep_streak"]
    assert len(streak) == 1
    assert streak[0].topic == "basics.variables"


def test_alert_in_a_topic_with_unmet_prerequisites_remediates_its_foundation() -> None:
    record = record_with(
        {"data_structures.lists": TopicEvidence(last_activity=EPOCH)},
        [alert("data_structures.lists", EPOCH)],
    )
    _, found = run(record)
    assert (found[0].kind, found[0].topic) == ("remediate", "basics.variables")
    assert "Lists" in found[0].reason
    assert "Variables" in found[0].reason


evidence = st.builds(
    TopicEvidence,
    passed=st.dictionaries(
        st.sampled_from([f"e{i}" for i in range(12)]),
        st.tuples(st.sampled_from(["easy", "medium", "hard"]), st.just(EPOCH - DAY)),
        max_size=12,
    ),
    quizzes=st.lists(st.tuples(st.just(EPOCH - DAY), st.floats(0, 1), st.just("q")), max_size=3),
    reviews=st.lists(st.tuples(st.just(EPOCH - DAY), st.floats(0, 1), st.just("r")), max_size=3),
    last_activity=st.integers(EPOCH - 60 * DAY, EPOCH),
)
records = st.builds(
    lambda topics, alerted, streak: record_with(
        topics, [alert(t, EPOCH - i) for i, t in enumerate(alerted)]
    ).model_copy(update={"active_days": [TODAY.toordinal() - d for d in range(streak)]}),
    st.dictionaries(st.sampled_from(TOPICS), evidence, max_size=len(TOPICS)),
    st.lists(st.sampled_from(TOPICS), max_size=5),
    st.integers(0, 8),
)


@settings(max_examples=300, deadline=None)
@given(record=records)
def test_no_recommendation_targets_a_topic_with_unmet_prerequisites(
    record: StudentRecord,
) -> None:
    mastery, found = run(record)
    for item in found:
        for prerequisite in CURRICULUM.topic(item.topic).prerequisites:
            assert at_least(mastery.topic(prerequisite).score, "Proficient"), (item, prerequisite)
        assert item.reason
        assert item.estimated_minutes > 0
    kinds = [r.kind for r in found]
    rank = {"remediate": 0, "start": 2, "refresh": 3}
    assert [rank.get(k, 1) for k in kinds] == sorted(rank.get(k, 1) for k in kinds)
    assert len(found) == len({(r.kind, r.topic, r.alert_id) for r in found})
