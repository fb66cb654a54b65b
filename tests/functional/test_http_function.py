"""HttpFunction behind functions-framework's real ASGI app: errors, limits, auth, operations."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, Field
from starlette.responses import Response

from mastery.config import ConfigError, JwtSettings, Settings
from mastery.errors import (
    ConflictError,
    ForbiddenError,
    MasteryError,
    NotFoundError,
    PoisonEventError,
    StateUnavailableError,
)
from mastery.observability import configure_logging
from mastery.web import Call, HttpFunction, JwtVerifier, LazyFunction, Route, mint_token
from tests.asgi import asgi_app

SECRET = "functional-test-secret-of-32-bytes-or-more"
MAX_BODY = 1024


class HistoryQuery(BaseModel):
    days: int = Field(30, ge=1, le=90)
    topics: list[str] = []


class StudentView(BaseModel):
    student_id: str
    days: int
    topics: list[str]
    caller: str


@dataclass
class FakeDependencies:
    """What /readyz reports, switchable by a test."""

    checks: dict[str, bool] = field(default_factory=lambda: {"redis": True})

    async def readiness(self) -> dict[str, bool]:
        return dict(self.checks)


async def student(call: Call) -> StudentView:
    query = call.query_as(HistoryQuery)
    return StudentView(
        student_id=call.path_params["student_id"],
        days=query.days,
        topics=query.topics,
        caller=call.require_principal().subject,
    )


async def add_note(call: Call) -> dict[str, Any]:
    return {"bytes": len(call.body), "by": call.require_principal().role}


async def raw_size(call: Call) -> dict[str, Any]:
    return {"bytes": len(call.body), "again": len(await call.request.body())}


async def boom(call: Call) -> Response:
    raise RuntimeError("connection string redis://admin:hunter2@10.0.0.7 exploded")


async def down(call: Call) -> Response:
    raise StateUnavailableError("redis at 10.0.0.7:6379 refused the connection")


RAISED: dict[str, MasteryError] = {
    "conflict": ConflictError("etag 7 != 8"),
    "forbidden": ForbiddenError("stu-2 is not in class c-9"),
    "missing": NotFoundError("no record student:{stu-2}"),
    "poison": PoisonEventError("occurred_at is naive"),
}


async def raise_kind(call: Call) -> Response:
    raise RAISED[call.path_params["kind"]]


async def cached(call: Call) -> Response:
    return Response(b"{}", media_type="application/json", headers={"Cache-Control": "max-age=60"})


def toy_routes() -> list[Route]:
    return [
        Route(
            "GET",
            "/v1/students/{student_id}",
            student,
            summary="A student",
            query_params=HistoryQuery,
            response_model=StudentView,
            tags=("students",),
        ),
        Route("POST", "/v1/notes", add_note, summary="Add a note"),
        Route("POST", "/v1/raw", raw_size, summary="Raw body size", auth=False),
        Route("GET", "/v1/boom", boom, summary="Always fails", auth=False),
        Route("GET", "/v1/down", down, summary="State store down", auth=False),
        Route("GET", "/v1/raise/{kind}", raise_kind, summary="Raise a MasteryError", auth=False),
        Route("GET", "/v1/cached", cached, summary="Sets its own Cache-Control"),
        Route("GET", "/v1/public-cached", cached, summary="Cacheable", auth=False),
    ]


@pytest.fixture
def dependencies() -> FakeDependencies:
    return FakeDependencies()


@pytest.fixture
def toy_function(dependencies: FakeDependencies) -> HttpFunction:
    settings = Settings(function="toy", max_body_bytes=MAX_BODY, jwt=JwtSettings(secret=SECRET))
    return HttpFunction(
        "toy",
        toy_routes(),
        settings=settings,
        readiness=dependencies.readiness,
        verifier=JwtVerifier(settings.jwt),
    )


@pytest.fixture
async def client(toy_function: HttpFunction) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=asgi_app(toy_function))
    async with httpx.AsyncClient(transport=transport, base_url="http://toy") as client:
        yield client


@pytest.fixture
def student_token() -> str:
    token: str = mint_token(SECRET, "stu-1", "student")
    return token


@pytest.fixture
def teacher_token() -> str:
    token: str = mint_token(SECRET, "t-1", "teacher", classes=["c-1"])
    return token


PROBLEM_JSON = "application/problem+json"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["type"]
    assert body["instance"] == response.request.url.path
    assert body["correlation_id"] == response.headers["x-request-id"]
    return dict(body)


async def test_authenticated_route_answers_the_validated_model(
    client: httpx.AsyncClient, student_token: str
) -> None:
    response = await client.get(
        "/v1/students/stu-1?days=7&topics=basics.variables", headers=_bearer(student_token)
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "student_id": "stu-1",
        "days": 7,
        "topics": ["basics.variables"],
        "caller": "stu-1",
    }


async def test_missing_token_is_a_401_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/students/stu-1")
    _assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_bad_token_is_a_401_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/students/stu-1", headers=_bearer("not.a.token"))
    _assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_unknown_path_is_a_404_problem(client: httpx.AsyncClient) -> None:
    _assert_problem(await client.get("/v1/nowhere"), 404)
    _assert_problem(await client.get("/v1/students/stu-1/extra"), 404)


async def test_wrong_method_is_a_405_problem_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/v1/students/stu-1")
    _assert_problem(response, 405)
    assert response.headers["allow"] == "GET, HEAD"


async def test_head_is_answered_like_get(client: httpx.AsyncClient) -> None:
    response = await client.head("/healthz")
    assert response.status_code == 200


async def test_declared_large_body_is_a_413_before_auth(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/notes", content=b"x" * (MAX_BODY + 1))
    _assert_problem(response, 413)


async def test_streamed_large_body_is_a_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"y" * 200

    response = await client.post("/v1/raw", content=chunks())
    assert "content-length" not in response.request.headers
    _assert_problem(response, 413)


async def test_body_within_the_limit_reaches_the_endpoint(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"y" * 200

    response = await client.post("/v1/raw", content=chunks())
    assert response.json() == {"bytes": 800, "again": 800}


async def test_bad_query_params_are_a_422_naming_the_field(
    client: httpx.AsyncClient, student_token: str
) -> None:
    for query in ("days=abc", "days=1000", "days=0"):
        response = await client.get(f"/v1/students/stu-1?{query}", headers=_bearer(student_token))
        body = _assert_problem(response, 422)
        errors = body["errors"]
        assert isinstance(errors, list)
        assert [error["field"] for error in errors] == ["query.days"]
        assert "input" not in json.dumps(errors)


async def test_unexpected_error_is_a_500_problem_without_its_text(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await client.get("/v1/boom")
    body = _assert_problem(response, 500)
    assert body["title"] == "Internal server error"
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert any(record.exc_info for record in caplog.records if "hunter2" in str(record.exc_info))


async def test_state_store_outage_is_a_503_with_retry_after(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/down")
    _assert_problem(response, 503)
    assert response.headers["retry-after"] == "1"
    assert "10.0.0.7" not in response.text


async def test_correlation_id_comes_from_x_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "req-42.abc"})
    assert response.headers["x-request-id"] == "req-42.abc"


async def test_correlation_id_comes_from_traceparent(client: httpx.AsyncClient) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
    response = await client.get("/v1/nowhere", headers={"traceparent": traceparent})
    assert response.headers["x-request-id"] == trace_id
    assert response.json()["correlation_id"] == trace_id


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Request-ID": "has spaces <script>"},
        {"X-Request-ID": "x" * 65},
        {"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"},
        {"traceparent": "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
        {"traceparent": "garbage"},
    ],
)
async def test_unsafe_or_invalid_ids_are_replaced(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/healthz", headers=headers)
    correlation_id = response.headers["x-request-id"]
    assert len(correlation_id) == 32
    assert int(correlation_id, 16) != 0


async def test_metrics_with_a_token_answer_only_the_scraper(
    dependencies: FakeDependencies,
) -> None:
    settings = Settings(function="toy", jwt=JwtSettings(secret=SECRET), metrics_token="scrape-me")
    function = HttpFunction("toy", toy_routes(), settings=settings,
                            readiness=dependencies.readiness, verifier=JwtVerifier(settings.jwt))  # fmt: skip
    transport = httpx.ASGITransport(app=asgi_app(function))
    async with httpx.AsyncClient(transport=transport, base_url="http://toy") as client:
        anonymous = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer scrape-you"})
        scraper = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert anonymous.status_code == wrong.status_code == 404
    assert anonymous.json()["type"].endswith("not-found")
    assert scraper.status_code == 200
    assert "http_requests_total" in scraper.text


async def test_metrics_label_requests_with_the_route_template(
    client: httpx.AsyncClient, student_token: str
) -> None:
    await client.get("/v1/students/stu-metrics-1", headers=_bearer(student_token))
    text = (await client.get("/metrics")).text
    assert 'route="/v1/students/{student_id}"' in text
    assert "stu-metrics-1" not in text
    assert "http_request_duration_seconds_bucket" in text
    assert "events_total" in text


async def test_openapi_lists_the_routes(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    student = document["paths"]["/v1/students/{student_id}"]["get"]
    parameters = {(p["in"], p["name"]) for p in student["parameters"]}
    assert parameters == {("path", "student_id"), ("query", "days"), ("query", "topics")}
    assert student["security"] == [{"bearerAuth": []}]
    assert {"200", "401", "403", "404", "422", "503"} <= set(student["responses"])
    assert student["responses"]["401"]["content"]["application/problem+json"]
    notes = document["paths"]["/v1/notes"]["post"]
    assert "413" in notes["responses"]
    assert "security" not in document["paths"]["/healthz"]["get"]
    assert {"/readyz", "/metrics", "/openapi.json"} <= set(document["paths"])
    assert "StudentView" in document["components"]["schemas"]


@pytest.mark.parametrize("path", ["/healthz", "/v1/nowhere", "/v1/boom", "/metrics"])
async def test_security_headers_on_every_response(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert response.headers["cache-control"] == "no-store"


async def test_readyz_reports_each_dependency(
    client: httpx.AsyncClient, dependencies: FakeDependencies
) -> None:
    ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"ready": True, "checks": {"redis": True}})
    dependencies.checks["redis"] = False
    down = await client.get("/readyz")
    assert (down.status_code, down.json()) == (503, {"ready": False, "checks": {"redis": False}})


async def test_healthz_is_cheap_and_public(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.fixture
def json_logs() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_access_log_is_one_json_line_with_the_correlation_id(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], json_logs: None
) -> None:
    configure_logging("toy", "INFO")
    configure_logging("toy", "INFO")  # idempotent: still one line per record
    await client.get("/v1/students/stu-9", headers={"X-Request-ID": "log-test-1"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    access = [line for line in lines if line["logger"] == "mastery.access"]
    assert len(access) == 1
    entry = access[0]
    assert entry["correlation_id"] == "log-test-1"
    assert entry["route"] == "/v1/students/{student_id}"
    assert (entry["service"], entry["function"], entry["status"]) == ("toy", "toy", 401)
    assert entry["duration_ms"] >= 0
    assert "stu-9" not in json.dumps(entry)


async def test_lazy_function_retries_a_failed_build(toy_function: HttpFunction) -> None:
    attempts: list[int] = []

    async def factory() -> HttpFunction:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("redis down at start")
        return toy_function

    transport = httpx.ASGITransport(app=asgi_app(LazyFunction(factory)))
    async with httpx.AsyncClient(transport=transport, base_url="http://toy") as lazy:
        first = await lazy.get("/healthz")
        _assert_problem(first, 503)
        assert "redis" not in first.text
        assert (await lazy.get("/healthz")).status_code == 200
        assert (await lazy.get("/healthz")).status_code == 200
    assert len(attempts) == 2


def test_authenticated_routes_need_a_verifier(dependencies: FakeDependencies) -> None:
    route = Route("POST", "/v1/raw", raw_size, summary="needs auth")
    with pytest.raises(ConfigError):
        HttpFunction(
            "toy", [route], settings=Settings(), readiness=dependencies.readiness, verifier=None
        )


@pytest.mark.parametrize("template", ["/v1/students/{student_id:int}", "/v1/{student_id"])
def test_a_path_template_with_anything_but_name_parameters_is_refused(
    dependencies: FakeDependencies, template: str
) -> None:
    route = Route("GET", template, raw_size, auth=False)
    with pytest.raises(ValueError, match="unsupported path template"):
        HttpFunction("toy", [route], settings=Settings(), readiness=dependencies.readiness,
                     verifier=None)  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "status"), [("conflict", 409), ("forbidden", 403), ("missing", 404), ("poison", 422)]
)
async def test_engine_errors_map_to_their_status_without_their_text(
    client: httpx.AsyncClient, kind: str, status: int
) -> None:
    response = await client.get(f"/v1/raise/{kind}")
    _assert_problem(response, status)
    assert str(RAISED[kind]) not in response.text


async def test_authenticated_answers_are_never_cacheable(
    client: httpx.AsyncClient, student_token: str
) -> None:
    private = await client.get("/v1/cached", headers=_bearer(student_token))
    assert private.headers.get_list("cache-control") == ["no-store"]
    public = await client.get("/v1/public-cached")
    assert public.headers.get_list("cache-control") == ["max-age=60"]


async def test_failing_readiness_check_is_not_ready(
    client: httpx.AsyncClient, dependencies: FakeDependencies
) -> None:
    dependencies.checks = None  # type: ignore[assignment]
    response = await client.get("/readyz")
    assert (response.status_code, response.json()) == (503, {"ready": False, "checks": {}})
