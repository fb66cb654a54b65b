"""The group commit writes its commands itself: byte for byte what redis-py would write."""

from __future__ import annotations

from redis.asyncio.connection import Connection

from mastery.adapters.redis_logs import _packed


def test_commands_are_packed_as_redis_py_packs_them() -> None:
    commands = [
        ("HMGET", "student:{s-1}", "data", "version"),
        ("EVALSHA", "a" * 40, 3, "audit:{é-ü}", "audit:{é-ü}:tally", "student:{é-ü}",
         '["t-1","teacher","read","GET /v1/classes/c-1/mastery"]', "f" * 32,
         1_764_000_000_000, 600_000, 0, -1, b"\x00\xff\r\n"),
        ("PING",),
    ]  # fmt: skip
    assert _packed(commands) == b"".join(Connection().pack_commands(commands))
