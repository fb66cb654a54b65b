"""Keep a student's alerts equal to what the struggle evidence derives (pure, no I/O).

`detect` runs after newly applied events, `sweep` when time has passed without events (so a
student who started an exercise and went silent is noticed as "stuck"). Both re-derive the
alerts the change can affect, apply the cooldown in event time, carry acknowledgements and the
published flag over by alert id, and return the alerts that are new to the record.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import timedelta

from mastery.domain.alerts import Alert, Trigger
from mastery.domain.events import LearningEvent
from mastery.domain.record import LATE_WINDOW, StudentRecord
from mastery.domain.struggle import Candidate, StruggleRules, alert_id, candidates, stuck_due
from mastery.domain.struggle_evidence import (
    STUCK,
    Mark,
    StruggleState,
    affected_triggers,
    is_success,
    observe,
)

Touched = dict[str, dict[Trigger, int]]
"""topic -> trigger -> the time its alerts are re-derived from."""


def detect(
    record: StudentRecord,
    events: Sequence[LearningEvent],
    rules: StruggleRules,
    late_window: timedelta = LATE_WINDOW,
) -> None:
    """Add the struggle evidence of `events` (newly applied to `record`, in this order; once per
    applied event) and re-derive the alerts: the alerts one re-derivation after each event
    would give, with one re-derivation per run of events.

    Each event asks for its triggers of its topic to be re-derived from its own time (or the
    clock before it, if earlier), and for "stuck" of every topic from the clock before it. An
    alert at time x depends only on evidence up to x, and a later event asks for nothing before
    its own time, so re-deriving each (topic, trigger) once, from the earliest time any event of
    the run asked for, with all the run's evidence, gives what the last of the per-event
    re-derivations covering each time gave. That holds while every asked-for time is at or after
    the frontier (alerts before it are frozen, their evidence pruned) of the clock the run ends
    at: the run is re-derived before an event whose clock would move the frontier past one.

    Each event also moves `settled` to `late_window` behind it (ingest applies no event further
    behind its student's newest one), a frontier of its own (`StruggleRules.frontier`). An
    event whose window's edge lies past the clock (a student's next session) first moves the
    clock to that edge, as a sweep would, so the "stuck" alerts due before it are derived before
    they freeze (the event changes none of them: it can only end or start one after its time).
    """
    state = record.struggle
    lateness = min(rules.lateness_s, rules.run_lateness_s)  # the latest frontier of any trigger
    window_s = int(late_window.total_seconds())
    touched: Touched = {}
    stuck_since = floor = state.as_of  # the run's clock before it; its earliest asked-for time
    for event in events:
        at = int(event.epoch)
        pending = touched or state.as_of > stuck_since
        if pending and max(max(state.as_of, at) - lateness, state.settled, at - window_s) > floor:
            refresh(record, touched, stuck_since, rules)
            touched, stuck_since, floor = {}, state.as_of, state.as_of
        if at - window_s > state.as_of:
            previous, state.as_of = state.as_of, at - window_s
            _prune(state, previous, state.settled, rules, None)
            refresh(record, touched, stuck_since, rules)
            touched, stuck_since, floor = {}, state.as_of, state.as_of
        previous, settled = state.as_of, state.settled
        hit = observe(state, event) and event.topic is not None
        state.settled = max(settled, at - window_s)
        if hit and at > previous and is_success(event):
            hit = False  # a success newer than everything fires nothing and undoes nothing
        _prune(state, previous, settled, rules, event.topic)
        if hit and event.topic is not None:
            # nothing changes before the event, nor "stuck" before the clock
            since = min(at, previous)
            floor = min(floor, since)
            asked = touched.setdefault(event.topic, {})
            for trigger in affected_triggers(event):
                asked[trigger] = min(asked.get(trigger, since), since)
    refresh(record, touched, stuck_since, rules)


def sweep(record: StudentRecord, now: int, rules: StruggleRules) -> list[Alert]:
    """Advance the student's clock to wall-clock `now` (minus the grace); the new alerts."""
    previous = record.struggle.as_of
    record.struggle.as_of = max(previous, now - rules.sweep_grace_s)
    _prune(record.struggle, previous, record.struggle.settled, rules, None)
    return refresh(record, {}, previous, rules)


