"""Parsed student records kept between events, keyed by the exact bytes they stand for.

Parsing a record (~20 KB of JSON for a month of activity) was the largest single cost of
applying an event, and a busy student's events arrive one after another at the same ingest
process (Kafka partitions by student). The cache does not change what is read or written: the
record is still read from the store on every round, and the compare-and-set on its ETag still
guards every write. It only skips the parse when the stored bytes are *identical* to the bytes
the cached object was parsed from or dumped to. Versions are not trusted for that (an erased
and recreated record starts again at version 1); equal bytes parse to an equal record.

Ownership is exclusive: `take` removes the entry, the caller mutates the record freely, and
gives it back with `keep` only together with the bytes it now equals (after a successful
write, or unchanged). Anything else (a lost compare-and-set, an error) simply drops it.
"""

from __future__ import annotations

from cachetools import LRUCache

from mastery.domain.record import StudentRecord

__all__ = ["RecordCache"]


class RecordCache:
    """A small LRU of parsed records per state key (one process, not shared)."""

    def __init__(self, capacity: int = 128) -> None:
        self._capacity = capacity
        self._entries: LRUCache[str, tuple[bytes, StudentRecord]] = LRUCache(max(1, capacity))

    def take(self, key: str, data: bytes) -> StudentRecord:
        """The record `data` encodes, now owned by the caller (parsed unless cached)."""
        entry = self._entries.pop(key, None)
        if entry is not None and entry[0] == data:
            return entry[1]
        return StudentRecord.model_validate_json(data)

    def keep(self, key: str, data: bytes, record: StudentRecord) -> None:
        """Hand `record` back; the caller guarantees it equals the parse of `data`."""
        if self._capacity > 0:
            self._entries[key] = (data, record)

    def __len__(self) -> int:
        return len(self._entries)
