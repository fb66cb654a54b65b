"""Struggle detection: the five triggers of DESIGN §1 as a pure function of the evidence.

The alerts of a topic are *derived*: every candidate (a moment a trigger fired, with the events
that made it fire) is computed from the evidence in event time, and the cooldown keeps the first
candidate per topic and trigger, then the next one at least `cooldown_s` later, and so on. The
same set of events therefore gives the same alerts however it was ordered or duplicated.

To keep the record bounded, a candidate only looks back `window_s` (24 h) from its own time,
alerts raised before the frontier `as_of - lateness_s` (7 days) are frozen (stored as they are,
no longer re-derived), and the evidence is kept only as far back as candidates after the
frontier read. Events arriving less than `lateness_s` behind the student's newest event
therefore give exactly the alerts an ordered delivery gives; older ones still count for mastery
but no longer change alerts. A shorter late-arrival window moves the frontier up to it
(`StruggleRules.frontier`): no event behind it is applied at all.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from mastery.domain.alerts import Trigger
from mastery.domain.record_encoding import Observation
from mastery.domain.struggle_evidence import Mark, StruggleEvidence


class StruggleRules(NamedTuple):
    """Thresholds of the triggers; the cooldown is set here and nowhere else."""

    repeated_errors: int = 3
    failed_run_streak: int = 5
    stuck_after_s: int = 600
    low_quiz_below: float = 0.5
    cooldown_s: int = 86_400
    """One alert per student, topic and trigger a day (in event time)."""
    window_s: int = 86_400
    """How far back a trigger looks from the moment it fires (errors, failed runs)."""
    lateness_s: int = 7 * 86_400
    """Quiz and help alerts stay re-derivable this long behind the student's clock."""
    run_lateness_s: int = 2 * 86_400
    """The same for the code-run and "stuck" alerts, whose evidence is bulkier."""
    sweep_grace_s: int = 120
    """A sweep derives at wall clock minus this, so events still in flight are not outrun."""
    alert_retention_s: int = 8 * 86_400
    """Alerts are kept this long after being raised (at least lateness + cooldown)."""
    prune_step_s: int = 600
    """The evidence's cut moves by this step of the clock (`struggle_alerts.prune`): evidence
    is kept up to a step longer than the frontiers read, and every topic is pruned once a step."""

    def frontier(self, trigger: Trigger, as_of: int, settled: int = 0) -> int:
        """Alerts of `trigger` raised before this are frozen: no longer re-derived.

        At most the lateness behind the clock, and no further back than `settled`
        (`StruggleState.settled`: no event before it is applied any more).
        """
        points = trigger in ("low_quiz_score", "asked_for_help")
        return max(as_of - (self.lateness_s if points else self.run_lateness_s), settled)


@dataclass(frozen=True, order=True)
class Candidate:
    """A moment a trigger fired in a topic, with the events that made it fire."""

    at: int
    trigger: Trigger
    evidence: tuple[str, ...]
    detail: str | None = field(default=None, compare=False)


def _from(marks: list[Mark], at: int) -> list[Mark]:
    return marks[bisect.bisect_left(marks, (at,)) :]


def _failures(evidence: StruggleEvidence, since: int, rules: StruggleRules) -> Iterator[Candidate]:
    """Repeated error types since the last success, and streaks of failed runs (from `since`)."""
    look_back = since - rules.window_s  # a candidate at `since` reads this far back
    timeline = heapq.merge(
        ((m, "run") for m in _from(evidence.runs, look_back)),
        ((m, "pass") for m in _from(evidence.passes, look_back)),
    )
    by_type: dict[str, deque[Mark]] = {}
    streak: deque[Mark] = deque()
    for mark, kind in timeline:
        at, _, error = mark
        if kind == "pass" or not error:
            by_type.clear()  # any success resets "the same error since the last success"
            if kind == "run":
                streak.clear()  # only a clean run breaks a run of failed runs
            continue
        same = by_type.setdefault(error, deque())
        for marks in (same, streak):
            marks.append(mark)
            while marks[0][0] < at - rules.window_s:
                marks.popleft()
        if at < since:
            continue
        if len(same) >= rules.repeated_errors:
            ids = tuple(m[1] for m in list(same)[-rules.repeated_errors :])
            yield Candidate(at, "repeated_error", ids, error)
        if len(streak) >= rules.failed_run_streak:
            ids = tuple(m[1] for m in list(streak)[-rules.failed_run_streak :])
            yield Candidate(at, "failed_runs_streak", ids)


def _stuck(
    evidence: StruggleEvidence, since: int, as_of: int, rules: StruggleRules
) -> Iterator[Candidate]:
    """Exercises started and not passed within `stuck_after_s`, due in [since, as_of]."""
    for started, event_id, exercise in _from(evidence.starts, since - rules.stuck_after_s):
        due = started + rules.stuck_after_s
        if due > as_of:
            break
        passes = _from(evidence.passes, started)
        if not any(p[2] == exercise and p[0] <= due for p in passes):
            yield Candidate(due, "stuck_on_exercise", (event_id,), exercise)


def candidates(
    evidence: StruggleEvidence | None,
    quizzes: list[Observation],
    since: dict[Trigger, int],
    as_of: int,
    rules: StruggleRules,
) -> list[Candidate]:
    """Every moment a trigger of `since` fired in one topic at or after its time, in order."""
    found: list[Candidate] = []
    if evidence is not None:
        if "stuck_on_exercise" in since:
            found.extend(_stuck(evidence, since["stuck_on_exercise"], as_of, rules))
        if "repeated_error" in since:
            found.extend(_failures(evidence, since["repeated_error"], rules))
        if "asked_for_help" in since:
            help_marks = _from(evidence.help, since["asked_for_help"])
            found.extend(Candidate(m[0], "asked_for_help", (m[1],)) for m in help_marks)
    if "low_quiz_score" in since:
        found.extend(
            Candidate(at, "low_quiz_score", (event_id,), f"{score:.0%}")
            for at, score, event_id in quizzes[
                bisect.bisect_left(quizzes, (since["low_quiz_score"],)) :
            ]
            if score < rules.low_quiz_below
        )
    return sorted(found)


def stuck_due(evidence: StruggleEvidence, since: int, as_of: int, rules: StruggleRules) -> bool:
    """Whether any start falls due in [since, as_of] (else "stuck" has nothing to re-derive)."""
    first = bisect.bisect_left(evidence.starts, (since - rules.stuck_after_s,))
    return first < len(evidence.starts) and evidence.starts[first][0] + rules.stuck_after_s <= as_of


def alert_id(student_id: str, topic: str, candidate: Candidate) -> str:
    """Stable id: the same student, topic, trigger and evidence always give the same id."""
    key = "|".join((student_id, topic, candidate.trigger, *candidate.evidence))
    return "alert-" + hashlib.sha256(key.encode()).hexdigest()[:20]
