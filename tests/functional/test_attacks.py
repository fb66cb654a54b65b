"""Attacks on the real functions: tokens, IDOR, inputs, limits, error bodies.

Every route is taken from each function's own /openapi.json, so routes added later are
attacked too. The counts of attacks are printed with `-s` for the closing note.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mastery.adapters.memory import MemoryStateStore
from mastery.config import JwtSettings
from mastery.web.auth import mint_token
from tests.all_functions import (
    DAPR_TOKEN,
    HTTP_FUNCTIONS,
    NOW,
    SECRET,
    Engine,
    all_functions,
    authenticated_operations,
    bearer,
)
from tests.factories import event, raw
from tests.jwks_endpoint import Endpoint, public_jwk, serving

VICTIM, ATTACKER, CLASS, OTHER_CLASS = "victim-1", "attacker-1", "class-v", "class-x"
TOPIC = "oop.inheritance"
PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "correlation_id", "errors"}
LEAKS = re.compile(r"Traceback|Exception|Error\(|redis|pydantic|\.py\b|/work/|line \d+", re.I)
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    claims = {"sub": VICTIM, "role": "admin", "exp": now + 600, "iat": now}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _hand_signed(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    mac = b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def assert_safe_problem(response: httpx.Response, status: int) -> None:
    """The status, a problem+json body with only the documented fields, no internals."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) <= PROBLEM_KEYS
    assert body["status"] == status
    assert not LEAKS.search(response.text), response.text
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert response.headers["cache-control"] == "no-store"


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with all_functions(MemoryStateStore()) as running:
        at = NOW - timedelta(days=1)
        for document in [
            event("class.enrolled", VICTIM, None, at, class_id=CLASS),
            event("quiz.completed", VICTIM, TOPIC, at, quiz_id="q1", correct=1, total=5),
            event("class.enrolled", ATTACKER, None, at, class_id=OTHER_CLASS),
        ]:
            assert (await running.deliver(raw(document))).status_code == 200
        yield running


def concrete(path: str, student: str = VICTIM, class_id: str = CLASS) -> str:
    values = {"student_id": student, "class_id": class_id, "topic_id": TOPIC, "alert_id": "a1"}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x1"), path)


def required_query(operation: dict[str, Any]) -> dict[str, str]:
    return {
        p["name"]: VICTIM
        for p in operation.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    }


TOKEN_ATTACKS: dict[str, str] = {
    "alg-none": _hand_signed({"alg": "none", "typ": "JWT"}, _claims(), None),
    "alg-none-uppercase": _hand_signed({"alg": "NONE"}, _claims(), None),
    "expired": jwt.encode(_claims(exp=int(NOW.timestamp())), SECRET, "HS256"),
    "expired-beyond-leeway": jwt.encode(
        _claims(exp=int(datetime.now(UTC).timestamp()) - 120), SECRET, "HS256"
    ),
    "not-yet-valid": jwt.encode(
        _claims(nbf=int(datetime.now(UTC).timestamp()) + 3600), SECRET, "HS256"
    ),
    "tampered-signature": mint_token(SECRET, VICTIM, "student")[:-4] + "AAAA",
    "tampered-payload": ".".join(
        [
            mint_token(SECRET, ATTACKER, "student").split(".")[0],
            _b64(json.dumps(_claims(role="admin")).encode()),
            mint_token(SECRET, ATTACKER, "student").split(".")[2],
        ]
    ),
    "other-secret": mint_token("another-secret-that-is-long-enough!!", VICTIM, "admin"),
    "no-role": jwt.encode(_claims(role=None), SECRET, "HS256"),
    "unknown-role": jwt.encode(_claims(role="superuser"), SECRET, "HS256"),
    "role-list": jwt.encode(_claims(role=["admin"]), SECRET, "HS256"),
    "no-subject": jwt.encode(_claims(sub=None), SECRET, "HS256"),
    "no-exp": jwt.encode(_claims(exp=None), SECRET, "HS256"),
    "garbage": "not.a.jwt",
    "oversized": "a" * 9000,
}


