"""Answers derived from one version of a student's record, reused until the record changes.

A stored record never changes under the same ETag (every write bumps the version), and every
answer of the read APIs is a function of the record, the student's local day and the request's
own parameters. So the rendered answer for (student, ETag, what was asked, day) is served again
without parsing, scoring or serialising — the read path's main costs (docs/BENCHMARKS.md). The
record itself is not kept (its parsed form is ~3x its JSON): only the answers, the student's
classes and UTC offset. A new ETag drops the old version's answers.

Bounded in bytes, least recently used student out: an entry counts the answers it holds (bytes
objects by their size, any other answer by every object it reaches, `deep_size`), so the memo
keeps its budget however large the records and their answers grow. Default budget 16 MiB per
memo (each read function has one), docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import gc
import sys
import types
import zlib
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TypeVar

from cachetools import LRUCache

from mastery.domain.mastery import MasteryFacts, ScoredRecord
from mastery.domain.record import StudentRecord
from mastery.ports import StateStore
from mastery.services.students import student_key

__all__ = ["DEFAULT_MEMO_BYTES", "AnswerMemo", "StudentVersion", "deep_size"]

_T = TypeVar("_T")
_Parsed = TypeVar("_Parsed", StudentRecord, MasteryFacts)
DEFAULT_MEMO_BYTES = 16 * 1024 * 1024
_ENTRY_BYTES = 512
"""An entry without answers: the entry, its key, the student's classes and offset."""
_SHARED = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def deep_size(value: object) -> int:
    """The bytes of `value` and of every object it reaches, each counted once; classes, modules
    and functions (shared by every answer, not held by one) are not followed."""
    seen: set[int] = set()
    pending = [value]
    total = 0
    while pending:
        item = pending.pop()
        if id(item) in seen or isinstance(item, _SHARED):
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        pending.extend(gc.get_referents(item))
    return total


@dataclass(slots=True, eq=False, repr=False)
class _Entry:
    """One student's memoised answers, for the stored version they were made from."""

    etag: str | None
    digest: int
    """hash() of the stored bytes: an erased and re-created record can reuse an old ETag."""
    classes: frozenset[str] | None = None
    utc_offset_minutes: int | None = None
    answers: dict[Hashable, object] = field(default_factory=dict)
    size: int = _ENTRY_BYTES
    """Bytes the memo counts for this entry: `_ENTRY_BYTES` and its answers'."""


