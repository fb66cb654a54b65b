"""A function for tests of `mastery.serve`: says whether it was prepared, sleeps when asked.

`?sleep=S` answers after S seconds; `&started=PATH` first creates PATH, so a test knows the
request is in flight. Closed, it writes how many requests were still in flight to the file
`PROBE_CLOSED` names.
"""

import asyncio
import os
from pathlib import Path

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class _Preparation:
    done = False
    in_flight = 0

    async def prepare(self) -> None:
        await asyncio.sleep(0.3)  # long enough that a request racing the bind would notice
        self.done = True

    async def aclose(self) -> None:
        if closed := os.environ.get("PROBE_CLOSED"):
            Path(closed).write_text(str(self.in_flight))  # noqa: ASYNC240 - a test marker


function = _Preparation()


@functions_framework.aio.http
async def probe(request: Request) -> Response:
    if started := request.query_params.get("started"):
        Path(started).touch()  # noqa: ASYNC240 - a test marker, microseconds
    function.in_flight += 1
    try:
        await asyncio.sleep(float(request.query_params.get("sleep", "0")))
    finally:
        function.in_flight -= 1
    return JSONResponse({"prepared": function.done, "pid": os.getpid()})