async def test_every_token_attack_is_401_on_every_authenticated_route(engine: Engine) -> None:
    operations = await authenticated_operations(engine)
    tried = 0
    for name, method, path, operation in operations:
        url, params = concrete(path), required_query(operation)
        for label, token in [*TOKEN_ATTACKS.items(), ("missing", "")]:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = await engine.clients[name].request(
                method, url, params=params, headers=headers
            )
            assert_safe_problem(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer"), label
            tried += 1
    print(f"token attacks: {tried} requests on {len(operations)} routes")
    assert len(operations) >= 9


async def test_hmac_token_signed_with_the_rsa_public_key_is_401() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings = JwtSettings(algorithms=("RS256",), public_key=pem.decode())
    async with all_functions(MemoryStateStore(), jwt=settings) as engine:
        confused = _hand_signed({"alg": "HS256", "typ": "JWT"}, _claims(), pem)
        genuine = jwt.encode(_claims(), private, "RS256")
        for name in HTTP_FUNCTIONS:
            ops = await authenticated_operations(engine)
            for fn, method, path, operation in ops:
                if fn != name:
                    continue
                url, params = concrete(path), required_query(operation)
                bad = {"Authorization": f"Bearer {confused}"}
                response = await engine.clients[fn].request(method, url, params=params, headers=bad)
                assert_safe_problem(response, 401)
        ok = await engine.clients["gdpr"].get(
            "/v1/audit",
            params={"student_id": VICTIM},
            headers={"Authorization": f"Bearer {genuine}"},
        )
        assert ok.status_code == 200


async def test_wrong_issuer_or_audience_is_401() -> None:
    settings = JwtSettings(secret=SECRET, issuer="https://id.learnflow", audience="mastery")
    async with all_functions(MemoryStateStore(), jwt=settings) as engine:
        cases = {
            "wrong-iss": mint_token(SECRET, VICTIM, "student", issuer="https://evil", audience="mastery"),
            "wrong-aud": mint_token(SECRET, VICTIM, "student", issuer="https://id.learnflow", audience="other"),
            "no-iss": mint_token(SECRET, VICTIM, "student", audience="mastery"),
            "no-aud": mint_token(SECRET, VICTIM, "student", issuer="https://id.learnflow"),
        }  # fmt: skip
        for token in cases.values():
            response = await engine.clients["query"].get(
                f"/v1/students/{VICTIM}/mastery", headers={"Authorization": f"Bearer {token}"}
            )
            assert_safe_problem(response, 401)
        good = mint_token(
            SECRET, VICTIM, "student", issuer="https://id.learnflow", audience="mastery"
        )
        ok = await engine.clients["query"].get(
            f"/v1/students/{VICTIM}/mastery", headers={"Authorization": f"Bearer {good}"}
        )
        assert ok.status_code == 200


async def test_token_within_the_clock_leeway_is_accepted(engine: Engine) -> None:
    now = int(datetime.now(UTC).timestamp())
    token = jwt.encode(_claims(sub=VICTIM, role="student", exp=now - 10, nbf=now + 10), SECRET)
    response = await engine.clients["query"].get(
        f"/v1/students/{VICTIM}/mastery", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200


ATTACKERS = {
    "another-student": bearer(ATTACKER, "student", (CLASS,)),  # a classes claim means nothing
    "teacher-of-another-class": bearer("t-x", "teacher", (OTHER_CLASS,)),
    "teacher-without-classes": bearer("t-y", "teacher"),
}


async def test_no_route_of_any_function_lets_one_read_across_students(engine: Engine) -> None:
    """IDOR: every authenticated route, with the victim's ids, from every attacker."""
    operations = await authenticated_operations(engine)
    tried = 0
    for name, method, path, operation in operations:
        params = required_query(operation)
        for label, headers in ATTACKERS.items():
            response = await engine.clients[name].request(
                method, concrete(path), params=params, headers=headers
            )
            assert_safe_problem(response, 403)
            tried += 1
            # Ids in the query string or the body never grant anything.
            smuggled = await engine.clients[name].request(
                method,
                concrete(path, student=ATTACKER, class_id=OTHER_CLASS),
                params={**params, "student_id": VICTIM, "role": "admin", "sub": VICTIM},
                headers=headers,
                json={"role": "admin", "sub": VICTIM, "student_id": VICTIM, "classes": [CLASS]},
            )
            assert smuggled.status_code in {403, 404, 422}, (label, path, smuggled.text)
            assert VICTIM not in smuggled.text.replace(f"student_id={VICTIM}", ""), smuggled.text
            tried += 1
    print(f"IDOR attacks: {tried} requests on {len(operations)} routes")


async def test_the_victim_and_their_teacher_and_admins_still_get_in(engine: Engine) -> None:
    allowed = [bearer(VICTIM, "student"), bearer("t-v", "teacher", (CLASS,)), bearer("a", "admin")]
    for headers in allowed:
        response = await engine.clients["query"].get(
            f"/v1/students/{VICTIM}/mastery", headers=headers
        )
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("function", "url"),
    [
        ("query", "/v1/students/%2E%2E/mastery"),
        ("query", "/v1/students/" + "a" * 200 + "/mastery"),
        ("query", "/v1/students/%F0%9F%92%A5/mastery"),
        ("query", "/v1/students/-leading-dash/history"),
        ("query", f"/v1/students/{VICTIM}/history?days=0"),
        ("query", f"/v1/students/{VICTIM}/history?days=91"),
        ("query", f"/v1/students/{VICTIM}/history?days=abc"),
        ("query", f"/v1/students/{VICTIM}/history?days=1&days=2"),
        ("query", f"/v1/students/{VICTIM}/mastery?unexpected=1"),
        ("query", "/v1/classes/%3Cscript%3E/mastery"),
        ("predict", "/v1/students/bad%20id/forecast"),
        ("recommend", "/v1/students/bad$id/recommendations"),
        ("gdpr", "/v1/students/bad*id/export"),
        ("gdpr", "/v1/audit"),
        ("gdpr", "/v1/audit?student_id=bad%00id"),
        ("gdpr", f"/v1/audit?student_id={VICTIM}&since=yesterday"),
        ("gdpr", f"/v1/audit?student_id={VICTIM}&since=2026-11-01T00:00:00"),
    ],
)
async def test_invalid_ids_and_parameters_are_a_clear_422(
    engine: Engine, function: str, url: str
) -> None:
    response = await engine.clients[function].get(url, headers=bearer("admin-1", "admin"))
    assert_safe_problem(response, 422)
    assert response.json()["errors"][0]["field"]


async def test_a_malformed_topic_is_refused_without_reflecting_it(engine: Engine) -> None:
    response = await engine.clients["query"].get(
        f"/v1/students/{VICTIM}/topics/%3Cimg%20src%3Dx%3E", headers=bearer("a", "admin")
    )
    assert response.status_code in {404, 422}
    assert "<img" not in response.text.replace(response.json()["instance"], "")


async def test_oversized_bodies_are_413_except_on_the_binding_route(engine: Engine) -> None:
    big = b"x" * 70_000
    # The binding route's limit is the broker's record limit: this is dead-lettered, acked.
    ingest = await engine.clients["ingest"].post(
        "/learning-events", content=big, headers={"dapr-api-token": DAPR_TOKEN}
    )
    assert (ingest.status_code, ingest.json()) == (200, {"outcome": "dead_lettered"})
    for name, method, path, _operation in await authenticated_operations(engine):
        if method in {"POST", "DELETE"}:
            response = await engine.clients[name].request(
                method, concrete(path), content=big, headers=bearer("admin-1", "admin")
            )
            assert_safe_problem(response, 413)


async def test_a_crashing_dependency_leaks_nothing(engine: Engine) -> None:
    class Exploding(MemoryStateStore):
        async def read(self, key: str) -> Any:
            raise RuntimeError("redis://secret-host:6379 password=hunter2 at /work/x.py line 3")

        async def read_many(self, keys: Any) -> Any:
            raise RuntimeError("redis://secret-host:6379 password=hunter2")

    async with all_functions(Exploding()) as broken:
        for name, method, path, operation in await authenticated_operations(broken):
            response = await broken.clients[name].request(
                method,
                concrete(path),
                params=required_query(operation),
                headers=bearer("a", "admin"),
            )
            assert_safe_problem(response, 500)
            assert "hunter2" not in response.text


@pytest.mark.parametrize("function", ["ingest", *HTTP_FUNCTIONS])
@pytest.mark.parametrize("path", ["/healthz", "/openapi.json", "/metrics", "/nowhere"])
async def test_security_headers_on_every_answer(engine: Engine, function: str, path: str) -> None:
    response = await engine.clients[function].get(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["strict-transport-security"].startswith("max-age=")


@pytest.mark.parametrize(
    ("body", "kid", "status"),
    [(b"<html>Sign in</html>", "k1", 503), (None, "r1", 401)],
    ids=["jwks-not-json", "kid-of-another-key-type"],
)
async def test_a_broken_key_source_or_a_mismatched_kid_is_never_a_500(
    body: bytes | None, kid: str, status: int
) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys = [public_jwk(ec_key, "k1"), public_jwk(rsa_key, "r1")]
    with serving(Endpoint(keys=keys, body=body)) as endpoint:
        settings = JwtSettings(algorithms=("ES256", "RS256"), jwks_url=endpoint.url)
        async with all_functions(MemoryStateStore(), jwt=settings) as engine:
            token = jwt.encode(_claims(role="admin"), ec_key, "ES256", headers={"kid": kid})
            auth = {"Authorization": f"Bearer {token}"}
            for fn, path in [("query", f"/v1/students/{VICTIM}/mastery"), ("gdpr", "/v1/audit")]:
                response = await engine.clients[fn].get(
                    path, params={"student_id": VICTIM}, headers=auth
                )
                assert_safe_problem(response, status)
                if status == 503:
                    assert int(response.headers["retry-after"]) >= 1
