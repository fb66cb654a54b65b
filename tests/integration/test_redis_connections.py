"""The direct Redis adapter's connections: what each tells the server, and what opening one costs."""

from __future__ import annotations

import asyncio
import importlib.metadata

import pytest
import redis

from mastery.adapters.redis_store import connect

pytestmark = pytest.mark.integration


async def test_each_new_connection_names_redis_py_without_a_version_lookup(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[str] = []
    lookup = importlib.metadata.version

    def recorded(name: str) -> str:
        looked_up.append(name)
        return lookup(name)

    monkeypatch.setattr(importlib.metadata, "version", recorded)
    client = connect(redis_url, cluster=False)
    try:  # concurrent commands on a fresh client: each opens its own connection
        infos = await asyncio.gather(*(client.client_info() for _ in range(3)))
    finally:
        await client.aclose()
    assert len({info["id"] for info in infos}) == 3
    assert {(info["lib-name"], info["lib-ver"]) for info in infos} == {
        ("redis-py", redis.__version__)
    }
    assert "redis" not in looked_up
