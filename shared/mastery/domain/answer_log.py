"""A topic's graded answers as parallel lists in (time, key) order, and the state before them.

Parallel flat lists rather than a list of tuples: pydantic reads and writes `list[float]` and
`list[int]` in its Rust core about three times faster than tuples, and the record is read and
written on every event (bench/learner_in_ingest.py).

Order: by event time with sub-second precision, then by a stable key of the event id (its
CRC-32: an int is smaller and faster to store than the id), so answers in the same second keep
the order they happened in and any delivery order of the same events gives one order. `start` is the checkpoint: the learner state after answers that are no
longer listed (dropped by the retention window), so dropping them never resets knowledge.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Iterator

from pydantic import BaseModel, model_validator

from mastery.domain.learner import StoredLearnerState, StudentState


class AnswerLog(BaseModel):
    """Graded answers of one topic: `at[i]` (epoch s), `key[i]` (of the event id), `value[i]`."""

    at: list[float] = []
    key: list[int] = []
    value: list[float] = []
    start: StoredLearnerState | None = None
    """The state after the answers dropped from the lists (None: nothing was dropped)."""

    @model_validator(mode="after")
    def _parallel(self) -> AnswerLog:
        if not len(self.at) == len(self.key) == len(self.value):
            raise ValueError("an answer log needs one key and one value per time")
        return self

    def insert(self, at: float, key: int, value: float) -> bool:
        """Insert one answer in (time, key) order; True when it is the newest."""
        low, high = bisect.bisect_left(self.at, at), bisect.bisect_right(self.at, at)
        position = bisect.bisect_right(self.key, key, low, high)
        self.at.insert(position, at)
        self.key.insert(position, key)
        self.value.insert(position, value)
        return position == len(self.at) - 1

    def take_before(self, horizon: float) -> list[tuple[float, int, float]]:
        """Remove the answers older than `horizon`; them, as (time, key, value), in order."""
        cut = bisect.bisect_left(self.at, horizon)
        taken = list(zip(self.at[:cut], self.key[:cut], self.value[:cut], strict=True))
        if cut:
            del self.at[:cut]
            del self.key[:cut]
            del self.value[:cut]
        return taken

    def entries(self) -> Iterator[tuple[float, int, float]]:
        """The listed answers as (time, key, value), in order."""
        return zip(self.at, self.key, self.value, strict=True)

    def moments(self) -> Iterator[tuple[float, float]]:
        """The listed answers as (time, value), in order."""
        return zip(self.at, self.value, strict=True)

    @staticmethod
    def key_of(event_id: str) -> int:
        """The stable ordering key of an event id (the same in every process)."""
        return zlib.crc32(event_id.encode())

    def __len__(self) -> int:
        return len(self.at)


class StudentTrack(BaseModel):
    """The student's cross-topic learner state, and its checkpoint (as `AnswerLog.start`)."""

    state: StudentState | None = None
    """After every answer the record holds or has folded."""
    start: StudentState | None = None
    """After the answers dropped from the topics' lists (None: nothing was dropped)."""
