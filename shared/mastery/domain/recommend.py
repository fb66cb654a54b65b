"""A student's next actions, the way a tutor would give them (pure).

Order — what unblocks the most comes first:
1. `strengthen`: a foundation the student needs, i.e. the first prerequisite below Proficient of
   a topic they are working on (practised, or with an open struggle alert); the one that
   unblocks the most topics first.
2. `remediate`: open struggle alerts, one item per topic (prerequisites met), newest first.
3. The weakest component of each practised topic, largest gap first: completion → `practise`,
   quiz → `review`, code quality → `refactor`; and one `keep_streak` when consistency is low.
   A component is only named when the student has evidence for it (no quiz average without a
   quiz).
4. `start`: topics never practised whose prerequisites are all at least Proficient.
5. `refresh`: Proficient or Mastered topics without new evidence for `REVIEW_AFTER_DAYS`.

Every item says why, with the number behind it. No list holds more than `PER_TOPIC` items for
one topic or two items with the same text, and no item targets a topic whose prerequisites are
not all at least Proficient.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal, NamedTuple

from mastery.domain.alerts import Alert
from mastery.domain.curriculum import Curriculum
from mastery.domain.evidence import evidence_times
from mastery.domain.mastery import LEVEL_FLOORS, StudentMastery, TopicMastery, at_least
from mastery.domain.scores import count as score_count

__all__ = [
    "GAP_THRESHOLDS",
    "PER_TOPIC",
    "REVIEW_AFTER_DAYS",
    "Prepared",
    "Recommendation",
    "prepare",
    "recommend",
]

Kind = Literal[
    "strengthen", "remediate", "practise", "review", "refactor", "keep_streak", "start", "refresh"
]
Component = Literal["completion", "quiz", "quality", "consistency"]

GAP_THRESHOLDS: dict[Component, tuple[float, Kind]] = {
    "completion": (0.80, "practise"),
    "quiz": (0.75, "review"),
    "quality": (0.70, "refactor"),
    "consistency": (0.70, "keep_streak"),
}
REVIEW_AFTER_DAYS = 14
"""Two weeks without practice: long enough for forgetting to show, short enough to act on."""
PER_TOPIC = 2
"""At most this many items about one topic in any list."""
MINUTES: dict[Kind, int] = {
    "strengthen": 30, "remediate": 20, "review": 20, "refactor": 15, "keep_streak": 15,
    "start": 30, "refresh": 15,
}  # fmt: skip
MINUTES_PER_EXERCISE = 10
_DAY = 86_400
_PROFICIENT = LEVEL_FLOORS["Proficient"]


class Recommendation(NamedTuple):
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


class _Writer:
    """Sentences about one student's topics, with their names and displayed scores."""

    def __init__(self, mastery: StudentMastery, curriculum: Curriculum) -> None:
        self.mastery, self.curriculum = mastery, curriculum

    def name(self, topic: str) -> str:
        return self.curriculum.topic(topic).name

    def standing(self, topic: str) -> str:
        found = self.mastery.topic(topic)
        return f"{self.name(topic)} is {found.display_score} ({found.level})"

    def names(self, topics: list[str]) -> str:
        """Up to three names, then how many more."""
        named = ", ".join(self.name(t) for t in topics[:3])
        return named if len(topics) <= 3 else f"{named} and {len(topics) - 3} more topics"

    def ready(self, topic: str) -> str:
        meta = self.curriculum.topic(topic)
        why = "; ".join(self.standing(p) for p in meta.prerequisites) or "no prerequisites"
        return f"Ready for {meta.name} ({meta.target_exercises} exercises): {why}."


def _foundations(
    working: list[str], alerted: dict[str, list[Alert]], write: _Writer
) -> list[Recommendation]:
    blocked: dict[str, list[str]] = {}
    for topic in working:
        base = foundation(topic, write.mastery, write.curriculum)
        if base != topic:
            blocked.setdefault(base, []).append(topic)
    out = []
    for base, topics in sorted(blocked.items(), key=lambda item: -len(item[1])):
        alerts = sum(len(alerted.get(t, [])) for t in topics)
        why = (
            f"{write.standing(base)}; {write.names(topics)} need"
            f"{'s' if len(topics) == 1 else ''} it at Proficient ({_PROFICIENT})"
        )
        if alerts:
            why += f" and {'has' if len(topics) == 1 else 'have'} {alerts} open struggle alert"
            why += "s" if alerts > 1 else ""
        out.append(Recommendation("strengthen", base, why + ".", MINUTES["strengthen"]))
    return out


def _remediations(alerted: dict[str, list[Alert]], write: _Writer) -> list[Recommendation]:
    out = []
    for topic, alerts in sorted(alerted.items(), key=lambda item: -item[1][0].raised_at):
        triggers = []
        for alert in alerts:
            words = alert.trigger.replace("_", " ")
            words += f" ({alert.detail})" if alert.detail else ""
            if words not in triggers:
                triggers.append(words)
        count = f"{len(alerts)} open struggle alert{'s' if len(alerts) > 1 else ''}"
        why = f"{count} in {write.name(topic)}: {'; '.join(triggers)}."
        out.append(Recommendation("remediate", topic, why, MINUTES["remediate"], alerts[0].id))
    return out


