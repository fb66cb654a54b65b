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

Bounded in bytes, not in records: a record grows with its student's events inside the
late-arrival window, so a count of records would let the cache's memory grow with them. A
parsed record is counted as `PARSED_BYTES_PER_JSON_BYTE` times its JSON (every object it
reaches measured 3.9-5.8x on the demo's records). The default budget, 64 MiB, holds the
records of a school of 630 students a month in (median 17 KB), the working set of one consumer
in `bench.ingest_paths`; 8 MiB (~80 records) parsed three records in four afresh there
(docs/DECISIONS.md).
"""

from __future__ import annotations

from cachetools import LRUCache

from mastery.domain.record import StudentRecord

__all__ = ["DEFAULT_RECORD_CACHE_BYTES", "PARSED_BYTES_PER_JSON_BYTE", "RecordCache"]

DEFAULT_RECORD_CACHE_BYTES = 64 * 1024 * 1024
PARSED_BYTES_PER_JSON_BYTE = 6
"""What a parsed record is counted as, per byte of its JSON (measured 3.9-5.8, rounded up)."""


def _parsed_size(entry: tuple[bytes, StudentRecord]) -> int:
    return PARSED_BYTES_PER_JSON_BYTE * len(entry[0])


class RecordCache:
    """A small LRU of parsed records per state key, within `max_bytes` (one process)."""

    def __init__(self, max_bytes: int = DEFAULT_RECORD_CACHE_BYTES) -> None:
        self._entries: LRUCache[str, tuple[bytes, StudentRecord]] = LRUCache(
            max(1, max_bytes), getsizeof=_parsed_size
        )
        self.hits = 0
        """Takes that found their record cached (`misses`: takes that parsed it)."""
        self.misses = 0

    def take(self, key: str, data: bytes) -> StudentRecord:
        """The record `data` encodes, now owned by the caller (parsed unless cached)."""
        entry = self._entries.pop(key, None)
        if entry is not None and entry[0] == data:
            self.hits += 1
            return entry[1]
        self.misses += 1
        return StudentRecord.model_validate_json(data)

    def keep(self, key: str, data: bytes, record: StudentRecord) -> None:
        """Hand `record` back; the caller guarantees it equals the parse of `data` (kept unless
        it alone exceeds the budget)."""
        if _parsed_size((data, record)) <= self._entries.maxsize:
            self._entries[key] = (data, record)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """The bytes the cache counts now (at most `max_bytes`)."""
        return int(self._entries.currsize)
