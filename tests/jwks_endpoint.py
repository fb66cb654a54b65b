"""A real JWKS endpoint on loopback whose answers a test controls, and JWKs of any key."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa


@dataclass
class Endpoint:
    """What the JWKS endpoint answers, and how often it was asked."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    content_type: str = "application/json"
    body: bytes | None = None
    delay: float = 0.0
    fetches: int = 0
    url: str = ""

    def document(self) -> bytes:
        return self.body if self.body is not None else json.dumps({"keys": self.keys}).encode()


def public_jwk(private_key: Any, kid: str, **extra: str) -> dict[str, Any]:
    public = private_key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        text = jwt.algorithms.RSAAlgorithm.to_jwk(public)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        text = jwt.algorithms.ECAlgorithm.to_jwk(public)
    else:
        text = jwt.algorithms.OKPAlgorithm.to_jwk(public)
    return {**json.loads(text), "kid": kid, "use": "sig", **extra}


@contextmanager
def serving(state: Endpoint) -> Iterator[Endpoint]:
    """Serve `state` as a JWKS endpoint until the block ends; `state.url` is its address."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.fetches += 1
            time.sleep(state.delay)
            body = state.document()
            self.send_response(state.status)
            self.send_header("Content-Type", state.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
