"""Request headers we read (correlation id) and response headers we always write."""

from __future__ import annotations

import os
import re

from starlette.responses import Response

from mastery.tracing import parse_traceparent

__all__ = ["correlation_id_from", "secure"]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

# A JSON API never renders HTML, so the strictest browser policies cost nothing. The dashboard's
# pages set their own (still no inline script or style) and keep it.
_CSP = b"content-security-policy"
_DEFAULT_CSP = (_CSP, b"default-src 'none'; frame-ancestors 'none'")
_SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
)
_NO_STORE = (b"cache-control", b"no-store")


def correlation_id_from(headers: dict[bytes, bytes]) -> str:
    """`X-Request-ID` if it is short and safe, else a valid `traceparent`'s trace id, else new."""
    request_id = headers.get(b"x-request-id")
    if request_id is not None:
        candidate = request_id.decode("latin-1").strip()
        if _REQUEST_ID.fullmatch(candidate):
            return candidate
    traceparent = headers.get(b"traceparent")
    if traceparent is not None:
        parsed = parse_traceparent(traceparent.decode("latin-1"))
        if parsed is not None:
            return parsed[0]
    return os.urandom(16).hex()  # as random as a UUID4's hex, without building the UUID


def secure(response: Response, correlation_id: str, *, authenticated: bool) -> Response:
    """Add the security headers and `X-Request-ID`; authenticated answers are never cached."""
    raw = response.raw_headers
    has_cache_control = any(name == b"cache-control" for name, _ in raw)
    if authenticated and has_cache_control:
        raw[:] = [(name, value) for name, value in raw if name != b"cache-control"]
        has_cache_control = False
    raw.extend(_SECURITY_HEADERS)
    if not any(name == _CSP for name, _ in raw):
        raw.append(_DEFAULT_CSP)
    if not has_cache_control:
        raw.append(_NO_STORE)
    raw.append((b"x-request-id", correlation_id.encode("latin-1")))
    return response
