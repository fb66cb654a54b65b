"""Keep a student's alerts equal to what the struggle evidence derives (pure, no I/O).

`detect` (`mastery.domain.struggle_events`) runs after newly applied events, `sweep` when time
has passed without events (so a student who started an exercise and went silent is noticed as
"stuck"). Both re-derive the alerts the change can affect (`refresh`), apply the cooldown in
event time, carry acknowledgements and the published flag over by alert id, and return the
alerts that are new to the record.
"""

from __future__ import annotations

import bisect

from mastery.domain.alerts import Alert, Trigger
from mastery.domain.record import StudentRecord
from mastery.domain.struggle import Candidate, StruggleRules, alert_id, candidates, stuck_due
from mastery.domain.struggle_evidence import STUCK, Mark, StruggleState

Touched = dict[str, dict[Trigger, int]]
"""topic -> trigger -> the time its alerts are re-derived from."""


def sweep(record: StudentRecord, now: int, rules: StruggleRules) -> list[Alert]:
    """Advance the student's clock to wall-clock `now` (minus the grace); the new alerts."""
    previous = record.struggle.as_of
    record.struggle.as_of = max(previous, now - rules.sweep_grace_s)
    prune(record.struggle, previous, record.struggle.settled, rules, None)
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


def prune(
    state: StruggleState, previous: int, settled: int, rules: StruggleRules, topic: str | None
) -> None:
    """Forget evidence no candidate at or after its trigger's frontier can read.

    The code-run triggers read back `window_s` from their frontier, and no further than the
    newest clean run at or before it: that run resets both, so the runs and passes before it are
    folded away (passes as far back as "stuck" reads are kept). The cut moves by whole steps
    (`StruggleRules.prune_step_s`) of the clock and of `settled` (given before the event:
    `previous`, `settled`); every topic is pruned when it moves, the event's own topic on every
    event, so what is kept depends only on the events and the clock, never on the order.
    """
    step = rules.prune_step_s
    clock, settled_at = state.as_of // step * step, state.settled // step * step
    topics = [topic] if topic in state.topics else []
    if clock != previous // step * step or settled_at != settled // step * step:
        topics = list(state.topics)
    runs_from = rules.frontier("repeated_error", clock, settled_at)
    help_from = rules.frontier("asked_for_help", clock, settled_at)
    stuck_from = rules.frontier("stuck_on_exercise", clock, settled_at)
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
