"""Conditional GETs (RFC 9110 §13.1.2): an answer with an `ETag`, or `304 Not Modified`.

A dashboard polling every few seconds sends the ETag it holds in `If-None-Match`; while the
record behind the answer is unchanged it gets 304 with no body instead of the whole answer.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["conditional_response", "none_match"]


def none_match(if_none_match: str | None, etag: str) -> bool:
    """Whether `If-None-Match` lets the answer through (weak comparison, `*` matches any)."""
    if if_none_match is None:
        return True
    wanted = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == wanted:
            return False
    return True


def conditional_response(
    request: Request, etag: str, body: bytes, media_type: str = "application/json"
) -> Response:
    """`body` with its `ETag`, or 304 (same ETag, no body) when the caller already holds it."""
    headers = {"ETag": etag}
    if not none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)
