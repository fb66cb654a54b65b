"""Routes, the per-request `Call` handed to endpoints, and the path matcher built once."""

from __future__ import annotations

import re
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from re import Pattern
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from mastery.web.auth import Principal
from mastery.web.problems import ProblemError

__all__ = ["Call", "Endpoint", "Route", "RouteMatch", "Router", "path_parameters"]

M = TypeVar("M", bound=BaseModel)
Endpoint = Callable[["Call"], Awaitable[Response | BaseModel | dict[str, Any]]]
_SEQUENCE_ORIGINS = (list, tuple, set, frozenset)
# A path parameter, `{student_id}`: one path segment, without control characters (no id holds
# one: `/v1/students/a%0A` names nothing). (Our own, rather than Starlette's `compile_path`, whose
# module imports Starlette's whole routing: ~9 M instructions a start.)
_PARAMETER = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)}")


class Route(NamedTuple):
    """One method on one path template, e.g. `Route("GET", "/v1/students/{student_id}", ...)`.

    `query_params` validates the query string (422 on failure); `response_model` only documents
    the answer in OpenAPI.
    `reads_body=False` leaves the body unread: the endpoint reads `Call.request` itself, under
    its own limit (the function's `MAX_BODY_BYTES` does not apply).
    """

    method: str
    path_template: str
    endpoint: Endpoint
    summary: str = ""
    auth: bool = True
    query_params: type[BaseModel] | None = None
    response_model: type[BaseModel] | None = None
    status_code: int = 200
    tags: tuple[str, ...] = ()
    reads_body: bool = True
    problems: frozenset[int] = frozenset()
    """Problem statuses the endpoint raises itself, beyond those OpenAPI derives from the route."""


class Call(NamedTuple):
    """Everything an endpoint gets about the request it answers."""

    request: Request
    principal: Principal | None
    path_params: dict[str, str]
    query: BaseModel | None
    correlation_id: str
    body: bytes = b""

    def require_principal(self) -> Principal:
        """The caller; 401 if the route was declared with `auth=False` and nobody signed in."""
        if self.principal is None:
            raise ProblemError(401, "Unauthorized", headers={"WWW-Authenticate": "Bearer"})
        return self.principal

    def query_as(self, model: type[M]) -> M:
        """The validated query parameters, typed as the route's `query_params` model."""
        if not isinstance(self.query, model):
            raise TypeError(f"route has no query_params model {model.__name__}")
        return self.query


class RouteMatch(NamedTuple):
    """The route a request matched, with the raw path parameters."""

    route: Route
    path_params: dict[str, str]
    sequence_params: frozenset[str]


@dataclass(eq=False, repr=False)
class _Template:
    """One path template's pattern and its routes by method."""

    regex: Pattern[str]
    # method -> (route, query keys that may repeat)
    methods: dict[str, tuple[Route, frozenset[str]]] = field(default_factory=dict)


def _sequence_fields(model: type[BaseModel] | None) -> frozenset[str]:
    # Query keys that may repeat (?tag=a&tag=b) must reach pydantic as lists even when single.
    if model is None:
        return frozenset()
    return frozenset(
        info.alias or name
        for name, info in model.model_fields.items()
        if typing.get_origin(info.annotation) in _SEQUENCE_ORIGINS
    )


class Router:
    """Matches (method, path) to a route; static paths by dict lookup, templates by regex."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)
        self._static: dict[str, _Template] = {}
        self._dynamic: list[_Template] = []
        templates: dict[str, _Template] = {}
        for route in self.routes:
            template = templates.get(route.path_template)
            if template is None:
                template = templates[route.path_template] = _Template(
                    _template_regex(route.path_template)
                )
                if path_parameters(route.path_template):
                    self._dynamic.append(template)
                else:
                    self._static[route.path_template] = template
            method = route.method.upper()
            if method in template.methods:
                raise ValueError(f"duplicate route {method} {route.path_template}")
            template.methods[method] = (route, _sequence_fields(route.query_params))

    def match(self, method: str, path: str) -> RouteMatch:
        """The matching route; ProblemError 404, or 405 with `Allow`, when there is none."""
        allowed: set[str] = set()
        static = self._static.get(path)
        if static is not None:
            found = _pick(static, method, {}, allowed)
            if found is not None:
                return found
        for template in self._dynamic:
            matched = template.regex.match(path)
            if matched is not None:
                found = _pick(template, method, matched.groupdict(), allowed)
                if found is not None:
                    return found
        if allowed:
            raise ProblemError(
                405,
                "Method not allowed",
                headers={"Allow": ", ".join(sorted(allowed))},
                problem_type="method-not-allowed",
            )
        raise ProblemError(404, "Not found", problem_type="not-found")


def path_parameters(path_template: str) -> list[str]:
    """The names of the template's path parameters, in order."""
    return _PARAMETER.findall(path_template)


def _template_regex(path_template: str) -> Pattern[str]:
    # split() alternates literal text and parameter names: "/a/", "id", "/b".
    parts = _PARAMETER.split(path_template)
    if any("{" in literal or "}" in literal for literal in parts[::2]):
        raise ValueError(f"unsupported path template {path_template!r}: only {{name}} parameters")
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/\\x00-\\x1f\\x7f]+)"
        for i, part in enumerate(parts)
    )
    # \Z, not $: `$` also matches before a final newline, so "/v1/x\n" would match "/v1/x".
    return re.compile(f"^{regex}\\Z")


def _pick(
    template: _Template, method: str, params: dict[str, str], allowed: set[str]
) -> RouteMatch | None:
    entry = template.methods.get(method)
    if entry is None and method == "HEAD":
        entry = template.methods.get("GET")
    if entry is None:
        allowed.update(template.methods)
        if "GET" in template.methods:
            allowed.add("HEAD")
        return None
    return RouteMatch(entry[0], params, entry[1])
