"""An OpenAPI 3.1 document built from the routes and their pydantic models."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from mastery.web.problems import PROBLEM_JSON
from mastery.web.routing import Route, path_parameters

__all__ = ["OPERATIONS_TAG", "build_openapi"]

OPERATIONS_TAG = "operations"
_REF_TEMPLATE = "#/components/schemas/{model}"
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "correlation_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "type": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}
_PROBLEM_TEXT = {
    401: "Missing, invalid or expired bearer token.",
    403: "The caller may not access this resource.",
    404: "No such resource.",
    413: "Request body too large.",
    422: "Invalid path, query or body.",
    503: "A dependency is unavailable; retry after `Retry-After` seconds.",
}


def build_openapi(title: str, version: str, routes: Sequence[Route]) -> dict[str, Any]:
    """The OpenAPI 3.1 document describing `routes`."""
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for route in routes:
        for model, mode in (
            (route.query_params, "validation"),
            (route.response_model, "serialization"),
        ):
            if model is not None and (model, mode) not in wanted:
                wanted.append((model, mode))  # type: ignore[arg-type]
    refs, definitions = models_json_schema(wanted, ref_template=_REF_TEMPLATE)
    schemas: dict[str, Any] = {**definitions.get("$defs", {}), "Problem": _PROBLEM_SCHEMA}

    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation = _operation(route, refs, schemas)
        paths.setdefault(route.path_template, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _operation(route: Route, refs: dict[Any, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    names = path_parameters(route.path_template)
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in names
    ]
    if route.query_params is not None:
        parameters += _query_parameters(refs[(route.query_params, "validation")], schemas)

    success: dict[str, Any] = {"description": "Success."}
    if route.response_model is not None:
        schema = refs[(route.response_model, "serialization")]
        success["content"] = {"application/json": {"schema": schema}}
    responses: dict[str, Any] = {str(route.status_code): success}

    problems: set[int] = set(route.problems)
    if route.auth:
        problems |= {401, 403}
    if names:
        problems |= {404, 422}
    if route.query_params is not None:
        problems.add(422)
    if route.reads_body and route.method.upper() in {"POST", "PUT", "PATCH"}:
        problems |= {413, 422}
    if OPERATIONS_TAG not in route.tags:
        problems.add(503)
    for status in sorted(problems):
        responses[str(status)] = {
            "description": _PROBLEM_TEXT[status],
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}},
        }

    operation: dict[str, Any] = {
        "operationId": _operation_id(route),
        "summary": route.summary,
        "tags": list(route.tags),
        "parameters": parameters,
        "responses": responses,
    }
    if route.auth:
        operation["security"] = [{"bearerAuth": []}]
    return operation


def _query_parameters(ref: dict[str, Any], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    model_schema = schemas[ref["$ref"].rsplit("/", 1)[-1]]
    required = set(model_schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": schema}
        for name, schema in model_schema.get("properties", {}).items()
    ]


def _operation_id(route: Route) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", route.path_template).strip("_")
    return f"{route.method.lower()}_{slug or 'root'}"
