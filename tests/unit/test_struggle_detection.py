"""The five struggle triggers, the cooldown and order independence, as scripted scenarios."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from mastery.domain.curriculum import CURRICULUM
from mastery.domain.events import parse_event
from mastery.domain.record import LATE_WINDOW, StudentRecord
from mastery.domain.record_events import apply_event
from mastery.domain.struggle import StruggleRules
from mastery.domain.struggle_alerts import sweep
from mastery.domain.struggle_events import detect
from tests.factories import event

RULES = StruggleRules()
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=12)
LISTS = "data_structures.lists"
LOOPS = "control_flow.for_loops"
Doc = dict[str, Any]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def run(minutes: float, error: str | None = None, topic: str = LISTS) -> Doc:
    data = {"ok": error is None} | ({"error_type": error} if error else {})
    return event("code.executed", "s1", topic, at(minutes), **data)


def fold(
    documents: list[Doc], record: StudentRecord | None = None, window: timedelta = LATE_WINDOW
) -> StudentRecord:
    """Apply each event as ingest does: dedupe, apply, detect (`window`: the late-arrival one)."""
    record = record or StudentRecord(student_id="s1")
    for document in documents:
        parsed = parse_event(document, NOW, CURRICULUM)
        if apply_event(record, parsed, window):
            detect(record, [parsed], RULES, window)
    return record


def fired(record: StudentRecord) -> list[tuple[str, str, datetime]]:
    return [(a.topic, a.trigger, datetime.fromtimestamp(a.raised_at, UTC)) for a in record.alerts]


def test_three_same_errors_on_list_comprehensions_raise_the_demo_alert() -> None:
    errors = [run(m, "IndexError") for m in (0, 2, 4)]
    record = fold(errors)
    [alert] = record.alerts
    assert (alert.topic, alert.trigger, alert.detail) == (LISTS, "repeated_error", "IndexError")
    assert alert.evidence == [e["id"] for e in errors]
    assert alert.raised_at == int(at(4).timestamp())
    assert alert.open
    assert not alert.published


def test_two_errors_mixed_types_or_a_success_between_raise_nothing() -> None:
    assert fold([run(0, "IndexError"), run(1, "IndexError")]).alerts == []
    assert fold([run(0, "IndexError"), run(1, "TypeError"), run(2, "IndexError")]).alerts == []
    passed = event("exercise.completed", "s1", LISTS, at(1.5), exercise_id="e1",
                   difficulty="easy", passed=True)  # fmt: skip
    assert fold([run(0, "KeyError"), run(1, "KeyError"), passed, run(2, "KeyError")]).alerts == []
    assert fold([run(0, "KeyError"), run(1, "KeyError"), run(1.5), run(2, "KeyError")]).alerts == []


def test_the_same_error_in_another_topic_does_not_count() -> None:
    record = fold([run(0, "IndexError"), run(1, "IndexError", LOOPS), run(2, "IndexError")])
    assert record.alerts == []


def test_five_failed_runs_in_a_row_raise_a_streak_alert() -> None:
    kinds = ["TypeError", "NameError", "SyntaxError", "TypeError", "NameError"]
    record = fold([run(i, kind) for i, kind in enumerate(kinds)])
    assert fired(record) == [(LISTS, "failed_runs_streak", at(4))]
    assert len(record.alerts[0].evidence) == 5


def test_a_clean_run_breaks_the_streak() -> None:
    kinds = ["TypeError", "NameError", None, "SyntaxError", "TypeError", "NameError"]
    assert fold([run(i, kind) for i, kind in enumerate(kinds)]).alerts == []


def test_a_quiz_under_half_raises_an_alert_and_exactly_half_does_not() -> None:
    low = event("quiz.completed", "s1", LISTS, at(0), quiz_id="q1", correct=2, total=5)
    half = event("quiz.completed", "s1", LOOPS, at(1), quiz_id="q2", correct=1, total=2)
    record = fold([low, half])
    assert fired(record) == [(LISTS, "low_quiz_score", at(0))]
    assert record.alerts[0].detail == "40%"


def test_a_help_message_saying_stuck_raises_an_alert_and_a_question_does_not() -> None:
    stuck = event("help.requested", "s1", LISTS, at(0), text="can u explain again i dont get it")
    question = event("help.requested", "s1", LOOPS, at(1), text="How do I open a file?")
    record = fold([stuck, question])
    assert fired(record) == [(LISTS, "asked_for_help", at(0))]
    assert "explain" not in record.model_dump_json()  # the message itself is not kept


def start(minutes: float, exercise: str = "e1", topic: str = LISTS) -> Doc:
    return event("exercise.started", "s1", topic, at(minutes), exercise_id=exercise)


def finish(minutes: float, passed: bool, exercise: str = "e1") -> Doc:
    return event("exercise.completed", "s1", LISTS, at(minutes), exercise_id=exercise,
                 difficulty="medium", passed=passed)  # fmt: skip


def test_stuck_is_noticed_on_the_next_event_of_any_topic() -> None:
    record = fold([start(0)])
    assert record.alerts == []
    fold([run(11, topic=LOOPS)], record)
    assert fired(record) == [(LISTS, "stuck_on_exercise", at(10))]
    assert record.alerts[0].detail == "e1"


def test_passing_within_ten_minutes_is_not_stuck_and_a_failed_attempt_does_not_help() -> None:
    assert fold([start(0), finish(9, passed=True), run(30)]).alerts == []
    record = fold([start(0), finish(9, passed=False), run(30)])
    assert fired(record) == [(LISTS, "stuck_on_exercise", at(10))]


def test_a_sweep_notices_stuck_without_a_further_event() -> None:
    record = fold([start(0)])
    grace = RULES.sweep_grace_s / 60
    assert sweep(record, int(at(9 + grace).timestamp()), RULES) == []
    [alert] = sweep(record, int(at(12 + grace).timestamp()), RULES)
    assert (alert.trigger, alert.raised_at) == ("stuck_on_exercise", int(at(10).timestamp()))
    assert sweep(record, int(at(20 + grace).timestamp()), RULES) == []  # not raised twice


def test_one_alert_per_topic_and_trigger_within_the_cooldown() -> None:
    day = 24 * 60
    errors = [run(m, "IndexError") for m in range(0, 120, 10)]
    later = [run(day + 30 + m, "IndexError") for m in range(3)]
    record = fold(errors + later)
    assert [f for f in fired(record) if f[1] == "repeated_error"] == [
        (LISTS, "repeated_error", at(20)),
        (LISTS, "repeated_error", at(day + 30)),
    ]


def scenario() -> list[Doc]:
    """Every trigger at least once, in two topics, over two days, with a late success."""
    help_text = "I'm totally lost with comprehensions"
    day = 24 * 60
    return [
        *[run(m, "IndexError") for m in (0, 3, 6, 9)],
        run(7),  # a success after the alert at 6: only the error at 9 follows it
        *[run(100 + m, "ZeroDivisionError") for m in (0, 3, 6)],
        run(104),  # if this success arrives last, it withdraws the alert at 106
        *[run(20 + m, kind) for m, kind in enumerate(["A", "B", "C", "D", "E", "F"])],
        start(40),
        finish(55, passed=True),
        start(60, "e2"),
        finish(65, passed=True, exercise="e2"),
        event("quiz.completed", "s1", LOOPS, at(70), quiz_id="q1", correct=1, total=4),
        event("quiz.completed", "s1", LOOPS, at(80), quiz_id="q2", correct=0, total=4),
        event("help.requested", "s1", LISTS, at(90), text=help_text),
        event("help.requested", "s1", LISTS, at(95), text="thanks, I understand now"),
        *[run(day + 30 + m, "KeyError") for m in (0, 1, 2)],
        event("quiz.completed", "s1", LOOPS, at(day + 60), quiz_id="q3", correct=1, total=3),
        start(day + 90, "e3", LOOPS),
        event("class.enrolled", "s1", None, at(day + 100), class_id="c1"),
    ]


def test_shuffled_and_duplicated_delivery_gives_the_same_alerts() -> None:
    events = scenario()
    ordered = fold(events)
    assert {a.trigger for a in ordered.alerts} == {
        "repeated_error", "failed_runs_streak", "stuck_on_exercise", "low_quiz_score",
        "asked_for_help",
    }  # fmt: skip
    expected = [a.model_dump() for a in ordered.alerts]
    for seed in range(8):
        shuffled = random.Random(seed).sample(events, len(events))
        shuffled += random.Random(seed + 100).sample(shuffled, 5)  # redeliveries
        assert [a.model_dump() for a in fold(shuffled).alerts] == expected, seed


def test_evidence_and_alerts_stay_bounded_over_weeks_of_errors() -> None:
    documents = [
        run(day * 24 * 60 + m, "ValueError") for day in range(12) for m in range(0, 600, 5)
    ]
    record = fold(documents)
    runs = record.struggle.topics[LISTS].runs
    step = RULES.prune_step_s  # the cut moves by it: kept up to one step longer
    assert len(runs) <= 3 * 120 + step // 300  # two days re-derivable, the one-day look-back
    assert runs[0][0] >= record.struggle.as_of - RULES.run_lateness_s - RULES.window_s - step
    # One a day (the cooldown), and only the last 8 days' (the retention).
    assert [a.raised_at for a in record.alerts if a.trigger == "repeated_error"] == [
        int(at(day * 24 * 60 + 10).timestamp()) for day in range(4, 12)
    ]


def random_stream(seed: int, count: int = 60, begin: float = 0, span: float = 36 * 60) -> list[Doc]:
    """Random events in two topics (sixty over a day and a half)."""
    rng = random.Random(seed)
    out: list[Doc] = []
    for _ in range(count):
        minutes, topic = begin + rng.uniform(0, span), rng.choice([LISTS, LOOPS])
        kind = rng.choice(["run", "run", "run", "start", "pass", "quiz", "help"])
        if kind == "run":
            out.append(run(minutes, rng.choice([None, "TypeError", "KeyError"]), topic))
        elif kind == "start":
            out.append(start(minutes, rng.choice(["e1", "e2"]), topic))
        elif kind == "pass":
            out.append(event("exercise.completed", "s1", topic, at(minutes),
                             exercise_id=rng.choice(["e1", "e2"]), difficulty="easy",
                             passed=True))  # fmt: skip
        elif kind == "quiz":
            out.append(event("quiz.completed", "s1", topic, at(minutes),
                             quiz_id=f"q{len(out)}", correct=rng.randint(0, 4), total=4))  # fmt: skip
        else:
            out.append(event("help.requested", "s1", topic, at(minutes), text="im stuck"))
    return out


def test_random_streams_give_the_same_alerts_in_any_order() -> None:
    for seed in range(25):
        events = sorted(random_stream(seed), key=lambda d: str(d["occurred_at"]))
        expected = [a.model_dump() for a in fold(events).alerts]
        assert expected, seed
        shuffled = random.Random(seed).sample(events, len(events))
        assert [a.model_dump() for a in fold(shuffled).alerts] == expected, seed
        assert [a.model_dump() for a in fold(events[::-1]).alerts] == expected, seed


def fold_in_runs(
    documents: list[Doc], rng: random.Random, window: timedelta = LATE_WINDOW
) -> StudentRecord:
    """Apply the events as ingest's batches do: `detect` once per run of applied events."""
    record, documents = StudentRecord(student_id="s1"), list(documents)
    while documents:
        size = rng.choice([1, 2, 5, 17, 60])
        applied = []
        for document in documents[:size]:
            parsed = parse_event(document, NOW, CURRICULUM)
            if apply_event(record, parsed, window):
                applied.append(parsed)
        detect(record, applied, RULES, window)
        del documents[:size]
    return record


