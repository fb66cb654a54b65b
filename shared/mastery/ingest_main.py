"""`python -m mastery.ingest_main` (console script `mastery-ingest`): ingest in any INGEST_MODE.

functions-framework can only serve HTTP, so the two other modes of the ingest function start
here: `kafka` runs the native consumer (no Dapr), `grpc` the AppCallback server on `PORT` for
a sidecar with `app-protocol: grpc`. `http` serves functions-framework's app exactly as the
image's default command does (`mastery.serve`), so one command serves every mode.
"""

from __future__ import annotations

from mastery.config import Settings


def main() -> None:
    """Serve the ingest function in the mode `INGEST_MODE` names (`mastery.bootstrap`)."""
    from mastery.bootstrap import INGEST_MODES

    settings = Settings.from_env()
    INGEST_MODES[settings.ingest_mode](settings)


if __name__ == "__main__":
    main()
