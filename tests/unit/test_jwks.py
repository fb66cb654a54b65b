"""JWKS key sources against a real local JWKS endpoint: broken answers, mixed key types, rotation,
outages and storms. Time moves by an injected clock; the endpoint is a real HTTP server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from mastery.config import JwtSettings
from mastery.web.auth import JwtVerifier
from mastery.web.jwks import KeySourceError
from mastery.web.problems import problem_for
from tests.jwks_endpoint import Endpoint, public_jwk, serving

REFRESH = 300.0


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture
def endpoint(
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
    ed_key: ed25519.Ed25519PrivateKey,
) -> Iterator[Endpoint]:
    """A loopback JWKS endpoint publishing an RSA `r1`, an EC `k1` and an Ed25519 `ed1`."""
    keys = [
        public_jwk(rsa_key, "r1"),
        public_jwk(ec_key, "k1"),
        public_jwk(ed_key, "ed1"),
    ]
    with serving(Endpoint(keys=keys)) as state:
        yield state


def _verifier(endpoint: Endpoint, clock: Clock, **settings: Any) -> JwtVerifier:
    options: dict[str, Any] = {
        "algorithms": ("ES256", "ES384", "RS256", "PS256", "EdDSA"),
        "jwks_url": endpoint.url,
        "jwks_refresh_seconds": REFRESH,
        **settings,
    }
    return JwtVerifier(JwtSettings(**options), clock=clock)


def _token(key: Any, algorithm: str, kid: str, sub: str = "stu-1") -> str:
    now = datetime.now(UTC)
    claims = {"sub": sub, "role": "student", "iat": now, "exp": now + timedelta(hours=1)}
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


async def _status(verifier: JwtVerifier, token: str) -> int:
    try:
        await verifier.verify(token)
    except Exception as exc:
        return problem_for(exc).status
    return 200


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html", b"<html><body>Sign in</body></html>"),
        ("application/json", b"<html><body>Sign in</body></html>"),
        ("application/json", b"\xff\xfe\x00binary\x80"),
        ("application/json", b'{"keys": [{"kty": "EC", "kid": "k1"'),
        ("application/json", b'{"keys": "none"}'),
        ("application/json", b'{"keys": [{"kty": "EC", "kid": "k1", "crv": "P-256", "x": "!"}]}'),
    ],
    ids=["html", "html-as-json", "binary", "truncated", "no-list", "unparseable-key"],
)
async def test_a_key_source_answering_garbage_is_a_503_with_retry_after(
    endpoint: Endpoint, ec_key: ec.EllipticCurvePrivateKey, content_type: str, body: bytes
) -> None:
    endpoint.content_type, endpoint.body = content_type, body
    with pytest.raises(KeySourceError) as caught:
        await _verifier(endpoint, Clock()).verify(_token(ec_key, "ES256", "k1"))
    problem = problem_for(caught.value)
    assert problem.status == 503
    assert int(problem.headers["Retry-After"]) >= 1


async def test_a_key_source_answering_an_error_status_is_a_503(
    endpoint: Endpoint, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    endpoint.status = 500
    assert await _status(_verifier(endpoint, Clock()), _token(ec_key, "ES256", "k1")) == 503


@pytest.mark.parametrize(
    ("algorithm", "kid"),
    [("ES256", "r1"), ("ES256", "ed1"), ("RS256", "k1"), ("EdDSA", "k1"), ("ES384", "k1")],
    ids=["ec-alg-rsa-key", "ec-alg-okp-key", "rsa-alg-ec-key", "eddsa-alg-ec-key", "wrong-curve"],
)
async def test_a_kid_naming_a_key_of_another_type_is_a_401(
    endpoint: Endpoint, algorithm: str, kid: str
) -> None:
    signer: Any = {
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "ES384": ec.generate_private_key(ec.SECP384R1()),
        "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "EdDSA": ed25519.Ed25519PrivateKey.generate(),
    }[algorithm]
    assert await _status(_verifier(endpoint, Clock()), _token(signer, algorithm, kid)) == 401


async def test_each_key_verifies_the_algorithms_its_type_admits(
    endpoint: Endpoint,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
    ed_key: ed25519.Ed25519PrivateKey,
) -> None:
    verifier = _verifier(endpoint, Clock())
    for key, algorithm, kid in [
        (ec_key, "ES256", "k1"),
        (rsa_key, "RS256", "r1"),
        (rsa_key, "PS256", "r1"),
        (ed_key, "EdDSA", "ed1"),
    ]:
        assert (await verifier.verify(_token(key, algorithm, kid))).subject == "stu-1"
    assert endpoint.fetches == 1


async def test_a_key_naming_its_alg_serves_only_that_alg(
    endpoint: Endpoint, rsa_key: rsa.RSAPrivateKey
) -> None:
    endpoint.keys = [public_jwk(rsa_key, "r1", alg="RS256")]
    verifier = _verifier(endpoint, Clock())
    assert await _status(verifier, _token(rsa_key, "RS256", "r1")) == 200
    assert await _status(verifier, _token(rsa_key, "PS256", "r1")) == 401


async def test_a_freshly_published_key_is_accepted_on_its_first_request(
    endpoint: Endpoint, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    clock = Clock()
    verifier = _verifier(endpoint, clock)
    assert await _status(verifier, _token(ec_key, "ES256", "k1")) == 200
    rotated = ec.generate_private_key(ec.SECP256R1())
    endpoint.keys.append(public_jwk(rotated, "k2"))
    clock.now += 1.0
    assert await _status(verifier, _token(rotated, "ES256", "k2")) == 200
    assert endpoint.fetches == 2


async def test_a_removed_key_is_refused_after_the_refresh_interval(
    endpoint: Endpoint, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    clock = Clock()
    verifier = _verifier(endpoint, clock)
    token = _token(ec_key, "ES256", "k1")
    assert await _status(verifier, token) == 200
    endpoint.keys = [key for key in endpoint.keys if key["kid"] != "k1"]
    clock.now += REFRESH - 1
    assert await _status(verifier, token) == 200  # inside the interval: the cached key set
    clock.now += 1
    assert await _status(verifier, token) == 401
    assert await _status(verifier, _token(ec_key, "ES256", "k1", sub="another")) == 401


async def test_a_burst_of_unknown_kids_causes_at_most_one_fetch(
    endpoint: Endpoint, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    clock = Clock()
    verifier = _verifier(endpoint, clock)
    assert await _status(verifier, _token(ec_key, "ES256", "k1")) == 200
    clock.now += 5.0
    tokens = [_token(ec_key, "ES256", f"unknown-{n}") for n in range(50)]
    statuses = await asyncio.gather(*(_status(verifier, t) for t in tokens))
    assert statuses == [401] * 50
    assert endpoint.fetches == 2  # the first key set, then one fetch for the whole burst
    statuses = await asyncio.gather(*(_status(verifier, t) for t in tokens))
    assert endpoint.fetches == 2  # within the interval: no more fetches


async def test_a_failing_key_source_is_asked_again_only_after_a_backoff(
    endpoint: Endpoint, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    clock = Clock()
    verifier = _verifier(endpoint, clock)
    endpoint.status = 500
    token = _token(ec_key, "ES256", "k1")
    statuses = [await _status(verifier, token) for _ in range(20)]
    assert statuses == [503] * 20
    assert endpoint.fetches == 1
    endpoint.status = 200
    clock.now += 1.0
    assert await _status(verifier, token) == 200
    assert endpoint.fetches == 2


async def test_the_backoff_grows_while_the_key_source_keeps_failing(
    endpoint: Endpoint, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    clock = Clock()
    verifier = _verifier(endpoint, clock)
    endpoint.status = 500
    token = _token(ec_key, "ES256", "k1")
    for backoff in (1.0, 2.0, 4.0):
        assert await _status(verifier, token) == 503
        clock.now += backoff - 0.5
        with pytest.raises(KeySourceError) as caught:
            await verifier.verify(token)
        assert int(caught.value.retry_after_seconds) >= 1
        clock.now += 0.5
    assert endpoint.fetches == 3


async def test_a_slow_key_source_bounds_concurrent_requests_by_one_timeout(
    endpoint: Endpoint, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    endpoint.delay = 1.5
    verifier = _verifier(endpoint, Clock(), jwks_timeout_seconds=0.3)
    token = _token(ec_key, "ES256", "k1")
    started = time.perf_counter()
    statuses = await asyncio.gather(*(_status(verifier, token) for _ in range(3)))
    elapsed = time.perf_counter() - started
    assert statuses == [503] * 3
    assert elapsed < 1.0  # one shared timeout, not one per queued request
    assert endpoint.fetches == 1


async def test_a_verified_token_is_not_checked_again(
    endpoint: Endpoint, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    verifier = _verifier(endpoint, Clock())
    token = _token(ec_key, "ES256", "k1")
    first = await verifier.verify(token)
    endpoint.status = 500
    assert await verifier.verify(token) == first
    assert endpoint.fetches == 1