class StudentVersion:
    """The version of one student a request read: its stored bytes and the memo of its answers."""

    __slots__ = ("_data", "_entry", "_facts", "_memo", "_record", "student_id")

    def __init__(
        self, student_id: str, entry: _Entry, data: bytes | None, memo: AnswerMemo
    ) -> None:
        self.student_id = student_id
        self._entry = entry
        self._memo = memo
        self._data = data
        self._record: StudentRecord | None = None
        self._facts: MasteryFacts | None = None

    @property
    def exists(self) -> bool:
        """Whether the store holds a record for the student."""
        return self._data is not None

    @property
    def etag(self) -> str | None:
        """The ETag the version was read with (for a compare-and-set write of it)."""
        return self._entry.etag

    @property
    def data(self) -> bytes | None:
        """The stored bytes of the version (None when the student is unknown)."""
        return self._data

    def record(self) -> StudentRecord:
        """The parsed record (an empty one when the student is unknown); parsed once."""
        if self._record is None:
            self._record = self._parsed(StudentRecord)
        return self._record

    def scored(self) -> ScoredRecord:
        """What scoring the student reads: the record if this request parsed it or its memo's
        answers read the whole record, else only that part of it (`MasteryFacts`, parsed once)."""
        if self._record is not None or self._memo.whole_records:
            return self.record()
        if self._facts is None:
            self._facts = self._parsed(MasteryFacts)
        return self._facts

    def _parsed(self, model: type[_Parsed]) -> _Parsed:
        """The stored bytes as `model` (empty when the student is unknown); the student's classes
        and UTC offset noted for the entry."""
        if self._data is None:
            parsed = model(student_id=self.student_id)
        else:
            parsed = model.model_validate_json(self._data)
        self._entry.classes = parsed.enrolled_classes()
        self._entry.utc_offset_minutes = parsed.utc_offset_minutes
        return parsed

    def enrolled_classes(self) -> frozenset[str]:
        """The classes the student is enrolled in now."""
        classes = self._entry.classes
        if classes is None:
            self.scored()
            classes = self._entry.classes
            assert classes is not None  # noted by the parse
        return classes

    def local_day(self, at: datetime) -> date:
        """`StudentRecord.local_day`, without parsing the record again."""
        offset = self._entry.utc_offset_minutes
        if offset is None:
            offset = self.scored().utc_offset_minutes
        return at.astimezone(timezone(timedelta(minutes=offset))).date()

    def tag(self, day: date) -> str:
        """What the answers of this version on `day` share, for their ETags: the store's
        version and a checksum of the stored bytes (an erased and re-created record starts
        its versions again)."""
        return self.answer(("tag", day), lambda: (
            f"{self.etag or 0}.{zlib.crc32(self._data or b''):08x}.{day.isoformat()}"))  # fmt: skip

    def answered(self, key: Hashable) -> object | None:
        """The answer for `key` if it was made already (None: not yet)."""
        return self._entry.answers.get(key)

    def answer(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        """The answer for `key` (which must include the day when it depends on it), once."""
        answers = self._entry.answers
        if key not in answers:
            answer = answers[key] = compute()
            size = sys.getsizeof(answer) if isinstance(answer, bytes) else deep_size(answer)
            self._memo.grew(self.student_id, self._entry, size + deep_size(key))
        return answers[key]  # type: ignore[return-value]


class AnswerMemo:
    """The latest version seen of students, within `max_bytes`, least recently used out."""

    def __init__(self, max_bytes: int = DEFAULT_MEMO_BYTES, *, whole_records: bool = False) -> None:
        self._entries: LRUCache[str, _Entry] = LRUCache(max_bytes, getsizeof=_entry_size)
        self.whole_records = whole_records
        """Whether the answers made of a new version read the whole record (predict's and
        recommend's): then its classes and UTC offset come from that one parse, not a parse of
        the part scores read first."""

    @property
    def size(self) -> int:
        """The bytes the memo counts now (at most `max_bytes`)."""
        return int(self._entries.currsize)

    @property
    def students(self) -> int:
        """How many students' versions the memo holds now."""
        return len(self._entries)

    def grew(self, student_id: str, entry: _Entry, added: int) -> None:
        """Count `added` bytes more for `entry`: least recently used students leave to make room,
        and an entry larger than the whole budget leaves itself."""
        entry.size += added
        if self._entries.get(student_id) is not entry:
            return  # replaced by a newer version, or already out
        if entry.size > self._entries.maxsize:
            del self._entries[student_id]
        else:
            self._entries[student_id] = entry  # counted again at its new size

    def version(self, student_id: str, etag: str | None, data: bytes | None) -> StudentVersion:
        """This request's version of the student, sharing the memo when the ETag is unchanged."""
        digest = hash(data)
        entry = self._entries.get(student_id)  # a hit makes it the most recently used
        if entry is None or entry.etag != etag or entry.digest != digest:
            entry = self._entries[student_id] = _Entry(etag, digest)
        return StudentVersion(student_id, entry, data, self)

    async def load(self, store: StateStore, student_id: str) -> StudentVersion:
        """Read the student's current version (one round trip)."""
        stored = await store.read(student_key(student_id))
        if stored is None:
            return self.version(student_id, None, None)
        return self.version(student_id, stored.etag, stored.data)

    async def load_many(
        self, store: StateStore, student_ids: Sequence[str]
    ) -> list[StudentVersion]:
        """The versions of the students that exist among `student_ids`, in one round trip."""
        rows = await store.read_many([student_key(s) for s in student_ids])
        return [
            self.version(student_id, stored.etag, stored.data)
            for student_id, stored in zip(student_ids, rows, strict=True)
            if stored is not None
        ]


def _entry_size(entry: _Entry) -> int:
    return entry.size
