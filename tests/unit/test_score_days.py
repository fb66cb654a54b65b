"""Day summaries: folding final scores changes no average, history value or count, whenever it runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from mastery.domain.curriculum import CURRICULUM
from mastery.domain.events import parse_event
from mastery.domain.record import StudentRecord, TopicEvidence
from mastery.domain.record_encoding import Observation
from mastery.domain.record_events import apply_event
from mastery.domain.scores import FOLD_AT, averages_at, count, decaying_average, fold, times
from tests.factories import event

START = 1_767_571_200  # 2026-01-05 00:00 UTC
DAY = 86_400

scores_strategy = st.lists(
    st.tuples(
        st.integers(START, START + 3 * DAY),
        st.sampled_from([0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 0.47, 0.93, 3 / 7]),
        st.sampled_from(["", "e1", "e2", "e3"]),
    ),
    max_size=80,
).map(sorted)
offsets = st.sampled_from([-300 * 60, 0, 330 * 60])


def _day_ends(offset_s: int) -> list[int]:
    """The local day ends (the history's cut points) around the scores, at `offset_s`."""
    first = (START + offset_s) // DAY * DAY - offset_s
    return [first + k * DAY - 1 for k in range(-1, 9)]


@given(scores_strategy, st.lists(st.integers(START, START + 7 * DAY)), offsets)
def test_folding_at_any_horizons_keeps_averages_history_and_counts(
    scores: list[Observation], horizons: list[int], offset_s: int
) -> None:
    days: list[tuple[int, float, int]] = []
    kept, since = scores, 0
    for horizon in sorted(horizons):
        days, kept = fold(days, kept, since, horizon, offset_s)
        since = horizon
    assert decaying_average(days, kept) == decaying_average([], scores)  # bit for bit
    ends = _day_ends(offset_s)
    assert averages_at(days, kept, ends) == averages_at([], scores, ends)
    assert [decaying_average([], [o for o in scores if o[0] <= end]) for end in ends] == (
        averages_at([], scores, ends)
    )
    assert count(days, kept) == len(scores)
    local = {(at + offset_s) // DAY for at in times(days, kept)}
    assert local == {(at + offset_s) // DAY for at in times([], scores)}
    # The same as one fold at the last horizon: which days fold depends on the scores only.
    assert (days, kept) == fold([], scores, 0, max(horizons, default=0), offset_s)


@given(scores_strategy, offsets)
def test_a_summary_holds_a_whole_final_day_of_enough_scores_and_nothing_after_the_horizon(
    scores: list[Observation], offset_s: int
) -> None:
    horizon = START + 3 * DAY + 12 * 3600
    days, kept = fold([], scores, 0, horizon, offset_s)
    assert all(at < horizon for at, _, _ in days)
    assert [o for o in scores if o[0] >= horizon] == [o for o in kept if o[0] >= horizon]
    by_day: dict[int, int] = {}
    for at, _, _ in scores:
        if at < horizon:
            by_day[(at + offset_s) // DAY] = by_day.get((at + offset_s) // DAY, 0) + 1
    summarised = {(at + offset_s) // DAY: n for at, _, n in days}
    assert summarised == {day: n for day, n in by_day.items() if n >= FOLD_AT}


def test_a_busy_day_becomes_one_summary_that_takes_in_its_later_scores() -> None:
    day = [(START + 3600 * h, 0.2 * (h % 5), f"e{h}") for h in range(FOLD_AT + 3)]
    days, kept = fold([], day, 0, START + 3600 * (FOLD_AT - 1), 0)  # one too few final
    assert (days, kept) == ([], day)
    days, kept = fold(days, kept, START + 3600 * (FOLD_AT - 1), START + 3600 * FOLD_AT, 0)
    assert kept == day[FOLD_AT:]
    assert days == [(day[FOLD_AT - 1][0], decaying_average([], day[:FOLD_AT]), FOLD_AT)]
    days, kept = fold(days, kept, START + 3600 * FOLD_AT, START + 3600 * (FOLD_AT + 2), 0)
    assert kept == day[FOLD_AT + 2 :]
    assert days == [(day[FOLD_AT + 1][0], decaying_average([], day[: FOLD_AT + 2]), FOLD_AT + 2)]
    ends = [at for at, _, _ in day[FOLD_AT + 1 :]] + [START + DAY - 1]  # from the summary on
    assert averages_at(days, kept, ends) == averages_at([], day, ends)


def test_a_score_at_or_before_its_newest_summary_is_not_kept() -> None:
    """Only a late-arrival window raised after the fold lets such an event in."""
    topic, at = "basics.variables", datetime.fromtimestamp(START + DAY, UTC)
    record = StudentRecord(student_id="s1", last_event_at=START + DAY)
    record.topics[topic] = TopicEvidence(quiz_days=[(START + 3600, 0.5, 4)])
    for n, when in enumerate((at - timedelta(days=1), at)):
        document = event("quiz.completed", "s1", topic, when, quiz_id=f"q{n}", correct=1, total=1)
        assert apply_event(record, parse_event(document, at, CURRICULUM), timedelta(days=2))
    assert record.topics[topic].quizzes == [(START + DAY, 1.0, record.topics[topic].quizzes[0][2])]
    assert count(record.topics[topic].quiz_days, record.topics[topic].quizzes) == 5
