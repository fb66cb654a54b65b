"""`python -m mastery.ingest_main` (console script `mastery-ingest`): ingest in any INGEST_MODE.

functions-framework can only serve HTTP, so the two other modes of the ingest function start
here: `kafka` runs the native consumer (no Dapr), `grpc` the AppCallback server on `PORT` for
a sidecar with `app-protocol: grpc`. `http` serves functions-framework's app exactly as the
image's default command does (`mastery.serve`), so one command serves every mode.
"""

from __future__ import annotations

import asyncio
import os

from mastery.config import Settings


def main() -> None:
    """Serve the ingest function in the mode `INGEST_MODE` names."""
    settings = Settings.from_env()
    if settings.ingest_mode == "kafka":
        from mastery.entrypoints import kafka_consumer

        asyncio.run(kafka_consumer.run(settings))
    elif settings.ingest_mode == "grpc":
        from mastery.entrypoints import grpc_binding

        grpc_binding.serve(settings)
    else:
        from mastery import serve

        os.environ["FUNCTION_TARGET"] = "ingest"
        serve.main()


if __name__ == "__main__":
    main()
