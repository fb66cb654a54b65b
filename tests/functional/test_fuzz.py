"""Every HTTP function fuzzed from its own /openapi.json (schemathesis): never a 5xx, and every
answer conforms to that document (status, content type, headers, body schema).

Valid and invalid inputs (positive and negative generation), each sent with an admin token, a
student token, a forged token and none (ingest: with and without the dapr-api-token). Bounded
by MAX_EXAMPLES per operation and mode so the whole run stays well under a minute; the number
of requests is printed with `-s`.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.config import JwtSettings, Settings
from mastery.entrypoints.core import Core
from mastery.entrypoints.http import gdpr, ingest, predict, query, recommend
from mastery.web.function import HttpFunction
from tests.all_functions import DAPR_TOKEN, NOW, SECRET, bearer
from tests.asgi import asgi_app

MAX_EXAMPLES = 25
# Never a 5xx, and every answer as the function's own OpenAPI declares it: a documented status,
# its content type, its headers and a body that matches the schema.
CONFORMANCE = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)
IDENTITIES: list[dict[str, str]] = [
    bearer("admin-1", "admin"),
    bearer("stu-1", "student"),
    {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},
    {},
]
INGEST_IDENTITIES: list[dict[str, str]] = [{"dapr-api-token": DAPR_TOKEN}, {}]


async def _build(name: str) -> HttpFunction:
    core = Core(
        settings=Settings(jwt=JwtSettings(secret=SECRET), app_api_token=DAPR_TOKEN),
        store=MemoryStateStore(),
        dead_letters=MemorySink(),
        alerts=MemorySink(),
        clock=lambda: NOW,
    )
    module = {"ingest": ingest, "query": query, "predict": predict, "recommend": recommend,
              "gdpr": gdpr}[name]  # fmt: skip
    return await module.create(core)


@pytest.mark.parametrize("name", ["ingest", "query", "predict", "recommend", "gdpr"])
def test_fuzzing_the_openapi_of_each_function_finds_no_5xx_and_conforming_answers(
    name: str,
) -> None:
    app = asgi_app(asyncio.run(_build(name)))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    identities = INGEST_IDENTITIES if name == "ingest" else IDENTITIES
    sent: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in GenerationMode:

            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case: Any) -> None:
                for headers in identities:
                    response = case.call(headers=headers)
                    sent.append(response.status_code)
                    if "\n" in unquote(case.formatted_path):
                        # A path with a newline names nothing: Starlette's own route (`.*`)
                        # answers a plain-text 404 for one inside it, and our router
                        # (`mastery.web.routing`) a problem 404 for one at the end.
                        assert response.status_code == 404
                        continue
                    case.validate_response(response, checks=CONFORMANCE)

            try:
                fuzz()
            except Unsatisfiable:
                # Nothing to make invalid (no parameters, no body): the positive run covers it.
                assert mode is GenerationMode.NEGATIVE
    print(f"fuzzed {name}: {len(sent)} requests on {len(operations)} operations")
    assert len(sent) >= len(operations) * len(identities)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_EVENTISH = st.fixed_dictionaries(
    {
        "id": st.text(max_size=12),
        "type": st.sampled_from(["quiz.completed", "code.executed", "class.enrolled", "x"]),
        "student_id": st.text(max_size=12),
        "occurred_at": st.datetimes(timezones=st.none() | st.just(UTC)).map(datetime.isoformat),
        "data": st.dictionaries(
            st.sampled_from(["quiz_id", "correct", "total", "ok", "class_id"]), _JSON
        ),
    },
    optional={"topic": st.sampled_from(["oop.inheritance", "nope", ""])},
)


def test_fuzzing_the_ingest_binding_body_finds_no_5xx() -> None:
    """The binding's body has no schema in OpenAPI (it is the raw Kafka value): fuzz it here."""
    client = TestClient(asgi_app(asyncio.run(_build("ingest"))))
    sent: list[int] = []
    headers = {"dapr-api-token": DAPR_TOKEN, "content-type": "application/json"}

    @settings(max_examples=200, deadline=None, database=None)
    @given(body=st.binary(max_size=200) | _JSON.map(json.dumps).map(str.encode)
           | _EVENTISH.map(json.dumps).map(str.encode))  # fmt: skip
    def fuzz(body: bytes) -> None:
        response = client.post("/learning-events", content=body, headers=headers)
        sent.append(response.status_code)
        assert response.status_code == 200, response.text  # poison is dead-lettered and acked

    fuzz()
    print(f"fuzzed ingest bodies: {len(sent)} requests")
