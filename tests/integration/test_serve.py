"""`mastery.serve`: a functions-framework function in one uvicorn process, as the image runs it."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from mastery.asgi import ServedFunction
from mastery.local.functions import ROOT, RunningFunction, start_function, stop_all, wait_healthy
from mastery.local.servers import free_port
from tests.integration.start_up import START_UP

pytestmark = pytest.mark.integration
PROBE = Path(__file__).parent / "served_probe" / "main.py"


@contextmanager
def serving(workers: int = 1, **env: str) -> Iterator[RunningFunction]:
    env["WORKERS"] = str(workers)
    function = start_function("probe", free_port(), env, source=PROBE)
    try:
        yield function
    finally:
        stop_all([function])


def first_answer(function: RunningFunction) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert function.process.poll() is None, "the server exited"
        try:
            return httpx.get(f"{function.url}/", timeout=5)
        except httpx.ConnectError:
            time.sleep(0.005)
    raise AssertionError("no answer in 30 s")


def test_the_function_is_prepared_before_the_port_accepts_a_request() -> None:
    with serving() as function:
        response = first_answer(function)
        assert response.status_code == 200
        assert response.json()["prepared"] is True
        assert response.json()["pid"] == function.process.pid  # one process, no master


def test_sigterm_lets_the_request_in_flight_finish_closes_the_function_then_exits(
    tmp_path: Path,
) -> None:
    started, closed = tmp_path / "started", tmp_path / "closed"
    with serving(PROBE_CLOSED=str(closed)) as function:
        wait_healthy([function])
        answers: list[httpx.Response] = []
        url = f"{function.url}/?sleep=1&started={started}"
        slow = threading.Thread(target=lambda: answers.append(httpx.get(url, timeout=30)))
        slow.start()
        deadline = time.monotonic() + 30
        while not started.exists():  # the request is in the handler before the signal
            assert time.monotonic() < deadline, "the request never reached the function"
            time.sleep(0.01)
        function.process.send_signal(signal.SIGTERM)
        slow.join()
        assert [a.status_code for a in answers] == [200]
        # uvicorn re-raises the signal once it has shut down, so the status is SIGTERM's.
        assert function.process.wait(10) == -signal.SIGTERM
    assert closed.read_text() == "0"  # closed, and only once no request was in flight


def _idle_connection_open(function: RunningFunction, idle_s: float) -> bool:
    """Whether a keep-alive connection that served a request is still open after `idle_s`."""
    host, port = function.url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request("GET", "/")
        assert connection.getresponse().read()
        time.sleep(idle_s)
        assert connection.sock is not None
        connection.sock.setblocking(False)
        try:
            return connection.sock.recv(1, socket.MSG_PEEK) != b""
        except BlockingIOError:
            return True  # nothing to read and not closed
    finally:
        connection.close()


def test_an_idle_connection_stays_open_keep_alive_timeout_seconds() -> None:
    # uvicorn's own default (5 s) made clients and proxies connect again for most requests.
    with serving() as function:
        wait_healthy([function])
        assert _idle_connection_open(function, 6.0)
    with serving(KEEP_ALIVE_TIMEOUT="1") as function:
        wait_healthy([function])
        assert _idle_connection_open(function, 0.2)
        assert not _idle_connection_open(function, 2.5)


def test_workers_runs_that_many_serving_processes() -> None:
    with serving(workers=2) as function:
        first_answer(function)
        pids = {httpx.get(f"{function.url}/", timeout=5).json()["pid"] for _ in range(40)}
        children = Path(f"/proc/{function.process.pid}/task/{function.process.pid}/children")
        assert len(children.read_text().split()) >= 2
        assert function.process.pid not in pids


# The collector's state once the function's module is loaded, then once start-up is complete,
# and how many objects start-up froze.
_COLLECTOR_DURING_START_UP = (
    START_UP
    + """
import gc, json
from mastery import serve

