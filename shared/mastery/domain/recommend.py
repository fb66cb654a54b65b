"""A student's next actions, ordered and explained (pure; DESIGN §1).

Order: (1) remediation of open struggle alerts, newest first; (2) component gaps against the
thresholds below, largest gap first; (3) new topics whose prerequisites are all at least
Proficient, in teaching order; (4) review of Proficient or Mastered topics untouched for
`REVIEW_AFTER_DAYS`, longest untouched first.

No recommendation ever targets a topic whose prerequisites are not all at least Proficient: an
alert in such a topic is remediated on its first unmet foundation instead (the weakest link
that can be worked on now), and gaps and reviews of such topics wait.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from mastery.domain.alerts import Alert
from mastery.domain.curriculum import Curriculum
from mastery.domain.mastery import StudentMastery, TopicMastery, at_least

__all__ = ["GAP_THRESHOLDS", "REVIEW_AFTER_DAYS", "Recommendation", "recommend"]

Kind = Literal["remediate", "practise", "review", "refactor", "keep_streak", "start", "refresh"]
Component = Literal["completion", "quiz", "quality", "consistency"]

GAP_THRESHOLDS: dict[Component, tuple[float, Kind]] = {
    "completion": (0.80, "practise"),
    "quiz": (0.75, "review"),
    "quality": (0.70, "refactor"),
    "consistency": (0.70, "keep_streak"),
}
REVIEW_AFTER_DAYS = 14
"""Two weeks without practice: long enough for forgetting to show, short enough to act on."""
MINUTES: dict[Kind, int] = {
    "remediate": 20, "review": 20, "refactor": 15, "keep_streak": 15, "start": 30, "refresh": 15,
}  # fmt: skip
MINUTES_PER_EXERCISE = 10
_ADVICE: dict[str, tuple[str, str]] = {
    "completion": ("Exercise completion", "pass more of its exercises"),
    "quiz": ("Your quiz average", "review the material and retake a quiz"),
    "quality": ("Code quality", "refactor a solution and ask for a code review"),
}
_DAY = 86_400


@dataclass(frozen=True)
class Recommendation:
    """One next action."""

    kind: Kind
    topic: str
    reason: str
    estimated_minutes: int
    alert_id: str | None = None
    gap: float | None = None


def _met(topic: str, mastery: StudentMastery, curriculum: Curriculum) -> bool:
    return all(
        at_least(mastery.topic(p).score, "Proficient")
        for p in curriculum.topic(topic).prerequisites
    )


def foundation(topic: str, mastery: StudentMastery, curriculum: Curriculum) -> str:
    """`topic` if its prerequisites are met, else the first unmet ancestor that can be studied."""
    if _met(topic, mastery, curriculum):
        return topic
    unmet = [
        p
        for p in curriculum.topic(topic).prerequisites
        if not at_least(mastery.topic(p).score, "Proficient")
    ]
    return foundation(unmet[0], mastery, curriculum)


def _name(topic: str, curriculum: Curriculum) -> str:
    return curriculum.topic(topic).name


def _remediations(
    alerts: list[Alert], mastery: StudentMastery, curriculum: Curriculum
) -> list[Recommendation]:
    out = []
    for alert in sorted(alerts, key=lambda a: (-a.raised_at, a.id)):
        if not alert.open or alert.topic not in curriculum:
            continue
        target = foundation(alert.topic, mastery, curriculum)
        why = f"Struggle alert in {_name(alert.topic, curriculum)} ({alert.trigger.replace('_', ' ')})"
        if target != alert.topic:
            why += f": first strengthen its foundation {_name(target, curriculum)}"
        out.append(Recommendation("remediate", target, why + ".", MINUTES["remediate"], alert.id))
    return out


def _gaps(
    started: list[TopicMastery], mastery: StudentMastery, curriculum: Curriculum
) -> list[Recommendation]:
    found: list[tuple[float, int, Recommendation]] = []
    for rank, topic in enumerate(started):
        for component in ("completion", "quiz", "quality"):
            threshold, kind = GAP_THRESHOLDS[component]
            value = getattr(topic.components, component)
            if value >= threshold:
                continue
            gap = threshold - value
            minutes = MINUTES.get(kind, 0)
            if component == "completion":
                target = curriculum.topic(topic.topic).target_exercises
                minutes = MINUTES_PER_EXERCISE * max(1, math.ceil(gap * target))
            label, advice = _ADVICE[component]
            why = (
                f"{label} in {_name(topic.topic, curriculum)} is {value:.2f}, below "
                f"{threshold:.2f}: {advice}."
            )
            found.append(
                (gap, rank, Recommendation(kind, topic.topic, why, minutes, gap=round(gap, 4)))
            )
    if started:
        threshold, kind = GAP_THRESHOLDS["consistency"]
        value = started[0].components.consistency
        if value < threshold:
            why = f"Your streak score is {value:.2f}, below {threshold:.2f}: practise a little every day."
            rec = Recommendation(
                kind, started[0].topic, why, MINUTES[kind], gap=round(threshold - value, 4)
            )
            found.append((threshold - value, -1, rec))
    found.sort(key=lambda item: (-item[0], item[1]))
    return [rec for _, _, rec in found]


def recommend(
    mastery: StudentMastery,
    alerts: list[Alert],
    last_activity: dict[str, int],
    now: int,
    curriculum: Curriculum,
) -> list[Recommendation]:
    """Every next action for one student, in order (see the module docstring)."""
    order = curriculum.topological_order()
    ready = [t for t in order if _met(t, mastery, curriculum)]
    # Started topics, most recently active first (the streak nudge targets the newest one).
    started = sorted(
        (mastery.topic(t) for t in ready if last_activity.get(t, 0) > 0),
        key=lambda t: (-last_activity[t.topic], t.topic),
    )
    new = [
        Recommendation(
            "start",
            t,
            f"Ready for {_name(t, curriculum)}: its prerequisites are at least Proficient.",
            MINUTES["start"],
        )
        for t in ready
        if last_activity.get(t, 0) == 0
    ]
    stale = sorted(
        (
            t
            for t in started
            if at_least(t.score, "Proficient")
            and now - last_activity[t.topic] > REVIEW_AFTER_DAYS * _DAY
        ),
        key=lambda t: (last_activity[t.topic], t.topic),
    )
    refresh = [
        Recommendation(
            "refresh",
            t.topic,
            f"{_name(t.topic, curriculum)} is {t.level} but unpractised for {(now - last_activity[t.topic]) // _DAY} days.",
            MINUTES["refresh"],
        )
        for t in stale
    ]
    return (
        _remediations(alerts, mastery, curriculum)
        + _gaps(started, mastery, curriculum)
        + new
        + refresh
    )