def _weakest(topic: TopicMastery, write: _Writer) -> Recommendation | None:
    """The component of a practised topic furthest below its threshold, if any is below."""
    evidence = topic.evidence
    assert evidence is not None  # practised
    components = topic.components
    target = write.curriculum.topic(topic.topic).target_exercises
    name = write.name(topic.topic)
    candidates: list[tuple[float, Kind, str, int]] = []
    threshold, kind = GAP_THRESHOLDS["completion"]
    if components.completion < threshold:
        missing = max(1, math.ceil((threshold - components.completion) * target))
        why = (f"You have passed {len(evidence.passed)} of {target} exercises in {name} "
               f"(completion {components.completion:.2f}, aim {threshold:.2f}): pass {missing} "
               f"more.")  # fmt: skip
        candidates.append((threshold - components.completion, kind, why,
                           MINUTES_PER_EXERCISE * missing))  # fmt: skip
    threshold, kind = GAP_THRESHOLDS["quiz"]
    quizzes = score_count(evidence.quiz_days, evidence.quizzes)
    if quizzes and components.quiz < threshold:
        why = (f"Your quiz average in {name} is {components.quiz:.2f} over {quizzes} "
               f"quiz{'zes' if quizzes > 1 else ''} (aim {threshold:.2f}): review the material "
               f"and retake a quiz.")  # fmt: skip
        candidates.append((threshold - components.quiz, kind, why, MINUTES[kind]))
    threshold, kind = GAP_THRESHOLDS["quality"]
    reviews = score_count(evidence.review_days, evidence.reviews)
    if reviews and components.quality < threshold:
        why = (f"Your code-review quality in {name} averages {components.quality:.2f} over "
               f"{reviews} review{'s' if reviews > 1 else ''} (aim {threshold:.2f}): refactor a "
               f"solution and ask for a review.")  # fmt: skip
        candidates.append((threshold - components.quality, kind, why, MINUTES[kind]))
    if not candidates:
        return None
    gap, kind, why, minutes = max(candidates, key=lambda c: c[0])
    return Recommendation(kind, topic.topic, why, minutes, gap=round(gap, 4))


def _gaps(practised: list[TopicMastery], write: _Writer) -> list[Recommendation]:
    found = [rec for topic in practised if (rec := _weakest(topic, write)) is not None]
    if practised:  # the streak is the student's, shown on the most recently practised topic
        threshold, kind = GAP_THRESHOLDS["consistency"]
        value = practised[0].components.consistency
        if value < threshold:
            why = (f"Your consistency is {value:.2f} (a 7-day streak makes 1.00, aim "
                   f"{threshold:.2f}): practise a little every day.")  # fmt: skip
            found.append(Recommendation(kind, practised[0].topic, why, MINUTES[kind],
                                        gap=round(threshold - value, 4)))  # fmt: skip
    return sorted(found, key=lambda r: -(r.gap or 0.0))


def _capped(items: Iterable[Recommendation]) -> list[Recommendation]:
    """Drop repeated texts and everything past `PER_TOPIC` items about one topic."""
    per_topic: dict[str, int] = {}
    texts: set[str] = set()
    out = []
    for item in items:
        if item.reason in texts or per_topic.get(item.topic, 0) >= PER_TOPIC:
            continue
        texts.add(item.reason)
        per_topic[item.topic] = per_topic.get(item.topic, 0) + 1
        out.append(item)
    return out


class Prepared(NamedTuple):
    """What a student's recommendations are at any time, once worked out for one record version
    and day: the items that do not depend on the time, and the topics `refresh` may name.

    Holds only strings and numbers, no part of the record: it is what the read path memoises.
    """

    leading: tuple[Recommendation, ...]
    refreshable: tuple[tuple[str, int, str], ...]
    """(topic, newest evidence at, standing) of Proficient practised topics, oldest first."""

    def at(self, now: int) -> list[Recommendation]:
        """Every next action at `now` (epoch seconds), in order."""
        refresh = [
            Recommendation("refresh", topic, f"{standing} but has had no new evidence for "
                           f"{(now - newest) // _DAY} days.", MINUTES["refresh"])
            for topic, newest, standing in self.refreshable
            if now - newest > REVIEW_AFTER_DAYS * _DAY
        ]  # fmt: skip
        return _capped([*self.leading, *refresh])


def prepare(mastery: StudentMastery, alerts: list[Alert], curriculum: Curriculum) -> Prepared:
    """The time-independent part of `recommend` (see `Prepared`)."""
    write = _Writer(mastery, curriculum)
    order = curriculum.topological_order()
    newest = {
        t: max(evidence_times(found.evidence))
        for t in order
        if (found := mastery.topic(t)).practised and found.evidence is not None
    }
    alerted: dict[str, list[Alert]] = {}
    for alert in sorted(alerts, key=lambda a: (-a.raised_at, a.id)):
        if alert.open and alert.topic in curriculum:
            alerted.setdefault(alert.topic, []).append(alert)
    working = [t for t in order if t in newest or t in alerted]
    ready = {t for t in order if _met(t, mastery, curriculum)}
    practised = sorted(
        (mastery.topic(t) for t in newest if t in ready), key=lambda t: (-newest[t.topic], t.topic)
    )
    start = [
        Recommendation("start", t, write.ready(t), MINUTES["start"])
        for t in order
        if t in ready and t not in newest
    ]
    refreshable = tuple(
        (t.topic, newest[t.topic], write.standing(t.topic))
        for t in sorted(practised, key=lambda t: (newest[t.topic], t.topic))
        if at_least(t.score, "Proficient")
    )
    leading = (
        *_foundations(working, alerted, write),
        *_remediations({t: a for t, a in alerted.items() if t in ready}, write),
        *_gaps(practised, write),
        *start,
    )
    return Prepared(leading, refreshable)


def recommend(
    mastery: StudentMastery, alerts: list[Alert], now: int, curriculum: Curriculum
) -> list[Recommendation]:
    """Every next action for one student, in order (see the module docstring)."""
    return prepare(mastery, alerts, curriculum).at(now)
