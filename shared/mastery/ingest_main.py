"""`python -m mastery.ingest_main` (console script `mastery-ingest`): ingest in any INGEST_MODE.

functions-framework can only serve HTTP, so the two other modes of the ingest function start
here: `kafka` runs the native consumer (no Dapr), `grpc` the AppCallback server on `PORT` for
a sidecar with `app-protocol: grpc`. `http` hands over to functions-framework exactly as the
image's default command does, so one command serves every mode.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

from mastery.config import Settings


def _functions_framework_argv(settings: Settings) -> list[str]:
    source = os.environ.get("FUNCTION_SOURCE") or "functions/ingest/main.py"
    executable = shutil.which("functions-framework") or str(
        Path(sys.executable).with_name("functions-framework")
    )
    return [executable, "--asgi", "--target", "ingest", "--source", source,
            "--port", str(settings.port)]  # fmt: skip


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
        argv = _functions_framework_argv(settings)
        os.execv(argv[0], argv)  # noqa: S606 - our own executable, replacing this process


if __name__ == "__main__":
    main()
