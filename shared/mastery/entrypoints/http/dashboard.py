"""The mastery dashboard's files, served by the query function: one page, one script, one sheet.

No build step and no data of its own: the page signs in with a bearer token and reads the same
public API as any client (query on its own origin; predict and recommend where
`DASHBOARD_PREDICT_URL` / `DASHBOARD_RECOMMEND_URL` say, allowed by their `CORS_ALLOWED_ORIGINS`).
The routes need no token because the files hold none; the page's policy allows scripts and
styles from this origin only (no inline script or style) and connections to the API origins.
"""

from __future__ import annotations

import hashlib
import html
from importlib import resources
from typing import NamedTuple

from starlette.responses import Response

from mastery.config import Settings
from mastery.web.conditional import conditional_response
from mastery.web.routing import Call, Route

__all__ = ["dashboard_routes"]

PREFIX = "/dashboard/"
_FILES = {
    "": ("index.html", "text/html; charset=utf-8"),
    "dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
    "icon.svg": ("icon.svg", "image/svg+xml"),
}


class _File(NamedTuple):
    """One of the dashboard's files, as served."""

    body: bytes
    media_type: str
    etag: str


def page_policy(settings: Settings) -> str:
    """The Content-Security-Policy of the dashboard's files."""
    api = " ".join(
        url for url in (settings.dashboard_predict_url, settings.dashboard_recommend_url) if url
    )
    connect = f"'self' {api}".strip()
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _load(settings: Settings) -> dict[str, _File]:
    folder = resources.files("mastery.entrypoints.http").joinpath("static")
    files = {}
    for path, (name, media_type) in _FILES.items():
        text = folder.joinpath(name).read_text(encoding="utf-8")
        if name == "index.html":
            predict = html.escape(settings.dashboard_predict_url)
            recommend = html.escape(settings.dashboard_recommend_url)
            text = text.replace("{{predict}}", predict).replace("{{recommend}}", recommend)
        body = text.encode()
        etag = f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'
        files[path] = _File(body, media_type, etag)
    return files


def dashboard_routes(settings: Settings) -> list[Route]:
    """`GET /dashboard/` and its script, style sheet and icon (read once, here)."""
    files = _load(settings)
    policy = page_policy(settings)

    def serve(path: str) -> Route:
        file = files[path]

        async def endpoint(call: Call) -> Response:
            response = conditional_response(call.request, file.etag, file.body, file.media_type)
            response.headers["Content-Security-Policy"] = policy
            # Revalidate every time (ETag → 304): a new release is never served stale.
            response.headers["Cache-Control"] = "no-cache"
            return response

        summary = "The mastery dashboard" if not path else f"Dashboard file {path}"
        return Route("GET", PREFIX + path, endpoint, summary=summary, auth=False,
                     tags=("dashboard",))  # fmt: skip

    async def redirect(call: Call) -> Response:
        return Response(status_code=308, headers={"Location": PREFIX})

    return [
        Route("GET", PREFIX.rstrip("/"), redirect, summary="Redirect to the dashboard",
              auth=False, status_code=308, tags=("dashboard",)),
        *(serve(path) for path in _FILES),
    ]  # fmt: skip
