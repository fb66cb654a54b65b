"""A student's mastery at the end of each recent day (pure): the history and forecast series.

The score at the end of a day is `student_mastery` of the evidence that had happened by then.
Scoring a cut copy of the record per day costs ~5 ms for 30 days (copies, validated models, a
31-topic scoring each day), and it is the first read of every record version for the history
and forecast routes. Here each topic's evidence is walked once instead: quizzes, reviews and
their day summaries are kept sorted by time, so a day's cut is a prefix of each and its decaying
average is the fold's value after it (`mastery.domain.scores.averages_at`); passed exercises are
summed in the same (insertion) order as `topic_mastery`, so every score is bit-for-bit the one
of scoring the cut record. A day summary stands for its local day at the offset it was folded
with: a day end at another offset that falls inside a summarised day sees that day's scores
all or none (at the summary's time, its day's last score).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import NamedTuple

from mastery.domain.curriculum import Curriculum
from mastery.domain.evidence import practised, practised_with
from mastery.domain.mastery import (
    Components,
    MasteryRules,
    ModuleMastery,
    ScoredRecord,
    StudentMastery,
    TopicMastery,
    consistencies,
    weighted_score,
    weighted_topic,
)
from mastery.domain.record import StudentRecord, TopicEvidence
from mastery.domain.record_encoding import DaySummary, Observation
from mastery.domain.scores import averages_at

__all__ = ["DailyScores", "daily_scores", "history"]


def _cuts(timed: list[Observation] | list[DaySummary], ends: Sequence[int]) -> list[int]:
    """How many of the (time-sorted) items had happened by each end."""
    if not timed:
        return [0] * len(ends)
    times = [item[0] for item in timed]
    return [bisect.bisect_right(times, end) for end in ends]


class _TopicSeries:
    """One topic's evidence, cut at each day's end, and the components the cuts give."""

    __slots__ = ("_evidence", "_kept", "_passed", "done", "quality", "quiz", "states")

    def __init__(self, evidence: TopicEvidence, ends: Sequence[int], rules: MasteryRules) -> None:
        self._evidence = evidence
        self._passed = passed = list(evidence.passed.items())
        times = [first for _, (_, first) in passed]
        weights = [rules.difficulty_weight[difficulty] for _, (difficulty, _) in passed]
        self._kept: list[list[int]] | None = None
        if times == sorted(times):  # the common case: a day's passes are a prefix
            sums = [0, *itertools.accumulate(weights)]
            counts = [bisect.bisect_right(times, end) for end in ends]
            self.done: list[float] = [sums[k] for k in counts]
        else:  # a late pass came before earlier ones: sum each day's in insertion order
            self._kept = kept = [[i for i, at in enumerate(times) if at <= end] for end in ends]
            counts = [len(k) for k in kept]
            self.done = [sum(weights[i] for i in k) for k in kept]
        self.quiz = averages_at(evidence.quiz_days, evidence.quizzes, ends)
        self.quality = averages_at(evidence.review_days, evidence.reviews, ends)
        self.states = list(zip(
            counts, _cuts(evidence.quizzes, ends), _cuts(evidence.reviews, ends),
            _cuts(evidence.quiz_days, ends), _cuts(evidence.review_days, ends), strict=True,
        ))  # fmt: skip
        """(passes, quizzes, reviews, quiz days, review days) by each day's end."""

    def practised(self) -> list[bool]:
        """Whether the topic was practised by each day's end."""
        return [practised_with(p, q + qd, r + rd) for p, q, r, qd, rd in self.states]

    def cuts(self) -> list[TopicEvidence | None]:
        """The evidence by each day's end (None while unpractised); unchanged days share it."""
        cuts: list[TopicEvidence | None] = []
        previous: tuple[int, int, int, int, int] | None = None
        cut: TopicEvidence | None = None
        evidence = self._evidence
        for day, state in enumerate(self.states):
            if state != previous:
                p, q, r, qd, rd = previous = state
                kept = self._kept
                passed = self._passed[:p] if kept is None else [self._passed[i] for i in kept[day]]
                cut = TopicEvidence.model_construct(
                    passed=dict(passed),
                    quizzes=evidence.quizzes[:q],
                    reviews=evidence.reviews[:r],
                    quiz_days=evidence.quiz_days[:qd],
                    review_days=evidence.review_days[:rd],
                )
                cut = cut if practised(cut) else None
            cuts.append(cut)
        return cuts


