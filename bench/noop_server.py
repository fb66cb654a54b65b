"""An HTTP/1.1 server that answers every request with the same 2-byte body and does nothing else.

The load client's own ceiling is measured against it (`bench.loadgen.ceiling`): a server far
cheaper than any function, so the client is the bottleneck. Run: python bench/noop_server.py PORT
"""

from __future__ import annotations

import asyncio
import sys

_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class _NoOp(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        # One answer per complete request head (wrk sends GETs without bodies, pipelined or not).
        self._buffer += data
        requests = self._buffer.count(b"\r\n\r\n")
        if requests:
            self._buffer = self._buffer.rsplit(b"\r\n\r\n", 1)[1]
            self._transport.write(_ANSWER * requests)


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_NoOp, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1])))
