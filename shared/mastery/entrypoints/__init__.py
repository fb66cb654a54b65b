"""Entry points: each function's HTTP routes (`web/`), the Kafka consumer, the gRPC
binding and the ops server. Entry points never import each other."""
