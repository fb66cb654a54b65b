"""`python -m mastery.serve` (console script `mastery-serve`): serve one function in one process.

functions-framework's CLI serves its ASGI app under gunicorn: a master process plus `WORKERS`
uvicorn workers. A Knative pod serves one port from one container, so the master costs memory
and start-up time and buys nothing (measured in docs/BENCHMARKS.md). This serves the same
function — `FUNCTION_TARGET` in `FUNCTION_SOURCE` (default `functions/<target>/main.py`), an
`async def <target>(request) -> Response` declared with `mastery.web.asgi_http` — in one
uvicorn process; `WORKERS` > 1 runs that many under uvicorn's own supervisor. It serves it as
functions-framework's ASGI mode serves an HTTP function: every path and method to the function,
which gets a Starlette `Request`; an exception it raises is logged and answered 500
`Internal Server Error` with `X-Google-Status: crash`. It does so without importing
functions-framework, whose package imports Flask, Werkzeug, Jinja2 and Click for its WSGI mode
whatever the mode (about a third of a bare hello's start-up). Before the port is bound it calls
the entry point's `function.prepare()` (see `mastery.web.LazyFunction`), so the first request
finds the function built. SIGTERM: uvicorn stops accepting, lets in-flight requests finish (at
most `GRACEFUL_TIMEOUT` seconds, default 30), closes the function (`function.aclose()`: its
connections and producers), then exits by re-raising the signal. An idle keep-alive connection
stays open `KEEP_ALIVE_TIMEOUT` seconds (default 120; uvicorn's own is 5): longer than the
clients and proxies in front keep one (Go's default HTTP transport: 90 s), so they reuse it
instead of connecting again for most requests, and never send on one the server is closing.

Start-up is paid by a person after every scale from zero, so it runs lean: the cyclic garbage
collector stays off from the start of `main` — before uvicorn and Starlette are imported, which
is why this module imports them only there and in `app` (the ASGI app is `mastery.asgi`) — while
the function is imported and built (it would otherwise scan the growing heap of modules, classes
and functions again and again), then the start-up heap is frozen (`gc.freeze`: no later
collection scans it either) and the collector turned back on; and pydantic's plugin lookup,
which reads every installed distribution's entry points, is skipped (`PYDANTIC_DISABLE_PLUGINS`,
unless the environment sets it: the engine uses none).

Serving loads only uvicorn and Starlette besides the function's own imports: it is also how the
benchmarks serve their bare baselines.
"""

from __future__ import annotations

import gc
import importlib.util
import inspect
import os
import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mastery.asgi import ServedFunction


def app() -> ServedFunction:
    """The ASGI app serving `FUNCTION_TARGET` (uvicorn's app factory)."""
    gc.disable()  # until the lifespan's start-up is done, once the function is built
    from mastery.asgi import ServedFunction

    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    target = os.environ.get("FUNCTION_TARGET", "")
    if not target:
        raise SystemExit("set FUNCTION_TARGET to the function to serve")
    source = Path(os.environ.get("FUNCTION_SOURCE") or f"functions/{target}/main.py")
    if not source.is_file():
        raise SystemExit(f"FUNCTION_SOURCE {source} is not a file")
    module = _load(source.resolve())
    handler = getattr(module, target, None)
    if not isinstance(handler, types.FunctionType) or not inspect.iscoroutinefunction(handler):
        raise SystemExit(f"{source} defines no `async def {target}(request)`")
    function = getattr(module, "function", None)
    return ServedFunction(handler, function if hasattr(function, "prepare") else None)


def _load(source: Path) -> types.ModuleType:
    """The source file as a module named after it, its folder importable (as functions-framework
    loads it)."""
    spec = importlib.util.spec_from_file_location(
        source.stem, source, submodule_search_locations=[str(source.parent)]
    )
    assert spec is not None  # a .py file has a spec and a loader
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.append(str(source.parent))
    sys.modules[source.stem] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    """Serve `FUNCTION_TARGET` on `HOST`:`PORT` with `WORKERS` processes (default 1)."""
    workers = int(os.environ.get("WORKERS", "1"))
    if workers == 1:  # this process builds the function: `app` turns the collector back on
        gc.disable()  # before uvicorn and Starlette are imported (see above)
    import uvicorn

    uvicorn.run(
        "mastery.serve:app",
        factory=True,
        host=os.environ.get("HOST", "0.0.0.0"),  # noqa: S104 - a container serves every interface
        port=int(os.environ.get("PORT", "8080")),
        workers=workers,
        lifespan="on",
        ws="none",
        access_log=False,  # each function logs its own requests (route templates, not paths)
        log_config=None,  # uvicorn's records go through the function's JSON logging
        log_level=os.environ.get("UVICORN_LOG_LEVEL", "warning").lower(),
        timeout_graceful_shutdown=int(os.environ.get("GRACEFUL_TIMEOUT", "30")),
        timeout_keep_alive=int(os.environ.get("KEEP_ALIVE_TIMEOUT", "120")),
    )


if __name__ == "__main__":
    main()