app = serve.app()
loaded = gc.isenabled()
start_up(app)
print(json.dumps([loaded, gc.isenabled(), gc.get_freeze_count()]))
"""
)


@pytest.mark.parametrize("prepared", [True, False])
def test_start_up_runs_without_the_cyclic_collector_then_freezes_its_heap(
    prepared: bool, tmp_path: Path
) -> None:
    source = PROBE
    if not prepared:
        source = tmp_path / "main.py"
        source.write_text(PROBE.read_text().replace("function = _Preparation()", ""))
    done = subprocess.run(
        [sys.executable, "-c", _COLLECTOR_DURING_START_UP],
        env={"PATH": "/usr/bin:/bin", "FUNCTION_TARGET": "probe", "FUNCTION_SOURCE": str(source)},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    loaded, collecting, frozen = json.loads(done.stdout.splitlines()[-1])
    # Off from loading the function until the lifespan's start-up is done (and the function
    # prepared, if it has `prepare`)...
    assert loaded is False
    # ...then on again, never scanning the start-up heap: modules, classes, functions.
    assert collecting is True
    assert frozen > 10_000


def _crash(request: Request) -> Awaitable[Response]:
    raise RuntimeError("a bug in the function")


async def test_an_exception_in_the_function_is_answered_as_functions_framework_answers_it() -> None:
    transport = httpx.ASGITransport(app=ServedFunction(_crash), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://function") as client:
        response = await client.get("/v1/anything")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert response.headers["X-Google-Status"] == "crash"


# What a fresh `mastery.serve` process holds once query's entry point is loaded and served.
_SERVED_MODULES = """
import json, sys
from mastery import serve

serve.app()
print(json.dumps(sorted(sys.modules)))
"""


def test_the_image_serves_an_entry_point_without_importing_functions_framework() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SERVED_MODULES],
        env={"PATH": "/usr/bin:/bin", "FUNCTION_TARGET": "query"}, cwd=ROOT,
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    modules = set(json.loads(done.stdout.splitlines()[-1]))
    assert "main" in modules  # functions/query/main.py was loaded
    assert not modules & {"functions_framework", "flask", "werkzeug", "jinja2"}


@pytest.mark.parametrize("flags", [[], ["--asgi"]], ids=["declared", "asgi-flag"])
def test_functions_framework_cli_serves_an_entry_point_in_asgi_mode(
    flags: list[str], redis_url: str
) -> None:
    """The contract kept: functions-framework's own CLI serves `functions/<name>/main.py`, as
    an ASGI function (from `@asgi_http`'s declaration, or `--asgi`)."""
    port = free_port()
    command = [str(Path(sys.executable).with_name("functions-framework")), *flags]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "FUNCTION_TARGET": "query", "REDIS_URL": redis_url,
             "FUNCTION_SOURCE": str(ROOT / "functions" / "query" / "main.py"),
             "JWT_SECRET": "cli-contract-secret-of-at-least-32-bytes"},
        cwd=ROOT, start_new_session=True,
    )  # fmt: skip
    function = RunningFunction("query", port, process)
    try:
        wait_healthy([function], timeout=60)
        response = httpx.get(f"{function.url}/v1/students/s-1/mastery", timeout=10)
    finally:
        stop_all([function])
    assert response.status_code == 401  # our function answered: bearer auth, problem+json
    assert response.headers["content-type"] == "application/problem+json"


# A burst of request-sized buffers freed while smaller objects allocated among them live on:
# glibc keeps the freed chunks below the live ones until the served process trims its heap.
_FREED_BURST = """
import asyncio, json, random
from mastery.asgi import ServedFunction

def resident_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))

async def handler(request):
    raise AssertionError("no request is made")

async def serve():
    messages = [{"type": "lifespan.startup"}]
    shutdown, sent = asyncio.Event(), asyncio.Queue()
    async def receive():
        if messages:
            return messages.pop(0)
        await shutdown.wait()
        return {"type": "lifespan.shutdown"}
    lifespan = asyncio.ensure_future(ServedFunction(handler, trim_seconds=0.05)(
        {"type": "lifespan"}, receive, sent.put))
    assert (await sent.get())["type"] == "lifespan.startup.complete"
    before = resident_mib()
    rng, kept, burst = random.Random(1), [], []
    for n in range(3000):
        burst.append(bytes(rng.randint(8000, 30000)))
        if n % 20 == 0:
            kept.append(bytes(rng.randint(600, 4000)))
    peak = resident_mib()
    del burst
    freed = resident_mib()
    await asyncio.sleep(0.2)
    trimmed = resident_mib()
    shutdown.set()
    assert (await sent.get())["type"] == "lifespan.shutdown.complete"
    await lifespan
    await asyncio.sleep(0)
    left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    print(json.dumps([before, peak, freed, trimmed, len(left)]))

asyncio.run(serve())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_a_served_process_returns_the_heap_a_burst_freed_and_stops_trimming_at_shutdown() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _FREED_BURST], cwd=ROOT,
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    before, peak, freed, trimmed, tasks_left = json.loads(done.stdout.splitlines()[-1])
    assert peak - before > 40  # ~56 MiB of buffers
    assert freed - before > 40  # freed, but kept by the heap
    assert trimmed - before < 10  # handed back by the next trim
    assert tasks_left == 0
