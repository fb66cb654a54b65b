"""How a record's time-sorted lists are stored: gaps instead of repeated times.

The quiz and review scores of the 90-day retention and the active days are the part of a record
that grows with a student's history (the rest is bounded by the late-arrival window, the
struggle rules or the catalogue). Written item by item they repeat a 10-digit epoch (a 6-digit
day ordinal) per item, and a score's event id is blank once no event can be ordered among it
(`record_events.fold_scores`). So the stored JSON holds instead:

- scores, by column: `t` the seconds since the previous score (the first: the epoch), `v` the
  values, and `id` the event ids from the first one not blank on (the older ones are blank) —
  `{"t": [1767600000, 86460], "v": [0.6, 0.8], "id": ["e7"]}` is
  `[(1767600000, 0.6, ""), (1767686460, 0.8, "e7")]`; no scores: `[]`;
- active days: the first day's ordinal, then the gap to each next day — `[739620, 1, 3]`;
- day summaries (`mastery.domain.scores`: a local day's scores folded into one), flat, three
  numbers each: the seconds since the previous summary (the first: the epoch), the decaying
  average after the day, how many scores it holds — `[1767686460, 0.7212500000000001, 4]`.

Decoding gives back exactly what was encoded (integers, and floats written as their shortest
round-tripping repr). Both directions run at C speed (`zip`, `map`, `accumulate`): a record is
encoded on every write. Records stored before keep loading: their scores are an array of
`[epoch, value, id]` arrays (an object now), their days the ordinals themselves (the second
exceeds the first, where a gap is at most the 90-day retention and an ordinal of this era
~739,000). Such a record is written in this form at its next change.

The GDPR export writes the lists item by item as before (the `EXPANDED` context), so its
format does not change with the storage's.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import accumulate
from operator import sub
from typing import Any, cast

from pydantic import GetCoreSchemaHandler, SerializationInfo
from pydantic_core import core_schema

__all__ = [
    "EXPANDED",
    "DaySummary",
    "Observation",
    "StoredAs",
    "pack_days",
    "pack_scores",
    "pack_summaries",
    "unpack_days",
    "unpack_scores",
    "unpack_summaries",
]

# A timed observation: (epoch seconds, value, event id); the id breaks ties deterministically,
# and is blanked ("") once no event can still be ordered among it (`record_events.fold_scores`).
Observation = tuple[int, float, str]

DaySummary = tuple[int, float, int]
"""A local day's scores folded into one (`mastery.domain.scores`): (epoch of the day's last
score, the decaying average after it, how many scores the day held)."""

EXPANDED = {"expanded": True}
"""Serialisation context that writes the lists item by item (the GDPR export)."""


class StoredAs:
    """A field's stored form: `pack(value, info)` writes it to JSON (the record's own parsing
    reads both forms back: `BeforeValidator(unpack_…)`). What pydantic's
    `PlainSerializer(pack, when_used="json")` does, without importing its module and the three
    dataclasses it defines at every start (~8 M instructions) for these fields alone."""

    def __init__(self, pack: Callable[[Any, SerializationInfo], Any]) -> None:
        self._pack = pack

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = handler(source)
        cast(dict[str, Any], schema)["serialization"] = (
            core_schema.plain_serializer_function_ser_schema(
                self._pack, info_arg=True, when_used="json"
            )
        )
        return schema


def _expanded(info: SerializationInfo) -> bool:
    return bool(info.context and info.context.get("expanded"))


def pack_scores(observations: list[Observation], info: SerializationInfo) -> Any:
    """The stored form of time-sorted scores (module doc)."""
    if _expanded(info) or not observations:
        return observations
    times, values, ids = zip(*observations, strict=True)  # tuples: written as JSON arrays
    blank = ids.count("")
    kept = ids[blank:] if not any(ids[:blank]) else ids  # the blank ones are the oldest, else all
    packed = {"t": tuple(map(sub, times, (0, *times))), "v": values}
    return packed | {"id": kept} if kept else packed


def unpack_scores(stored: Any) -> Any:
    """The scores `stored` holds, in either stored form; anything else as it is (for the
    model's validation to reject)."""
    if not isinstance(stored, dict):
        return stored  # empty, or stored before as [epoch, value, id] arrays
    try:
        values, ids = stored["v"], stored.get("id", [])
        blank = [""] * (len(values) - len(ids))
        return list(zip(accumulate(stored["t"]), values, blank + ids, strict=True))
    except (KeyError, TypeError, ValueError):
        return stored


def pack_days(days: list[int], info: SerializationInfo) -> list[int]:
    """The stored form of sorted day ordinals (module doc)."""
    if _expanded(info) or not days:
        return days
    return [days[0], *map(sub, days[1:], days)]


def unpack_days(stored: Any) -> Any:
    """The day ordinals `stored` holds, in either stored form (module doc)."""
    if not isinstance(stored, list) or len(stored) < 2:
        return stored
    try:
        return stored if stored[1] > stored[0] else list(accumulate(stored))
    except TypeError:  # not numbers: for the model's validation to reject
        return stored


def pack_summaries(summaries: list[DaySummary], info: SerializationInfo) -> Any:
    """The stored form of time-sorted day summaries (module doc)."""
    if _expanded(info) or not summaries:
        return summaries
    times, averages, counts = zip(*summaries, strict=True)
    gaps = map(sub, times, (0, *times))
    return [n for summary in zip(gaps, averages, counts, strict=True) for n in summary]


def unpack_summaries(stored: Any) -> Any:
    """The day summaries `stored` holds, in either form; anything else as it is (for the
    model's validation to reject)."""
    if not isinstance(stored, list) or not stored or not isinstance(stored[0], int):
        return stored  # empty, or item by item (in memory, or an export's layout)
    try:
        return list(zip(accumulate(stored[0::3]), stored[1::3], stored[2::3], strict=True))
    except (TypeError, ValueError):
        return stored
