"""A topic's graded answers as two parallel lists, kept in (time, value) order.

Two flat lists rather than a list of tuples: pydantic reads and writes `list[int]` and
`list[float]` in its Rust core about three times faster than tuples, and the record is read
and written on every event (bench/learner_in_ingest.py).
"""

from __future__ import annotations

import bisect

from pydantic import BaseModel, Field, model_validator


class AnswerLog(BaseModel):
    """Graded answers of one topic: `at[i]` (epoch seconds) and `value[i]` (0–1), sorted."""

    at: list[int] = Field(default_factory=list)
    value: list[float] = Field(default_factory=list)

    @model_validator(mode="after")
    def _parallel(self) -> AnswerLog:
        if len(self.at) != len(self.value):
            raise ValueError("an answer log needs one value per time")
        return self

    def insert(self, at: int, value: float) -> bool:
        """Insert one answer in (time, value) order; True when it is the newest."""
        low, high = bisect.bisect_left(self.at, at), bisect.bisect_right(self.at, at)
        position = bisect.bisect_right(self.value, value, low, high)
        self.at.insert(position, at)
        self.value.insert(position, value)
        return position == len(self.at) - 1

    def drop_before(self, horizon: int) -> bool:
        """Forget answers older than `horizon`; True when any were dropped."""
        cut = bisect.bisect_left(self.at, horizon)
        if cut:
            del self.at[:cut]
            del self.value[:cut]
        return cut > 0

    def __len__(self) -> int:
        return len(self.at)
