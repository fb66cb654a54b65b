"""Which events are a topic's evidence: the one rule every score, history, forecast,
recommendation and class view reads.

- **Evidence** (makes a topic *practised*): a passed exercise, a quiz, a code review. Only a
  practised topic has a score, and only a practised topic earns the consistency component.
- **Activity** (everything else in a topic: an exercise started or failed, a code run, a help
  request): it extends the student's daily activity streak and feeds the struggle triggers, but
  on its own a topic stays unpractised and scores 0 — nobody earns points for asking for help.

`practised_with` is the one test of that rule, on how many of each kind of evidence a topic has
(`practised` asks it of a topic's evidence); current mastery, the daily history and everything
built on them call it, so the last history point is always today's mastery.
"""

from __future__ import annotations

from datetime import date

from mastery.domain.record import TopicEvidence
from mastery.domain.scores import count, times

__all__ = ["evidence_days", "evidence_times", "practised", "practised_with"]

_EPOCH_DAY = date(1970, 1, 1).toordinal()


def practised(evidence: TopicEvidence | None) -> bool:
    """Whether a topic has evidence: a passed exercise, a quiz or a code review."""
    return evidence is not None and practised_with(
        len(evidence.passed),
        count(evidence.quiz_days, evidence.quizzes),
        count(evidence.review_days, evidence.reviews),
    )


def practised_with(passes: int, quizzes: int, reviews: int) -> bool:
    """`practised` of a topic with this many passed exercises, quizzes and code reviews."""
    return bool(passes or quizzes or reviews)


def evidence_times(evidence: TopicEvidence) -> list[int]:
    """When the topic's evidence happened (epoch seconds): first passes, quizzes, reviews (a day
    summary: its day's last score)."""
    passes = [at for _, at in evidence.passed.values()]
    quizzes = times(evidence.quiz_days, evidence.quizzes)
    return passes + quizzes + times(evidence.review_days, evidence.reviews)


def evidence_days(evidence: TopicEvidence, utc_offset_minutes: int) -> set[int]:
    """The local calendar days (ordinals) on which the topic got evidence."""
    shift = utc_offset_minutes * 60
    return {_EPOCH_DAY + (at + shift) // 86_400 for at in evidence_times(evidence)}