def refresh(
    record: StudentRecord, touched: Touched, stuck_since: int, rules: StruggleRules
) -> list[Alert]:
    """Re-derive the alerts the change can affect; the ones new to the record.

    The triggers of each `touched` topic from their given times on (the triggers whose evidence
    changed: the others would re-derive to what they are), and "stuck" of every topic from
    `stuck_since` (the clock before it moved). Alerts raised before those times cannot change,
    and the cooldown continues from them.
    """
    state = record.struggle
    cut = state.as_of - rules.alert_retention_s
    if record.alerts and record.alerts[0].raised_at < cut:
        record.alerts = [alert for alert in record.alerts if alert.raised_at >= cut]
    work: Touched = {topic: dict(asked) for topic, asked in touched.items()}
    for topic, evidence in state.topics.items():
        if stuck_due(evidence, stuck_since, state.as_of, rules):
            asked = work.setdefault(topic, {})
            asked[STUCK[0]] = min(asked.get(STUCK[0], stuck_since), stuck_since)
    if not work:
        return []
    groups: dict[tuple[str, Trigger], list[Alert]] = {}
    for alert in record.alerts:
        groups.setdefault((alert.topic, alert.trigger), []).append(alert)
    replaced: dict[tuple[str, Trigger], set[str]] = {}  # the groups re-derived -> ids before
    fresh: list[Alert] = []
    for topic, asked in work.items():
        since = {
            t: max(rules.frontier(t, state.as_of, state.settled), from_time)
            for t, from_time in asked.items()
        }
        quizzes = record.topics[topic].quizzes if topic in record.topics else []
        found = candidates(state.topics.get(topic), quizzes, since, state.as_of, rules)
        for trigger in asked:
            group = groups.get((topic, trigger), [])
            kept = [a for a in group if a.raised_at < since[trigger]]
            accepted = _cooldown([c for c in found if c.trigger == trigger], kept, rules)
            before = {a.id: a for a in group}
            derived = kept + [_alert(record.student_id, topic, c, before) for c in accepted]
            if [a.id for a in derived] != [a.id for a in group]:
                replaced[(topic, trigger)] = set(before)
                fresh += derived
    if not replaced:
        return []
    alerts = [a for a in record.alerts if (a.topic, a.trigger) not in replaced] + fresh
    record.alerts = sorted(alerts, key=lambda a: (a.raised_at, a.id))
    return [
        a
        for a in record.alerts
        if (a.topic, a.trigger) in replaced and a.id not in replaced[(a.topic, a.trigger)]
    ]


def _cooldown(found: list[Candidate], frozen: list[Alert], rules: StruggleRules) -> list[Candidate]:
    """The first candidate, then each one at least a cooldown after the last accepted."""
    last = max((a.raised_at for a in frozen), default=None)
    accepted = []
    for candidate in found:
        if last is None or candidate.at - last >= rules.cooldown_s:
            accepted.append(candidate)
            last = candidate.at
    return accepted


def _alert(student_id: str, topic: str, candidate: Candidate, before: dict[str, Alert]) -> Alert:
    identity = alert_id(student_id, topic, candidate)
    existing = before.get(identity)
    if existing is not None:
        return existing  # keeps its acknowledgement and published flag
    return Alert(
        id=identity,
        student_id=student_id,
        topic=topic,
        trigger=candidate.trigger,
        evidence=list(candidate.evidence),
        raised_at=candidate.at,
        detail=candidate.detail,
    )


def _drop_before(marks: list[Mark], at: int) -> None:
    del marks[: bisect.bisect_left(marks, (at,))]


def _last_clean_run(runs: list[Mark], until: int) -> int:
    """When the newest clean run at or before `until` ran (0: none is kept)."""
    index = bisect.bisect_left(runs, (until + 1,)) - 1
    while index >= 0 and runs[index][2]:
        index -= 1
    return runs[index][0] if index >= 0 else 0


def _prune(
    state: StruggleState, previous: int, settled: int, rules: StruggleRules, topic: str | None
) -> None:
    """Forget evidence no candidate at or after its trigger's frontier can read.

    The code-run triggers read back `window_s` from their frontier, and no further than the
    newest clean run at or before it: that run resets both, so the runs and passes before it are
    folded away (passes as far back as "stuck" reads are kept). The cut moves by whole hours of
    the clock and of `settled` (given before the event: `previous`, `settled`); every topic is
    pruned when it moves, the event's own topic on every event, so what is kept depends only on
    the events and the clock, never on the order.
    """
    hour, settled_hour = state.as_of // 3600, state.settled // 3600
    topics = [topic] if topic in state.topics else []
    if hour != previous // 3600 or settled_hour != settled // 3600:
        topics = list(state.topics)
    runs_from = rules.frontier("repeated_error", hour * 3600, settled_hour * 3600)
    help_from = rules.frontier("asked_for_help", hour * 3600, settled_hour * 3600)
    stuck_from = rules.frontier("stuck_on_exercise", hour * 3600, settled_hour * 3600)
    starts_from = stuck_from - rules.stuck_after_s
    for name in topics:
        evidence = state.topics[name]
        runs_cut = max(runs_from - rules.window_s, _last_clean_run(evidence.runs, runs_from))
        _drop_before(evidence.runs, runs_cut)
        _drop_before(evidence.passes, min(runs_cut, starts_from))
        _drop_before(evidence.starts, starts_from)
        _drop_before(evidence.help, help_from)
        if not (evidence.runs or evidence.passes or evidence.help or evidence.starts):
            del state.topics[name]
