"""Cross-origin reads for the dashboard: an explicit allow-list of origins, nothing else.

The dashboard is served by the query function and calls predict and recommend, which answer on
other origins when each function has its own host or port. Only origins in
`CORS_ALLOWED_ORIGINS` get CORS headers; the bearer token travels in `Authorization`, never in a
cookie, so credentials are never allowed.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.responses import Response

__all__ = ["CorsPolicy"]

_ALLOW_METHODS = b"GET, HEAD, POST, DELETE"
_ALLOW_HEADERS = b"authorization, content-type, if-none-match, x-request-id"
_EXPOSE_HEADERS = b"etag, x-request-id, retry-after"
_MAX_AGE = b"600"


class CorsPolicy:
    """Which origins may call this function from a browser."""

    def __init__(self, allowed_origins: Iterable[str]) -> None:
        self._allowed = frozenset(origin.encode("latin-1") for origin in allowed_origins)

    def preflight(self, method: str, headers: dict[bytes, bytes]) -> Response | None:
        """The answer to an allowed origin's preflight, or None (route the request as usual).

        `allow` then adds the origin itself, as to every answer.
        """
        origin = headers.get(b"origin")
        if method != "OPTIONS" or origin not in self._allowed:
            return None
        if b"access-control-request-method" not in headers:
            return None
        response = Response(status_code=204)
        response.raw_headers.extend(
            [
                (b"access-control-allow-methods", _ALLOW_METHODS),
                (b"access-control-allow-headers", _ALLOW_HEADERS),
                (b"access-control-max-age", _MAX_AGE),
            ]
        )
        return response

    def allow(self, response: Response, headers: dict[bytes, bytes]) -> None:
        """Let an allowed origin read `response` (and its ETag); others get no CORS headers."""
        if not self._allowed:
            return
        response.raw_headers.append((b"vary", b"Origin"))
        origin = headers.get(b"origin")
        if origin in self._allowed:
            response.raw_headers.extend(
                [
                    (b"access-control-allow-origin", origin),
                    (b"access-control-expose-headers", _EXPOSE_HEADERS),
                ]
            )
