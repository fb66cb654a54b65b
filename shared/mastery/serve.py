"""`python -m mastery.serve` (console script `mastery-serve`): serve one function in one process.

functions-framework's CLI serves its ASGI app under gunicorn: a master process plus `WORKERS`
uvicorn workers. A Knative pod serves one port from one container, so the master costs memory
and start-up time and buys nothing (measured in docs/BENCHMARKS.md). This serves the same app —
functions-framework's `create_asgi_app_from_module`, the same `FUNCTION_TARGET`,
`FUNCTION_SOURCE` and signature — in one uvicorn process; `WORKERS` > 1 runs that many under
uvicorn's own supervisor. Before the port is bound it calls the entry point's
`function.prepare()` (see `mastery.web.LazyFunction`), so the first request finds the function
built. SIGTERM: uvicorn stops accepting, lets in-flight requests finish (at most
`GRACEFUL_TIMEOUT` seconds, default 30), closes the function (`function.aclose()`: its
connections and producers), then exits by re-raising the signal.

Start-up is paid by a person after every scale from zero, so it runs lean: the cyclic garbage
collector stays off while the function is imported and built (it would otherwise scan the
growing heap of modules, classes and functions again and again), then the start-up heap is
frozen (`gc.freeze`: no later collection scans it either) and the collector turned back on;
and pydantic's plugin lookup, which reads every installed distribution's entry points, is
skipped (`PYDANTIC_DISABLE_PLUGINS`, unless the environment sets it: the engine uses none).

Importing this module loads only uvicorn and functions-framework: it is also how the benchmarks
serve their bare baselines.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

import uvicorn
from functions_framework import _function_registry
from functions_framework.aio import create_asgi_app_from_module

Scope = dict[str, Any]
ASGIApp = Any


class _PrepareOnStartup:
    """The ASGI app, with the function's `prepare()` awaited on lifespan start-up (uvicorn binds
    after it) and its `aclose()` on lifespan shutdown (after the last request)."""

    def __init__(self, app: ASGIApp, function: Any) -> None:
        self._app = app
        self._function = function

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self._app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self._function.prepare()
                _start_up_done()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._function.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _start_up_done() -> None:
    """Freeze what start-up allocated and turn the garbage collector back on (see above)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def app() -> ASGIApp:
    """functions-framework's ASGI app for `FUNCTION_TARGET` (uvicorn's app factory)."""
    gc.disable()  # until `_start_up_done`, once the function is built
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    target = os.environ.get("FUNCTION_TARGET", "")
    if not target:
        raise SystemExit("set FUNCTION_TARGET to the function to serve")
    source = os.environ.get("FUNCTION_SOURCE") or f"functions/{target}/main.py"
    if not Path(source).is_file():
        raise SystemExit(f"FUNCTION_SOURCE {source} is not a file")
    module, spec = _function_registry.load_function_module(source)  # type: ignore[no-untyped-call]
    spec.loader.exec_module(module)
    asgi = create_asgi_app_from_module(target, source, None, module, spec)  # type: ignore[no-untyped-call]
    function = getattr(module, "function", None)
    if not hasattr(function, "prepare"):
        _start_up_done()
        return asgi
    return _PrepareOnStartup(asgi, function)


def main() -> None:
    """Serve `FUNCTION_TARGET` on `HOST`:`PORT` with `WORKERS` processes (default 1)."""
    uvicorn.run(
        "mastery.serve:app",
        factory=True,
        host=os.environ.get("HOST", "0.0.0.0"),  # noqa: S104 - a container serves every interface
        port=int(os.environ.get("PORT", "8080")),
        workers=int(os.environ.get("WORKERS", "1")),
        lifespan="on",
        ws="none",
        access_log=False,  # each function logs its own requests (route templates, not paths)
        log_config=None,  # uvicorn's records go through the function's JSON logging
        log_level=os.environ.get("UVICORN_LOG_LEVEL", "warning").lower(),
        timeout_graceful_shutdown=int(os.environ.get("GRACEFUL_TIMEOUT", "30")),
    )


if __name__ == "__main__":
    main()