def sessions(seed: int) -> list[Doc]:
    """Sessions of random events, some days apart (the clock jumps past the frontiers)."""
    rng, out, begin = random.Random(seed), [], 0.0
    for n in range(4):
        begin += rng.choice([60, 20 * 60, 3 * 24 * 60])
        out += random_stream(seed * 10 + n, count=25, begin=begin, span=90)
    return sorted(out, key=lambda d: str(d["occurred_at"]))


def test_one_derivation_per_run_of_events_gives_what_one_per_event_gives() -> None:
    for seed in range(40):
        rng = random.Random(seed)
        events = sessions(seed)
        # Late: each event (and a redelivery of ten) arrives up to 3 days after its time, past
        # the run alerts' 2-day frontier.
        copies = events + rng.sample(events, 10)
        arrival = {n: datetime.fromisoformat(str(d["occurred_at"])) + timedelta(hours=rng.uniform(0, 72))
                   for n, d in enumerate(copies)}  # fmt: skip
        late = [copies[n] for n in sorted(arrival, key=arrival.__getitem__)]
        for delivery in (events, rng.sample(events, len(events)), late):
            one_by_one = fold(delivery)
            assert one_by_one.alerts, seed
            in_runs = fold_in_runs(delivery, rng)
            assert in_runs.alerts == one_by_one.alerts, seed
            assert in_runs.struggle == one_by_one.struggle, seed


