"""Layouts that let numpy run many answer sequences in lockstep.

A sequential model (BKT, Elo) must see each sequence's answers in order, but different
sequences are independent. The time-major layout puts the t-th answer of every sequence longer
than t into one contiguous block, sequences ranked longest first, so block t+1 is a prefix of
block t's sequences: a Python loop runs over steps (the longest sequence), never over rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mastery.learning.answers import BoolArray, FloatArray, IntArray


@dataclass(frozen=True)
class TimeMajor:
    """Row indices in time-major order; step t is `rows[bounds[t]:bounds[t + 1]]`."""

    rows: IntArray
    bounds: IntArray

    @property
    def steps(self) -> int:
        """Length of the longest sequence."""
        return int(self.bounds.shape[0] - 1)

    def step(self, t: int) -> tuple[int, int]:
        """The [start, stop) range of step t in time-major coordinates."""
        return int(self.bounds[t]), int(self.bounds[t + 1])

    def has_next(self) -> BoolArray:
        """For each time-major row: does its sequence have a later answer?"""
        flags = np.zeros(self.rows.shape[0], dtype=bool)
        for t in range(self.steps - 1):
            start, _ = self.step(t)
            nxt_start, nxt_stop = self.step(t + 1)
            flags[start : start + nxt_stop - nxt_start] = True
        return flags

    def is_first(self) -> BoolArray:
        """For each time-major row: is it its sequence's first answer?"""
        flags = np.zeros(self.rows.shape[0], dtype=bool)
        if self.steps:
            flags[: self.bounds[1]] = True
        return flags


def time_major(groups: IntArray) -> TimeMajor:
    """Lay out rows by sequence (`groups` codes), keeping each sequence's row order."""
    n = groups.shape[0]
    if n == 0:
        return TimeMajor(np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64))
    by_group = np.argsort(groups, kind="stable")
    _, starts, lengths = np.unique(groups[by_group], return_index=True, return_counts=True)
    position = np.arange(n) - np.repeat(starts, lengths)
    rank = np.empty(lengths.shape[0], dtype=np.int64)
    rank[np.argsort(-lengths, kind="stable")] = np.arange(lengths.shape[0])
    order = np.lexsort((np.repeat(rank, lengths), position))
    bounds = np.concatenate(([0], np.cumsum(np.bincount(position))))
    return TimeMajor(by_group[order].astype(np.int64), bounds.astype(np.int64))


def history(groups: IntArray, values: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per row, over earlier rows of the same group: count, sum of values, sum of index*value.

    Rows must already be in chronological order within each group.
    """
    by_group = np.argsort(groups, kind="stable")
    _, starts, lengths = np.unique(groups[by_group], return_index=True, return_counts=True)
    index = (np.arange(groups.shape[0]) - np.repeat(starts, lengths)).astype(np.float64)
    ordered = values[by_group]
    out = []
    for series in (ordered, index * ordered):
        running = np.cumsum(series) - series
        out.append(running - np.repeat(running[starts], lengths))
    count = np.empty_like(index)
    total = np.empty_like(index)
    weighted = np.empty_like(index)
    count[by_group], total[by_group], weighted[by_group] = index, out[0], out[1]
    return count, total, weighted
