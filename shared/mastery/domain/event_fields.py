"""What an event document's fields may hold, where more than event parsing reads it.

Ids are `Identifier`s: an event's, its student's, its exercise's, and so the student ids of the
HTTP paths too. An event's time must lie within `MAX_AGE` before now and `MAX_SKEW` after it;
an erasure's tombstone outlives the oldest event ingest still accepts
(`mastery.services.tombstones`). Apart from `mastery.domain.events` so that the read functions,
which parse no events, do not load the event models.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import StringConstraints

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")]
MAX_AGE = timedelta(days=90)
MAX_SKEW = timedelta(minutes=5)
