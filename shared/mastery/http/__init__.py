"""The HTTP layer every function shares: routes, bearer auth, problem details, operations."""

from mastery.http.auth import JwtVerifier, Principal, Role, mint_token
from mastery.http.function import HttpFunction, Readiness
from mastery.http.lazy import LazyFunction
from mastery.http.problems import ProblemError, problem_for, problem_response, validation_problem
from mastery.http.routing import Call, Endpoint, Route

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
    "mint_token",
    "problem_for",
    "problem_response",
    "validation_problem",
]