def late_within(documents: list[Doc], rng: random.Random, window: timedelta) -> list[Doc]:
    """Each event (and a redelivery of ten) arriving less than `window` after its time."""
    copies = documents + rng.sample(documents, 10)
    arrival = {n: datetime.fromisoformat(str(d["occurred_at"])) + rng.random() * window * 0.99
               for n, d in enumerate(copies)}  # fmt: skip
    return [copies[n] for n in sorted(arrival, key=arrival.__getitem__)]


def test_a_short_late_window_keeps_less_evidence_and_fires_the_same_alerts() -> None:
    """No event before the window behind the newest is applied, so the code-run, help and quiz
    alerts before it are frozen and their evidence dropped: for deliveries within the window
    the alerts are those of the ordered delivery with the default week, whatever the order."""
    window, kept, kept_in_a_week = timedelta(hours=2), 0, 0
    for seed in range(40):
        rng = random.Random(seed)
        events = sessions(seed)
        expected = fold(events)
        assert expected.alerts, seed
        for delivery in (events, late_within(events, rng, window)):
            one_by_one = fold(delivery, window=window)
            assert one_by_one.alerts == expected.alerts, seed
            in_runs = fold_in_runs(delivery, rng, window)
            assert in_runs.alerts == expected.alerts, seed
            assert in_runs.struggle == one_by_one.struggle, seed
        state = fold(events, window=window).struggle
        assert state.settled == fold(events).last_event_at - window.total_seconds()
        for evidence in state.topics.values():
            step = RULES.prune_step_s
            assert all(m[0] >= state.settled // step * step for m in evidence.help), seed
        kept += sum(len(e.runs) + len(e.help) for e in state.topics.values())
        kept_in_a_week += sum(len(e.runs) + len(e.help) for e in expected.struggle.topics.values())
    assert kept < kept_in_a_week / 2


def test_runs_before_the_last_clean_run_before_the_frontier_are_folded_away() -> None:
    day = 24 * 60
    documents = [run(m, "TypeError") for m in range(0, day, 30)]  # a day of failures
    documents += [run(day + 1), run(day + 2, "KeyError"), run(3 * day + 60, "NameError")]
    record = fold(documents)
    # The frontier (2 days behind the clock) passed the clean run: everything before it went,
    # although the one-day look-back from the frontier reaches back into the failures.
    frontier = RULES.frontier("repeated_error", record.struggle.as_of)
    assert frontier - RULES.window_s < int(at(day).timestamp()) < frontier
    assert [m[2] for m in record.struggle.topics[LISTS].runs] == ["", "KeyError", "NameError"]


def test_a_pass_before_the_folded_runs_still_ends_a_start_stuck_reads_again() -> None:
    """The runs before the last clean run at the frontier go, but a pass "stuck" can still read
    (a late start in the topic re-derives it) stays, although it is older than that run."""
    window = timedelta(hours=1)
    first = [start(52, "e1"), finish(57, passed=True), run(58 + 2 / 3)]  # 09:52, 09:57, 09:58:40
    later = run(121, topic=LOOPS)  # 11:01: the window's edge moves to 10:01
    late_start = start(61 + 1 / 6, "e2")  # 10:01:10, inside the window
    expected = fold([*first, late_start, later])
    assert [(a.trigger, a.detail) for a in expected.alerts] == [("stuck_on_exercise", "e2")]
    record = fold([*first, later, late_start], window=window)
    assert record.alerts == expected.alerts
    assert [m[2] for m in record.struggle.topics[LISTS].passes] == ["e1"]


def test_with_a_short_window_the_code_runs_kept_span_the_window_and_one_step() -> None:
    """A run every 20 s for three hours, every third clean, with a 15-minute window: the runs
    kept reach back at most the window, the cut's ten-minute step and the gap to the clean run
    before (with the cut moving by the hour: up to 75 minutes, 225 runs)."""
    window, step = timedelta(minutes=15), timedelta(minutes=10)
    documents = [run(n / 3, None if n % 3 == 0 else "TypeError") for n in range(3 * 180 + 1)]
    record = fold(documents, window=window)
    runs = record.struggle.topics[LISTS].runs
    assert runs[0][2] == ""  # the clean run the triggers' reading starts from
    span = timedelta(seconds=record.struggle.as_of - runs[0][0])
    assert window <= span <= window + step + timedelta(minutes=1)
    assert len(runs) <= (window + step) / timedelta(seconds=20) + 3
