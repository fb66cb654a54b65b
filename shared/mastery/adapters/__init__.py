"""Adapters: the ports implemented on Redis, Dapr, Kafka and in memory (for tests)."""