class DailyScores(NamedTuple):
    """Scores at the end of each of the last days, oldest first, without the views' objects."""

    dates: list[date]
    overall: list[float]
    topics: dict[str, list[float | None]]
    """Every curriculum topic, in curriculum order; None on days before its first evidence."""


def _series(
    record: ScoredRecord, today: date, days: int, rules: MasteryRules
) -> tuple[list[date], list[float], dict[str, _TopicSeries]]:
    offset = timezone(timedelta(minutes=record.utc_offset_minutes))
    dates = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    ends = [int(datetime.combine(day, time.max, offset).timestamp()) for day in dates]
    streaks = consistencies(record.active_days, dates, rules)
    series = {
        topic: _TopicSeries(evidence, ends, rules) for topic, evidence in record.topics.items()
    }
    return dates, streaks, series


def daily_scores(
    record: ScoredRecord,
    curriculum: Curriculum,
    today: date,
    days: int,
    rules: MasteryRules,
) -> DailyScores:
    """The overall and topic scores of `history`, bit for bit, at a fraction of its cost."""
    dates, streaks, series = _series(record, today, days, rules)
    topics: dict[str, list[float | None]] = {}
    for topic_id in curriculum.topics:
        found = series.get(topic_id)
        if found is None:
            topics[topic_id] = [None] * days
            continue
        target = curriculum.topic(topic_id).target_exercises
        topics[topic_id] = [
            weighted_score(min(1.0, done / target), quiz, quality, streak, rules)
            if practised
            else None
            for done, quiz, quality, streak, practised in zip(
                found.done, found.quiz, found.quality, streaks, found.practised(), strict=True
            )
        ]
    modules = [
        [sum([score or 0.0 for score in day]) / len(module.topics)
         for day in zip(*(topics[t] for t in module.topics), strict=True)]
        for module in curriculum.modules
    ]  # fmt: skip
    overall = [sum(day) / len(modules) for day in zip(*modules, strict=True)]
    return DailyScores(dates, overall, {t: topics[t] for m in curriculum.modules for t in m.topics})


def history(
    record: StudentRecord,
    curriculum: Curriculum,
    today: date,
    days: int,
    rules: MasteryRules,
) -> list[StudentMastery]:
    """Mastery at the end of each of the last `days` local days, oldest first."""
    dates, streaks, series = _series(record, today, days, rules)
    cuts = {topic_id: found.cuts() for topic_id, found in series.items()}
    empty = Components(0.0, 0.0, 0.0, 0.0)
    zero = {topic_id: TopicMastery(topic_id, 0.0, empty, None) for topic_id in curriculum.topics}
    targets = {t: curriculum.topic(t).target_exercises for t in series if t in curriculum}
    points = []
    for index, day in enumerate(dates):
        modules = []
        for module in curriculum.modules:
            topics = []
            for topic_id in module.topics:
                found = series.get(topic_id)
                cut = cuts[topic_id][index] if found is not None else None
                if found is None or cut is None:
                    topics.append(zero[topic_id])
                    continue
                topics.append(weighted_topic(
                    topic_id, cut, found.done[index], found.quiz[index], found.quality[index],
                    targets[topic_id], streaks[index], rules,
                ))  # fmt: skip
            scored = tuple(topics)
            modules.append(ModuleMastery(module.id, sum(t.score for t in scored) / len(scored),
                                         scored))  # fmt: skip
        overall = sum(m.score for m in modules) / len(modules)
        points.append(StudentMastery(record.student_id, day, overall, tuple(modules)))
    return points
