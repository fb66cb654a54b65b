"""The HTTP layer every function shares: routes, bearer auth, problem details, operations."""

from mastery.web.auth import JwtVerifier, Principal, Role, mint_token
from mastery.web.declare import asgi_http
from mastery.web.function import HttpFunction, Readiness
from mastery.web.lazy import LazyFunction
from mastery.web.problems import ProblemError, problem_for, problem_response, validation_problem
from mastery.web.routing import Call, Endpoint, Route

__all__ = [
    "Call",
    "Endpoint",
    "HttpFunction",
    "JwtVerifier",
    "LazyFunction",
    "Principal",
    "ProblemError",
    "Readiness",
    "Role",
    "Route",
    "asgi_http",
    "mint_token",
    "problem_for",
    "problem_response",
    "validation_problem",
]
