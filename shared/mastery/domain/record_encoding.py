"""How a record's time-sorted lists are stored: gaps instead of repeated times.

The quiz and review scores of the 90-day retention and the active days are the part of a record
that grows with a student's history (the rest is bounded by the late-arrival window, the
struggle rules or the catalogue). Written item by item they repeat a 10-digit epoch (a 6-digit
day ordinal) per item, and a score's event id is blank once no event can be ordered among it
(`record._forget_score_ids`). So the stored JSON holds instead:

- scores: one flat array with, per score, the seconds since the previous score (the first: the
  epoch), the value, and the event id only when it is not blank —
  `[1767600000, 0.6, 86460, 0.8, "e7"]` is `[(1767600000, 0.6, ""), (1767686460, 0.8, "e7")]`;
- active days: the first day's ordinal, then the gap to each next day — `[739620, 1, 3]`.

Decoding gives back exactly what was encoded (integers, and floats written as their shortest
round-tripping repr). Records stored before keep loading: their scores are arrays of
`[epoch, value, id]` triples (an item is an array, never a number), their days the ordinals
themselves (the second exceeds the first, where a gap is at most the 90-day retention and an
ordinal of this era ~739,000). Such a record is written in this form at its next change.

The GDPR export writes the lists item by item as before (the `EXPANDED` context), so its
format does not change with the storage's.
"""

from __future__ import annotations

from itertools import accumulate, pairwise
from typing import Any

from pydantic import SerializationInfo

__all__ = ["EXPANDED", "Observation", "pack_days", "pack_scores", "unpack_days", "unpack_scores"]

# A timed observation: (epoch seconds, value, event id); the id breaks ties deterministically,
# and is blanked ("") once no event can still be ordered among it (`record._forget_score_ids`).
Observation = tuple[int, float, str]

EXPANDED = {"expanded": True}
"""Serialisation context that writes the lists item by item (the GDPR export)."""


def _expanded(info: SerializationInfo) -> bool:
    return bool(info.context and info.context.get("expanded"))


def pack_scores(observations: list[Observation], info: SerializationInfo) -> list[Any]:
    """The stored form of time-sorted scores (module doc)."""
    if _expanded(info):
        return observations
    packed: list[Any] = []
    before = 0
    for at, value, event_id in observations:
        packed += (at - before, value, event_id) if event_id else (at - before, value)
        before = at
    return packed


def unpack_scores(stored: Any) -> Any:
    """The scores `stored` holds, in either stored form; anything else as it is (for the
    model's validation to reject)."""
    if not isinstance(stored, list) or not stored or isinstance(stored[0], list):
        return stored  # empty, stored before as triples, or not a list at all
    observations: list[tuple[Any, Any, Any]] = []
    at, index, end = 0, 0, len(stored)
    try:
        while index < end:
            at += stored[index]
            value, index = stored[index + 1], index + 2
            event_id = ""
            if index < end and isinstance(stored[index], str):
                event_id, index = stored[index], index + 1
            observations.append((at, value, event_id))
    except (TypeError, IndexError):
        return stored
    return observations


def pack_days(days: list[int], info: SerializationInfo) -> list[int]:
    """The stored form of sorted day ordinals (module doc)."""
    if _expanded(info) or not days:
        return days
    return [days[0], *(later - earlier for earlier, later in pairwise(days))]


def unpack_days(stored: Any) -> Any:
    """The day ordinals `stored` holds, in either stored form (module doc)."""
    if not isinstance(stored, list) or len(stored) < 2:
        return stored
    try:
        return stored if stored[1] > stored[0] else list(accumulate(stored))
    except TypeError:  # not numbers: for the model's validation to reject
        return stored
