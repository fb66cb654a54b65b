# syntax=docker/dockerfile:1
# One image for the functions; FUNCTION_TARGET (ingest, query, predict, recommend, gdpr, agents)
# picks the one that serves (agents needs the image built with EXTRAS=agents).
#   docker build -t mastery-engine .
#   docker run -e FUNCTION_TARGET=query -p 8080:8080 mastery-engine

# An exact release, not a moving tag: a rebuild gets the same interpreter and Debian. To pin
# the bytes too, append the digest (`docker buildx imagetools inspect <image>`) as @sha256:...
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
# The dependency extras to install: `all` serves any function; one function's image needs only
# its own (README, Dependencies), e.g. `--build-arg EXTRAS=kafka,jwks` for recommend.
ARG EXTRAS=all
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Runtime dependencies only (no dev/local extras). Every one ships manylinux wheels, so the
# builder needs no compiler either; it exists to keep pip's work out of the final image.
COPY pyproject.toml README.md ./
COPY shared ./shared
# Bytecode is compiled here: the root file system is read-only in the cluster, so a cold start
# could not cache it (measured: imports take ~1.0 s with it, ~2.5 s without). Not needed at run
# time, and dropped to stay under the 100 MB budget (bench/footprint.py prunes the same): pip,
# setuptools, the test suites third-party packages ship and .pyi type stubs.
RUN pip install ".[${EXTRAS}]" \
    && python -m pip uninstall --yes pip setuptools \
    && find /opt/venv/lib -depth -type d -name tests -exec rm -rf {} + \
    && find /opt/venv/lib -type f -name '*.pyi' -delete

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY functions ./functions
RUN python -m compileall -q functions
# Read-only root file system in the cluster: never write bytecode.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8080
USER 10001:10001
EXPOSE 8080
# The functions-framework ASGI function (ASGI keeps the `__key`/`__topic`/... headers daprd sends,
# which the WSGI mode's gunicorn drops) in one uvicorn process: `mastery-serve` (`WORKERS` for more).
# Ingest starts through `mastery-ingest`, which serves the INGEST_MODE it is given (http: the
# same `mastery-serve`; grpc; kafka). `exec` makes the server PID 1, so SIGTERM reaches it.
CMD ["/bin/sh", "-c", ": \"${FUNCTION_TARGET:?set FUNCTION_TARGET to ingest, query, predict, recommend or gdpr}\"; if [ \"$FUNCTION_TARGET\" = ingest ]; then exec mastery-ingest; fi; export FUNCTION_SOURCE=\"${FUNCTION_SOURCE:-functions/$FUNCTION_TARGET/main.py}\"; exec mastery-serve"]
