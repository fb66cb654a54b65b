"""Request headers we read (correlation id) and response headers we always write."""

from __future__ import annotations

import re
import uuid

from starlette.responses import Response

__all__ = ["correlation_id_from", "secure"]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE = "0" * 32
_ZERO_PARENT = "0" * 16

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
        trace_id = _trace_id(traceparent.decode("latin-1").strip())
        if trace_id is not None:
            return trace_id
    return uuid.uuid4().hex


def _trace_id(value: str) -> str | None:
    # W3C Trace Context §3.2: version ff and all-zero ids are invalid; version 00 has no tail.
    matched = _TRACEPARENT.match(value)
    if matched is None:
        return None
    version, trace_id, parent_id, _ = matched.groups()
    tail = value[matched.end() :]
    if version == "ff" or (version == "00" and tail) or (tail and not tail.startswith("-")):
        return None
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_PARENT:
        return None
    return trace_id


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
