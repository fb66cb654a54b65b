"""`transact` and `append` through the Dapr sidecar adapter agree with the direct Redis adapter."""

from __future__ import annotations

import json
import uuid

import pytest

from mastery.ports import Append, Put
from tests.contract.test_dapr_sidecar_adapters import Sidecar, sidecar

pytestmark = pytest.mark.integration
__all__ = ["sidecar"]  # the fixture, shared with the sidecar adapter tests


async def test_a_transaction_through_dapr_deletes_and_puts_together(sidecar: Sidecar) -> None:
    tag = uuid.uuid4().hex[:8]
    await sidecar.direct.write(f"student:{{{tag}}}", b"{}", etag=None, ttl_seconds=600)
    deleted = await sidecar.dapr.transact(
        [Put(f"tombstone:{{{tag}}}", b'{"t": 1}', 600)], [f"student:{{{tag}}}"]
    )
    assert deleted == 1
    assert await sidecar.direct.read(f"student:{{{tag}}}") is None
    tombstone = await sidecar.direct.read(f"tombstone:{{{tag}}}")
    assert tombstone is not None
    assert json.loads(tombstone.data) == {"t": 1}
    assert await sidecar.dapr.transact([], []) == 0


async def test_appends_through_dapr_and_directly_build_one_array(sidecar: Sidecar) -> None:
    key = f"audit:{{{uuid.uuid4().hex[:8]}}}:20261120"
    await sidecar.dapr.append([Append(key, b'{"n":1}', 600)])
    await sidecar.direct.append([Append(key, b'{"n":2}', 600)])
    await sidecar.dapr.append([Append(key, b'{"n":3}', 600)])
    stored = await sidecar.direct.read(key)
    assert stored is not None
    assert json.loads(stored.data) == [{"n": 1}, {"n": 2}, {"n": 3}]
