"""GDPR: export everything held about a student as one sealed document, and erase it.

Export format (version 1): a JSON object with `format`, `format_version`, `exported_at`,
`student_id`, `record` (everything the stored record holds: evidence, dedupe ids, enrolments,
alerts, learner state; scores and active days item by item, not in the storage's compact form,
`mastery.domain.record_encoding`), `derived` (mastery and daily history computed from it), `audit_trail`, and
`digest`. The digest is SHA-256 over the canonical form of the document without `digest`:
JSON with keys sorted, no whitespace (`,` and `:` separators), non-ASCII characters as
themselves, UTF-8 encoded, numbers as Python's `json` writes them.

Erasure deletes the record and the audit trail and writes the tombstone in one atomic
`StateStore.transact` (every key carries the student's hash tag), then removes the student from
the rosters of their classes (other hash tags, so separately; idempotent). Erasing again keeps
the first erasure in the tombstone and records the new one beside it, also when both run at
once (the tombstone is compared-and-set in the atomic step).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from mastery.domain.record import StudentRecord
from mastery.domain.record_encoding import EXPANDED
from mastery.errors import ConflictError
from mastery.ports import StateStore, Write
from mastery.services.audit import AuditEntry, audit_keys, trail_length
from mastery.services.rosters import remove_from_rosters
from mastery.services.students import student_key
from mastery.services.tombstones import LaterErasure, Tombstone, tombstone_key, tombstone_ttl

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_FORMAT_VERSION",
    "ErasureReport",
    "canonical_bytes",
    "erase_student",
    "export_document",
    "verify_export",
]

EXPORT_FORMAT = "learnflow.mastery.student-export"
EXPORT_FORMAT_VERSION = 1
_ATTEMPTS = 10
"""Erasures of one student committed in a row before one gives up (409): each conflict is
another erasure's commit."""


class ErasureReport(BaseModel):
    """What one erasure removed (counts and class ids, never the content)."""

    student_id: str
    erased_at: datetime
    record_erased: bool
    events: int
    """Event ids in the dedupe set (events of the last 90 days)."""
    topics: int
    alerts: int
    audit_entries: int
    keys_deleted: int
    classes: list[str]
    """Classes whose rosters no longer list the student."""
    tombstone_expires_at: datetime
    first_erased_at: datetime
    """The student's first erasure: this one, or an earlier one kept in the tombstone."""


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """The canonical form the digest covers: `document` without `digest`, see module doc."""
    body = {key: value for key, value in document.items() if key != "digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode()


def _digest(document: Mapping[str, Any]) -> dict[str, str]:
    return {"algorithm": "sha256", "value": hashlib.sha256(canonical_bytes(document)).hexdigest()}


def verify_export(document: Mapping[str, Any]) -> bool:
    """True when `document`'s digest matches its canonical form."""
    return document.get("digest") == _digest(document)


def export_document(
    record: StudentRecord,
    derived: Mapping[str, Any],
    trail: list[AuditEntry],
    now: datetime,
) -> dict[str, Any]:
    """The sealed export of `record`, its `derived` views and its audit `trail`."""
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "exported_at": now.astimezone(UTC).isoformat(),
        "student_id": record.student_id,
        "record": record.model_dump(mode="json", context=EXPANDED),
        "derived": dict(derived),
        "audit_trail": [entry.model_dump(mode="json") for entry in trail],
    }
    # Through JSON once, so the digest covers exactly what a client will parse.
    document = json.loads(json.dumps(document))
    document["digest"] = _digest(document)
    return document


async def erase_student(
    store: StateStore,
    student_id: str,
    erasure: AuditEntry,
    retention_days: int,
) -> ErasureReport:
    """Erase every record of `student_id` atomically and leave a tombstone (see module doc).

    The tombstone is compared-and-set in the erasure's atomic step: of concurrent erasures, the
    first to commit is the tombstone's first; each later one finds it, reads again what is left
    and is recorded beside it.
    """
    for _ in range(_ATTEMPTS):
        try:
            return await _erase_once(store, student_id, erasure, retention_days)
        except ConflictError:
            continue  # another erasure committed in between: read again, record beside it
    raise ConflictError(f"{_ATTEMPTS} concurrent erasures of one student in a row")


async def _erase_once(
    store: StateStore, student_id: str, erasure: AuditEntry, retention_days: int
) -> ErasureReport:
    now = erasure.at
    stored, previous = await store.read_many([student_key(student_id), tombstone_key(student_id)])
    record = StudentRecord.model_validate_json(stored.data) if stored is not None else None
    classes = sorted(record.classes) if record is not None else []
    await remove_from_rosters(store, student_id, classes, now, retention_days)
    ttl = tombstone_ttl(retention_days)
    counts = {
        "events": record.applied if record else 0,
        "topics": len(record.topics) if record else 0,
        "alerts": len(record.alerts) if record else 0,
        "audit_entries": await trail_length(store, student_id),
    }
    if previous is None:
        tombstone = Tombstone(student_id=student_id, erased_at=now, erasure=erasure, erased=counts)
    else:
        tombstone = Tombstone.model_validate_json(previous.data)
        tombstone.later.append(LaterErasure(erasure=erasure, erased=counts))
    data = tombstone.model_dump_json().encode()
    deleted = await store.transact(
        [Write(tombstone_key(student_id), data, previous.etag if previous else None, ttl)],
        [student_key(student_id), *audit_keys(student_id)],
    )
    # Again after the commit: an enrolment applied between the snapshot and the commit.
    await remove_from_rosters(store, student_id, classes, now, retention_days)
    return ErasureReport(
        student_id=student_id,
        erased_at=now,
        record_erased=record is not None,
        keys_deleted=deleted,
        classes=classes,
        tombstone_expires_at=now + timedelta(seconds=ttl),
        first_erased_at=tombstone.erased_at,
        **counts,
    )
