"""The signing keys an identity provider publishes as a JWKS, kept with explicit bounds.

- A key set older than `refresh_seconds` is fetched again before it is used, so a key the
  provider removed stops verifying tokens within one refresh interval (fail closed: a stale set
  is never used, even while the provider is down).
- A `kid` the set does not hold triggers a fetch at once, unless a fetch started less than
  `min_fetch_interval_seconds` ago: a storm of unknown kids costs at most one fetch per interval,
  and a key published before the previous fetch's interval ran out is seen on its first use.
- Concurrent requests share one fetch (single flight), bounded once by `timeout_seconds`.
- A failed fetch (network, status, content type, JSON, no usable key) is remembered with
  exponential backoff: until it expires, requests that need the provider answer 503 at once.
- A key serves only the algorithms its type admits (RSA: RS*/PS*, EC: the ES* of its curve,
  OKP: EdDSA) and its own `alg` if it names one; anything else is an unknown key (401).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any

import jwt

from mastery.errors import DependencyUnavailableError

__all__ = ["JwksKeys", "JwksPolicy", "KeySourceError", "UnknownKeyError"]

_logger = logging.getLogger(__name__)
_MAX_JWKS_BYTES = 1 << 20
_JSON_TYPES = frozenset({"application/json", "application/jwk-set+json"})
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_KEY_TYPE_ALGORITHMS: dict[str, frozenset[str]] = {
    "RSA": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    "EC": frozenset(_EC_CURVES),
    "OKP": frozenset({"EdDSA"}),
}


@dataclass(frozen=True)
class JwksPolicy:
    """How long keys live, how often the provider may be asked, and for how long."""

    refresh_seconds: float = 300.0
    min_fetch_interval_seconds: float = 1.0
    timeout_seconds: float = 5.0
    first_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0


class KeySourceError(DependencyUnavailableError):
    """The JWKS endpoint could not give a usable key set; retrying later may help."""


class UnknownKeyError(Exception):
    """The key set holds no key for this `kid` that fits the token's algorithm."""


def signing_key(jwk: dict[str, Any], algorithm: str) -> jwt.PyJWK:
    """`jwk` bound to `algorithm`, if its type (and curve, and `alg`) admit it."""
    kty = jwk.get("kty")
    fits = algorithm in _KEY_TYPE_ALGORITHMS.get(str(kty), frozenset())
    if kty == "EC":
        fits = fits and jwk.get("crv") == _EC_CURVES[algorithm]
    if not fits or jwk.get("alg") not in (None, algorithm):
        raise UnknownKeyError(f"key type {kty} does not admit {algorithm}")
    try:
        return jwt.PyJWK(jwk, algorithm=algorithm)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise UnknownKeyError("the key does not parse") from exc


def _download(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(  # noqa: S310 - the URL's scheme is checked to be http(s)
        url, headers={"Accept": "application/jwk-set+json, application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        content_type = response.headers.get_content_type()
        if content_type not in _JSON_TYPES:
            raise KeySourceError(f"JWKS answered {content_type}, not JSON")
        body: bytes = response.read(_MAX_JWKS_BYTES + 1)
    if len(body) > _MAX_JWKS_BYTES:
        raise KeySourceError("JWKS answer is larger than 1 MiB")
    return body


def parse_key_set(body: bytes) -> dict[str, dict[str, Any]]:
    """The usable signing keys of a JWKS document by `kid`; KeySourceError if there are none."""
    try:
        document = json.loads(body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
        raise KeySourceError("JWKS answer is not JSON") from exc
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise KeySourceError("JWKS answer has no keys list")
    usable: dict[str, dict[str, Any]] = {}
    for jwk in keys:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("kty") not in _KEY_TYPE_ALGORITHMS:
            continue  # encryption keys and shared secrets never verify our tokens
        try:
            jwt.PyJWK(jwk)
        except (jwt.PyJWTError, ValueError, TypeError):
            _logger.warning("JWKS key %r does not parse; ignored", jwk["kid"])
            continue
        usable[jwk["kid"]] = jwk
    if not usable:
        raise KeySourceError("JWKS holds no usable signing key")
    return usable


class JwksKeys:
    """The key set of one JWKS URL, fetched on demand within the bounds of a `JwksPolicy`."""

    def __init__(
        self,
        url: str,
        policy: JwksPolicy,
        *,
        clock: Callable[[], float],
        download: Callable[[str, float], bytes] = _download,
    ) -> None:
        self._url = url
        self._policy = policy
        self._clock = clock
        self._download = download
        self._keys: dict[str, dict[str, Any]] = {}
        self._bound: dict[tuple[str, str], jwt.PyJWK] = {}
        self._fetched_at = -math.inf
        self._last_attempt = -math.inf
        self._failures = 0
        self._retry_at = -math.inf
        self._inflight: asyncio.Task[None] | None = None

    @property
    def fresh_until(self) -> float:
        """When the current key set stops being used without a new fetch (clock time)."""
        return self._fetched_at + self._policy.refresh_seconds

    @property
    def _next_unknown_fetch(self) -> float:
        return self._last_attempt + self._policy.min_fetch_interval_seconds

    async def key(self, kid: str, algorithm: str) -> jwt.PyJWK:
        """The key `kid` bound to `algorithm`; UnknownKeyError (401) or KeySourceError (503)."""
        now = self._clock()
        unknown_may_fetch = kid not in self._keys and now >= self._next_unknown_fetch
        if now >= self.fresh_until or unknown_may_fetch:
            await self._refresh(now)
        jwk = self._keys.get(kid)
        if jwk is None:
            raise UnknownKeyError(f"no key {kid!r}")
        bound = self._bound.get((kid, algorithm))
        if bound is None:
            bound = self._bound[kid, algorithm] = signing_key(jwk, algorithm)
        return bound

    async def _refresh(self, now: float) -> None:
        if self._inflight is None:
            if now < self._retry_at:
                raise self._backing_off(now)
            self._last_attempt = now
            self._inflight = asyncio.create_task(self._fetch())
            self._inflight.add_done_callback(self._settle)
        # Waiters share the one fetch; a cancelled waiter must not cancel it for the others.
        await asyncio.shield(self._inflight)

    def _settle(self, task: asyncio.Task[None]) -> None:
        self._inflight = None
        if not task.cancelled() and task.exception() is None:
            return
        self._failures += 1
        backoff = self._policy.first_backoff_seconds * 2 ** (self._failures - 1)
        self._retry_at = self._clock() + min(backoff, self._policy.max_backoff_seconds)

    async def _fetch(self) -> None:
        timeout = self._policy.timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                # urllib blocks: keep it off the event loop.
                body = await asyncio.to_thread(self._download, self._url, timeout)
            keys = parse_key_set(body)
        except KeySourceError as exc:
            _logger.warning("JWKS fetch failed: %s", exc)
            raise
        except (OSError, HTTPException, ValueError, TimeoutError) as exc:
            _logger.warning("JWKS fetch failed: %s", type(exc).__name__)
            raise KeySourceError("JWKS endpoint unreachable") from exc
        self._keys, self._bound = keys, {}
        self._fetched_at = self._clock()
        self._failures, self._retry_at = 0, -math.inf

    def _backing_off(self, now: float) -> KeySourceError:
        wait = max(1, math.ceil(self._retry_at - now))
        return KeySourceError("JWKS endpoint failing; backing off", retry_after_seconds=wait)
