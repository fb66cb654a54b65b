"""Private local servers (Redis, Kafka) for the run command and the test suite."""
