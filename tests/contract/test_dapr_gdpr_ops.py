"""`transact` and the audit logs through the Dapr sidecar adapter agree with the direct adapter.

The state API cannot hold the audit trail's Redis Streams, nor make a transaction's
compare-and-set atomic (a state.redis transaction runs its other operations when an ETag check
fails): behind a sidecar the logs and the erasure's transaction go to the same Redis directly,
and must agree with what the sidecar (state.redis semantics, reproduced by the fake daprd) reads
and writes.
"""

from __future__ import annotations

import json
import uuid

import pytest

from mastery.errors import ConflictError, StateUnavailableError
from mastery.ports import LogAppend, Write
from tests.contract.test_dapr_sidecar_adapters import Sidecar, sidecar

pytestmark = pytest.mark.integration
__all__ = ["sidecar"]  # the fixture, shared with the sidecar adapter tests


async def test_a_transaction_through_dapr_deletes_and_puts_together(sidecar: Sidecar) -> None:
    tag = uuid.uuid4().hex[:8]
    await sidecar.direct.write(f"student:{{{tag}}}", b"{}", etag=None, ttl_seconds=600)
    deleted = await sidecar.dapr.transact(
        [Write(f"tombstone:{{{tag}}}", b'{"t": 1}', None, 600)], [f"student:{{{tag}}}"]
    )
    assert deleted == 1
    assert await sidecar.direct.read(f"student:{{{tag}}}") is None
    tombstone = await sidecar.direct.read(f"tombstone:{{{tag}}}")
    assert tombstone is not None
    assert json.loads(tombstone.data) == {"t": 1}
    assert await sidecar.dapr.transact([], []) == 0


async def test_logs_through_dapr_and_directly_are_one_log(sidecar: Sidecar) -> None:
    tag = uuid.uuid4().hex[:8]
    owner, stream, tally = f"student:{{{tag}}}", f"audit:{{{tag}}}", f"audit:{{{tag}}}:tally"
    await sidecar.dapr.write(owner, b"{}", etag=None, ttl_seconds=600)
    times = {"window_ms": 1000, "keep_ms": 10**7}
    for n, store in enumerate([sidecar.dapr, sidecar.direct, sidecar.dapr]):
        access = LogAppend(stream, tally, owner, "k", f"r{n}")
        assert await store.append_logs([access], now_ms=1_764_000_000_000 + n, **times) == 1
    for store in (sidecar.dapr, sidecar.direct):
        [entry] = await store.read_log(stream, tally, 0, 2_000_000_000_000, None, 10)
        assert (entry.note, entry.count) == ("r0", 3)
        assert await store.log_length(stream) == 1


async def test_an_erasure_through_dapr_deletes_the_logs_with_the_record(sidecar: Sidecar) -> None:
    tag = uuid.uuid4().hex[:8]
    owner, stream, tally = f"student:{{{tag}}}", f"audit:{{{tag}}}", f"audit:{{{tag}}}:tally"
    await sidecar.dapr.write(owner, b"{}", etag=None, ttl_seconds=600)
    access = LogAppend(stream, tally, owner, "k", "r")
    for _ in range(2):
        await sidecar.dapr.append_logs(
            [access], now_ms=1_764_000_000_000, window_ms=10, keep_ms=10**7
        )
    assert await sidecar.daprd.redis.type(stream) == b"stream"
    assert await sidecar.daprd.redis.type(tally) == b"hash"
    deleted = await sidecar.dapr.transact(
        [Write(f"tombstone:{{{tag}}}", b"{}", None, 600)], [owner, stream, tally]
    )
    assert deleted == 3
    assert await sidecar.daprd.redis.exists(owner, stream, tally) == 0


async def test_a_transaction_through_dapr_compares_and_sets_what_the_sidecar_wrote(
    sidecar: Sidecar,
) -> None:
    tag = uuid.uuid4().hex[:8]
    owner, tomb = f"student:{{{tag}}}", f"tombstone:{{{tag}}}"
    await sidecar.dapr.write(owner, b"{}", etag=None, ttl_seconds=600)
    await sidecar.dapr.write(tomb, b"first", etag=None, ttl_seconds=600)
    with pytest.raises(ConflictError):
        await sidecar.dapr.transact([Write(tomb, b"second", None, 600)], [owner])
    assert await sidecar.dapr.read(owner) is not None, "a refused step deletes nothing"
    current = await sidecar.dapr.read(tomb)
    assert current is not None
    assert await sidecar.dapr.transact([Write(tomb, b"second", current.etag, 600)], [owner]) == 1
    after = await sidecar.dapr.read(tomb)
    assert after is not None
    assert after.data == b"second"
    # Marked as a first write, as the sidecar marks its own: a save without an ETag fails
    # (daprd answers INTERNAL there, not an ETag error) instead of overwriting it.
    with pytest.raises(StateUnavailableError):
        await sidecar.dapr.write(tomb, b"third", etag=None, ttl_seconds=600)
    kept = await sidecar.direct.read(tomb)
    assert kept is not None
    assert kept.data == b"second"
