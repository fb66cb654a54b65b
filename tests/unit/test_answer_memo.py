"""The query function's per-version answer memo: reuse only while the stored record is unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

from mastery.domain.record import StudentRecord
from mastery.entrypoints.http.memo import AnswerMemo


def _bytes(student_id: str, offset: int = 0) -> bytes:
    return (
        StudentRecord(student_id=student_id, utc_offset_minutes=offset).model_dump_json().encode()
    )


def test_an_answer_is_computed_once_per_record_version() -> None:
    memo, calls = AnswerMemo(), []
    for _ in range(3):
        version = memo.version("s1", "4", _bytes("s1"))
        assert version.answer("mastery", lambda: calls.append(1) or b"answer") == b"answer"
    assert calls == [1]


def test_a_new_etag_or_new_bytes_under_an_old_etag_recompute() -> None:
    memo, calls = AnswerMemo(), []
    memo.version("s1", "1", _bytes("s1")).answer("k", lambda: calls.append("v1"))
    memo.version("s1", "2", _bytes("s1")).answer("k", lambda: calls.append("v2"))
    # Erased and re-created: the version counter starts again, the content differs.
    memo.version("s1", "1", _bytes("s1", offset=60)).answer("k", lambda: calls.append("v1b"))
    assert calls == ["v1", "v2", "v1b"]


def test_local_day_and_classes_match_the_record_without_reparsing() -> None:
    memo = AnswerMemo()
    at = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    first = memo.version("s1", "1", _bytes("s1", offset=60))
    assert first.local_day(at) == StudentRecord(student_id="s1", utc_offset_minutes=60).local_day(
        at
    )
    again = memo.version("s1", "1", _bytes("s1", offset=60))
    assert again.local_day(at).day == 2
    assert again.enrolled_classes() == frozenset()


def test_a_memo_of_whole_records_parses_a_new_version_once() -> None:
    # Predict and recommend read the whole record for every new version's answer: the local
    # day and classes come from that parse, not from a parse of the scored part before it.
    parsed = []
    for memo in (AnswerMemo(), AnswerMemo(whole_records=True)):
        version = memo.version("s1", "1", _bytes("s1", offset=60))
        version.local_day(datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
        parsed.append(version.scored() is version.record())
    assert parsed == [False, True]


def test_an_unknown_student_reads_as_an_empty_record() -> None:
    version = AnswerMemo().version("ghost", None, None)
    assert not version.exists
    assert version.record().student_id == "ghost"


def _answer_of(size: int) -> bytes:
    return b"x" * size


def test_the_least_recently_used_student_is_forgotten_past_the_byte_budget() -> None:
    memo, calls = AnswerMemo(max_bytes=2_600), []
    for student in ("a", "b", "c", "a"):
        version = memo.version(student, "1", _bytes(student))
        version.answer("k", lambda s=student: calls.append(s) or _answer_of(600))
    assert calls == ["a", "b", "c", "a"]  # two answered students fit in 2,600 B, not three
    assert memo.students == 2
    assert memo.size <= 2_600


def test_answers_that_grow_with_the_record_keep_the_memo_within_its_budget() -> None:
    # The same students, each version's answer larger than the last (records grow with every
    # event): counted by entries the memo would grow without end; counted in bytes it stays.
    memo = AnswerMemo(max_bytes=64 * 1024)
    for version in range(1, 40):
        for student in ("a", "b", "c", "d"):
            answer = {"evidence": [float(i) for i in range(version * 20)]}  # not bytes: walked
            memo.version(student, str(version), _bytes(student)).answer("k", lambda a=answer: a)
        assert memo.size <= 64 * 1024
    assert 0 < memo.students < 4  # the newest answers (~19 KB each) no longer all fit


def test_an_answer_larger_than_the_whole_budget_is_served_not_kept() -> None:
    memo = AnswerMemo(max_bytes=1_000)
    version = memo.version("a", "1", _bytes("a"))
    assert version.answer("k", lambda: _answer_of(5_000)) == _answer_of(5_000)
    assert memo.students == 0
    assert memo.size == 0
