"""A topic's quiz or review scores: the decaying average, and the day summaries that bound them.

A record keeps a topic's scores as raw `(epoch, value, event id)` observations and, for the
scores no event can reach any more, one `DaySummary` per local day: the time of the day's last
score, the decaying average after it, how many scores it held. The decaying average is a
left fold (the first score, then `NEWEST_WEIGHT * value + (1 - NEWEST_WEIGHT) * average`), so a
summary's average continues exactly where the day's scores would have: after a summary the
average restarts from its value and folds the raw scores after it, the same float operations in
the same order as folding every score. Every reader asks this module: the average now
(`decaying_average`) and at each day's end (`averages_at`), how many scores (`count`), when
(`times`).

`fold` makes the summaries. A score is *final* once it lies before the horizon — the
late-arrival window behind the student's newest event, after the struggle alerts were derived
(no event before it is applied any more, nor does the low-quiz trigger read a quiz before it).
The final scores after the newest summary are grouped by local day (the student's UTC offset at
the time of the fold); a day's group joins the summary of its day if there is one, becomes a new
summary once it holds `FOLD_AT` scores, and stays raw otherwise (a real day of one to three
quizzes costs less as itself). A summary therefore absorbs
the scores of its day as they become final, so the record stops growing with the scores of a
busy day, and which days are folded depends only on the final scores, never on when the fold
ran: the same events give the same summaries in any order of delivery (as long as the student's
UTC offset does not change while they arrive: a fold groups by the offset it sees).
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Iterable, Sequence
from itertools import groupby

from mastery.domain.record_encoding import DaySummary, Observation

__all__ = [
    "FOLD_AT",
    "NEWEST_WEIGHT",
    "averages_at",
    "count",
    "decaying_average",
    "fold",
    "times",
]

NEWEST_WEIGHT = 0.65
"""The newest score's weight in the decaying average (DESIGN §1). The summaries hold averages
made with it, so it is a constant of the stored records, not a setting."""
FOLD_AT = 5
"""A final day with fewer scores than this stays raw: a summary is ~28 bytes stored (the first
of a topic's list ~48, with its key and a full epoch), a real score ~9–12."""


def _step(average: float | None, value: float) -> float:
    return value if average is None else NEWEST_WEIGHT * value + (1 - NEWEST_WEIGHT) * average


def _fold_values(average: float | None, observations: Iterable[Observation]) -> float | None:
    for _, value, _ in observations:
        average = _step(average, value)
    return average


def _after(scores: list[Observation], at: int) -> int:
    """The index of the first score later than `at`."""
    return bisect.bisect_right(scores, (at, math.inf))


def decaying_average(days: list[DaySummary], scores: list[Observation]) -> float:
    """The average of every score (0 without any): the newest summary's, then the later scores."""
    if not days:
        return _fold_values(None, scores) or 0.0
    at, average, _ = days[-1]
    return _fold_values(average, scores[_after(scores, at) :]) or 0.0


def averages_at(
    days: list[DaySummary], scores: list[Observation], ends: Sequence[int]
) -> list[float]:
    """`decaying_average` of what had happened by each of the increasing `ends`, bit for bit:
    one walk through the summaries and scores in time order (a summary restarts the fold)."""
    merged = heapq.merge(
        ((at, False, value) for at, value, _ in scores),
        ((at, True, value) for at, value, _ in days),
    )
    found, average = [], None
    pending = next(merged, None)
    for end in ends:
        while pending is not None and pending[0] <= end:
            _, summary, value = pending
            average = value if summary else _step(average, value)
            pending = next(merged, None)
        found.append(average or 0.0)
    return found


def count(days: list[DaySummary], scores: list[Observation]) -> int:
    """How many scores there are, folded or not."""
    return sum(n for _, _, n in days) + len(scores)


def times(days: list[DaySummary], scores: list[Observation]) -> list[int]:
    """When the scores happened: each summary's last score, and each raw score."""
    return [at for at, _, _ in days] + [at for at, _, _ in scores]


def fold(
    days: list[DaySummary],
    scores: list[Observation],
    since: int,
    horizon: int,
    utc_offset_s: int,
) -> tuple[list[DaySummary], list[Observation]]:
    """The summaries and raw scores with the scores final at `horizon` folded (module doc);
    `since` is the horizon of the previous fold (no score newly final: nothing changes)."""
    end = bisect.bisect_left(scores, (horizon,))
    if bisect.bisect_left(scores, (since,)) >= end:
        return days, scores
    start = _after(scores, days[-1][0]) if days else 0
    folded, kept = list(days), scores[:start]
    average = days[-1][1] if days else None
    last_day = (days[-1][0] + utc_offset_s) // 86_400 if days else None
    for day, group in groupby(scores[start:end], key=lambda o: (o[0] + utc_offset_s) // 86_400):
        same_day = list(group)
        average = _fold_values(average, same_day)
        assert average is not None  # the group holds at least one score
        last_at = same_day[-1][0]
        if day == last_day:
            n = folded[-1][2]
            folded[-1] = (last_at, average, n + len(same_day))
        elif len(same_day) >= FOLD_AT:
            folded.append((last_at, average, len(same_day)))
            last_day = day
        else:
            kept.extend(same_day)
    kept.extend(scores[end:])
    return folded, kept
