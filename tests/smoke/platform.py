"""What the cluster around a pod provides, for the smoke tier: the identity provider's JWKS, the
Dapr sidecar, the production Secrets that DEPLOY.md tells the operator to create, and tokens.

The sidecar is tests/contract/fake_daprd.py (the real Dapr gRPC service definition over the
test Redis), since daprd cannot run here; it answers the health endpoint DaprClient() polls.
"""

from __future__ import annotations

import json
import re
import shlex
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.contract.fake_daprd import FakeDaprd, running
from tests.smoke.image import ROOT

DEPLOY_GUIDE = ROOT / "docs" / "DEPLOY.md"
_KID = "smoke-test-key"


def documented_secrets() -> dict[str, dict[str, str]]:
    """Secret name -> key -> value, from the `kubectl create secret generic` steps of DEPLOY.md.

    Literal values are kept as written (placeholders); files named by `--from-file` are not
    read (they are the operator's), their keys get a placeholder. Addresses are replaced later.
    """
    text = DEPLOY_GUIDE.read_text(encoding="utf-8").replace("\\\n", " ")
    secrets: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        if "create secret generic" not in line:
            continue
        words = shlex.split(line.strip(), comments=True)
        name = words[words.index("generic") + 1]
        data = secrets.setdefault(name, {})
        for word in words:
            literal = re.fullmatch(r"--from-literal=([^=]+)=(.*)", word, re.S)
            file = re.fullmatch(r"--from-file=([^=]+)=(.*)", word)
            if literal:
                data[literal.group(1)] = literal.group(2)
            elif file:
                data[file.group(1)] = f"(contents of {file.group(2)})"
    return secrets


class Jwks:
    """An identity provider's JWKS endpoint with one RSA key, and tokens signed by it."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        body = json.dumps({"keys": [{**jwk, "kid": _KID, "alg": "RS256", "use": "sig"}]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def token(self, subject: str, role: str, env: Mapping[str, str]) -> str:
        """A token the function configured by `env` accepts."""
        now = int(time.time())
        claims: dict[str, object] = {"sub": subject, "role": role, "iat": now, "exp": now + 600}
        if env.get("JWT_ISSUER"):
            claims["iss"] = env["JWT_ISSUER"]
        if env.get("JWT_AUDIENCE"):
            claims["aud"] = env["JWT_AUDIENCE"]
        if env.get("JWT_JWKS_URL"):
            return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": _KID})
        return jwt.encode(claims, env["JWT_SECRET"], algorithm="HS256")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def jwks() -> Iterator[Jwks]:
    provider = Jwks()
    try:
        yield provider
    finally:
        provider.close()


@dataclass
class Sidecar:
    daprd: FakeDaprd
    env: dict[str, str]
    """What the sidecar injector adds to the app container: where daprd listens."""


@asynccontextmanager
async def sidecar(redis_url: str) -> AsyncIterator[Sidecar]:
    """A fake daprd on free ports, serving from this event loop."""
    async with running(redis_url) as daprd:
        env = {"DAPR_HTTP_PORT": str(daprd.http_port), "DAPR_GRPC_PORT": str(daprd.grpc_port)}
        yield Sidecar(daprd.daprd, env)
