"""Student recommendations: a tutor's order, explanations from evidence, no repeats."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from mastery.domain.alerts import Alert
from mastery.domain.curriculum import CURRICULUM
from mastery.domain.mastery import MasteryRules, StudentMastery, at_least, student_mastery
from mastery.domain.recommend import PER_TOPIC, REVIEW_AFTER_DAYS, Recommendation, recommend
from mastery.domain.record import StudentRecord, TopicEvidence

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
EPOCH = int(NOW.timestamp())
TODAY = NOW.date()
TOPICS = list(CURRICULUM.topics)
DAY = 86_400
TIER = {"strengthen": 0, "remediate": 1, "start": 3, "refresh": 4}  # component gaps: 2


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
    return mastery, recommend(mastery, record.alerts, EPOCH, CURRICULUM)


def alert(topic: str, raised_at: int, acknowledged: bool = False, trigger: str = "repeated_error",
          detail: str | None = "TypeError") -> Alert:  # fmt: skip
    return Alert(id=f"a-{topic}-{raised_at}", student_id="s1", topic=topic,
                 trigger=trigger, raised_at=raised_at, detail=detail,  # type: ignore[arg-type]
                 acknowledged_at=raised_at + 1 if acknowledged else None)  # fmt: skip


def test_a_student_with_no_data_is_told_to_start_the_first_topic() -> None:
    _, found = run(StudentRecord(student_id="nobody"))
    assert [(r.kind, r.topic) for r in found] == [("start", "basics.variables")]
    assert found[0].reason
    assert found[0].estimated_minutes > 0


def test_order_is_alerts_then_the_weakest_component_then_new_then_refresh() -> None:
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
                                  alert("basics.data_types", EPOCH - 10, trigger="low_quiz_score",
                                        detail="20%"),
                                  alert("basics.variables", EPOCH, acknowledged=True)])  # fmt: skip
    _, found = run(record)
    assert [(r.kind, r.topic) for r in found] == [
        ("remediate", "basics.data_types"),  # both open alerts in one item
        ("practise", "basics.data_types"),  # completion 1/6 vs 0.80: its weakest component
        ("start", "basics.input_output"),  # needs only variables, which is Mastered
        ("refresh", "basics.variables"),
    ]
    remediate, practise, start, refresh = found
    assert remediate.alert_id == f"a-basics.data_types-{EPOCH - 10}"  # the newest alert
    assert remediate.reason == (
        "2 open struggle alerts in Data types: low quiz score (20%); repeated error (TypeError)."
    )
    assert practise.reason == ("You have passed 1 of 6 exercises in Data types (completion "
                               "0.17, aim 0.80): pass 4 more.")  # fmt: skip
    assert practise.estimated_minutes == 10 * 4  # ceil((0.8 - 1/6) * 6) more exercises
    assert start.reason == "Ready for Input/output (5 exercises): Variables is 100 (Mastered)."
    assert refresh.reason == "Variables is 100 (Mastered) but has had no new evidence for 15 days."


def test_a_weak_foundation_comes_first_and_names_what_it_unblocks() -> None:
    # Operators and Type conversion both need Data types at Proficient; Data types is weak.
    weak = TopicEvidence(passed={"e1": ("easy", EPOCH)}, quizzes=[(EPOCH, 0.4, "q")])
    some = TopicEvidence(passed={"e1": ("medium", EPOCH)})
    record = record_with(
        {"basics.variables": mastered_evidence(EPOCH), "basics.data_types": weak,
         "basics.operators": some, "basics.type_conversion": some},
        [alert("basics.operators", EPOCH)],
    )  # fmt: skip
    _, found = run(record)
    first = found[0]
    assert (first.kind, first.topic) == ("strengthen", "basics.data_types")
    assert first.reason == ("Data types is 27 (Beginner); Operators, Type conversion need it at "
                            "Proficient (71) and have 1 open struggle alert.")  # fmt: skip
    assert all(r.topic not in {"basics.operators", "basics.type_conversion"} for r in found)


def test_many_alerts_in_one_topic_give_at_most_two_items_none_repeated() -> None:
    triggers = ["repeated_error", "stuck_on_exercise", "failed_runs_streak", "asked_for_help"]
    alerts = [alert("basics.variables", EPOCH - i * 60, trigger=triggers[i % 4], detail=None)
              for i in range(8)]  # fmt: skip
    evidence = TopicEvidence(passed={"e1": ("easy", EPOCH)}, quizzes=[(EPOCH, 0.2, "q")],
                             reviews=[(EPOCH, 0.3, "r")])  # fmt: skip
    _, found = run(record_with({"basics.variables": evidence}, alerts))
    assert Counter(r.topic for r in found)["basics.variables"] == 2
    assert len({r.reason for r in found}) == len(found)
    assert "8 open struggle alerts" in found[0].reason


def test_no_quiz_or_review_sentence_without_a_quiz_or_a_review() -> None:
    passes = TopicEvidence(passed={"e1": ("medium", EPOCH)}, last_activity=EPOCH)
    _, found = run(record_with({"basics.variables": passes}))
    variables = [r for r in found if r.topic == "basics.variables"]
    assert [r.kind for r in variables] == ["practise"]
    assert all("quiz" not in r.reason and "review" not in r.reason for r in variables)


def test_a_broken_streak_is_a_gap_on_the_newest_topic() -> None:
    record = record_with({"basics.variables": mastered_evidence(EPOCH - 3 * DAY)})
    record.active_days = [TODAY.toordinal() - 3]
    _, found = run(record)
    streak = [r for r in found if r.kind == "keep_streak"]
    assert len(streak) == 1
    assert streak[0].topic == "basics.variables"
    assert "0.10" in streak[0].reason  # 1/7 * 0.9^3


evidence = st.builds(
    TopicEvidence,
    passed=st.dictionaries(
        st.sampled_from([f"e{i}" for i in range(12)]),
        st.tuples(st.sampled_from(["easy", "medium", "hard"]), st.just(EPOCH - DAY)),
        max_size=12,
    ),
    quizzes=st.lists(st.tuples(st.just(EPOCH - DAY), st.floats(0, 1), st.just("q")), max_size=3),
    reviews=st.lists(st.tuples(st.just(EPOCH - DAY), st.floats(0, 1), st.just("r")), max_size=3),
    runs=st.integers(0, 3),
    last_activity=st.integers(EPOCH - 60 * DAY, EPOCH),
)
records = st.builds(
    lambda topics, alerted, streak: record_with(
        topics, [alert(t, EPOCH - i) for i, t in enumerate(alerted)]
    ).model_copy(update={"active_days": [TODAY.toordinal() - d for d in range(streak)]}),
    st.dictionaries(st.sampled_from(TOPICS), evidence, max_size=len(TOPICS)),
    st.lists(st.sampled_from(TOPICS), max_size=8),
    st.integers(0, 8),
)


@settings(max_examples=300, deadline=None)
@given(record=records)
def test_every_list_is_ordered_capped_unrepeated_and_built_from_evidence(
    record: StudentRecord,
) -> None:
    mastery, found = run(record)
    for item in found:
        for prerequisite in CURRICULUM.topic(item.topic).prerequisites:
            assert at_least(mastery.topic(prerequisite).score, "Proficient"), (item, prerequisite)
        assert item.reason
        assert re.search(r"\d", item.reason), item  # the number behind it
        assert item.estimated_minutes > 0
        topic = record.topics.get(item.topic, TopicEvidence())
        if "quiz average" in item.reason:
            assert topic.quizzes
        if "code-review quality" in item.reason:
            assert topic.reviews
    tiers = [TIER.get(r.kind, 2) for r in found]
    assert tiers == sorted(tiers)
    assert max(Counter(r.topic for r in found).values(), default=0) <= PER_TOPIC
    assert len({r.reason for r in found}) == len(found)
