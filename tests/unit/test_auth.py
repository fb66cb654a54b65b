"""Bearer JWT verification: the accepted tokens, and every attack on them we know of."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from mastery.config import ConfigError, JwtSettings
from mastery.errors import DependencyUnavailableError
from mastery.local.servers import free_port
from mastery.web.auth import JwtVerifier, Principal, mint_token
from mastery.web.problems import ProblemError
from tests.jwks_endpoint import Endpoint, public_jwk, serving

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def _pem(private_key: Any) -> str:
    public = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return str(public.decode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": "stu-1",
        "role": "student",
        "exp": datetime.now(UTC) + timedelta(minutes=5),
        "iat": datetime.now(UTC),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _hand_signed(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """A token built by hand, the way an attacker would, bypassing PyJWT's own guards."""
    payload = {k: int(v.timestamp()) if isinstance(v, datetime) else v for k, v in claims.items()}
    signing_input = (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}".encode()
    )
    signature = b"" if key is None else hmac.new(key, signing_input, hashlib.sha256).digest()
    return f"{signing_input.decode()}.{_b64(signature)}"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def hs_verifier() -> JwtVerifier:
    return JwtVerifier(JwtSettings(algorithms=("HS256",), secret=SECRET))


async def _rejected(verifier: JwtVerifier, token: str) -> ProblemError:
    with pytest.raises(ProblemError) as caught:
        await verifier.verify(token)
    problem = caught.value
    assert problem.status == 401
    assert problem.headers["WWW-Authenticate"].startswith("Bearer")
    return problem


async def test_valid_hs256_token_gives_its_principal(hs_verifier: JwtVerifier) -> None:
    token = mint_token(SECRET, "t-1", "teacher", classes=["c-2", "c-1"])
    principal = await hs_verifier.verify(token)
    assert principal == Principal("t-1", "teacher", frozenset({"c-1", "c-2"}))


async def test_valid_rs256_token_is_accepted(rsa_key: rsa.RSAPrivateKey) -> None:
    verifier = JwtVerifier(JwtSettings(algorithms=("RS256",), public_key=_pem(rsa_key)))
    token = jwt.encode(_claims(role="admin"), rsa_key, algorithm="RS256")
    assert (await verifier.verify(token)).role == "admin"


async def test_valid_es256_token_is_accepted() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    verifier = JwtVerifier(JwtSettings(algorithms=("ES256",), public_key=_pem(key)))
    token = jwt.encode(_claims(), key, algorithm="ES256")
    assert (await verifier.verify(token)).subject == "stu-1"


async def test_valid_eddsa_token_is_accepted() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    verifier = JwtVerifier(JwtSettings(algorithms=("EdDSA",), public_key=_pem(key)))
    token = jwt.encode(_claims(), key, algorithm="EdDSA")
    assert (await verifier.verify(token)).role == "student"


async def test_alg_none_is_rejected(hs_verifier: JwtVerifier) -> None:
    token = _hand_signed({"alg": "none", "typ": "JWT"}, _claims(role="admin"), None)
    await _rejected(hs_verifier, token)


async def test_alg_none_is_rejected_by_an_rsa_configuration(rsa_key: rsa.RSAPrivateKey) -> None:
    verifier = JwtVerifier(JwtSettings(algorithms=("RS256",), public_key=_pem(rsa_key)))
    await _rejected(verifier, _hand_signed({"alg": "none"}, _claims(role="admin"), None))


async def test_hmac_token_signed_with_the_rsa_public_key_is_rejected(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    pem = _pem(rsa_key)
    verifier = JwtVerifier(JwtSettings(algorithms=("RS256",), public_key=pem))
    forged = _hand_signed({"alg": "HS256", "typ": "JWT"}, _claims(role="admin"), pem.encode())
    await _rejected(verifier, forged)


async def test_expired_token_is_rejected(hs_verifier: JwtVerifier) -> None:
    token = jwt.encode(
        _claims(exp=datetime.now(UTC) - timedelta(minutes=2)), SECRET, algorithm="HS256"
    )
    problem = await _rejected(hs_verifier, token)
    assert problem.detail == "The token has expired."


async def test_token_expired_within_the_leeway_is_accepted(hs_verifier: JwtVerifier) -> None:
    token = jwt.encode(
        _claims(exp=datetime.now(UTC) - timedelta(seconds=5)), SECRET, algorithm="HS256"
    )
    assert (await hs_verifier.verify(token)).subject == "stu-1"


async def test_a_verified_token_stops_working_when_it_expires() -> None:
    now = [time.time()]
    verifier = JwtVerifier(JwtSettings(secret=SECRET, leeway_seconds=0), clock=lambda: now[0])
    token = jwt.encode(_claims(exp=int(now[0]) + 60), SECRET)
    assert (await verifier.verify(token)).subject == "stu-1"
    now[0] = int(now[0]) + 59.9
    assert (await verifier.verify(token)).subject == "stu-1"  # the remembered verification
    now[0] += 0.1
    problem = await _rejected(verifier, token)
    assert problem.detail == "The token has expired."


async def test_token_not_yet_valid_is_rejected(hs_verifier: JwtVerifier) -> None:
    token = jwt.encode(
        _claims(nbf=datetime.now(UTC) + timedelta(minutes=5)), SECRET, algorithm="HS256"
    )
    await _rejected(hs_verifier, token)


async def test_token_without_exp_is_rejected(hs_verifier: JwtVerifier) -> None:
    token = jwt.encode({"sub": "stu-1", "role": "student"}, SECRET, algorithm="HS256")
    await _rejected(hs_verifier, token)


async def test_wrong_issuer_and_audience_are_rejected() -> None:
    settings = JwtSettings(secret=SECRET, issuer="https://idp.learnflow", audience="mastery")
    verifier = JwtVerifier(settings)
    good = mint_token(SECRET, "s", "student", issuer="https://idp.learnflow", audience="mastery")
    assert (await verifier.verify(good)).subject == "s"
    for token in (
        mint_token(SECRET, "s", "student", issuer="https://evil", audience="mastery"),
        mint_token(SECRET, "s", "student", issuer="https://idp.learnflow", audience="other"),
        mint_token(SECRET, "s", "student", audience="mastery"),
        mint_token(SECRET, "s", "student", issuer="https://idp.learnflow"),
    ):
        await _rejected(verifier, token)


async def test_tampered_signature_and_payload_are_rejected(hs_verifier: JwtVerifier) -> None:
    token = mint_token(SECRET, "stu-1", "student")
    header, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    await _rejected(hs_verifier, f"{header}.{payload}.{flipped}")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "admin"
    await _rejected(hs_verifier, f"{header}.{_b64(json.dumps(claims).encode())}.{signature}")


async def test_token_signed_with_another_secret_is_rejected(hs_verifier: JwtVerifier) -> None:
    other = "another-secret-that-is-long-enough-for-hs256"
    await _rejected(hs_verifier, mint_token(other, "s", "admin"))


@pytest.mark.parametrize(
    "claims",
    [
        _claims(role=None),
        _claims(role="superuser"),
        _claims(role=None, roles=["admin"]),
        _claims(role=["admin"]),
        _claims(sub=None),
        _claims(classes="c-1"),
        _claims(classes=[1, 2]),
    ],
    ids=["no-role", "unknown-role", "roles-list", "role-list", "no-sub", "classes-str", "ints"],
)
async def test_bad_identity_claims_are_rejected(
    hs_verifier: JwtVerifier, claims: dict[str, Any]
) -> None:
    await _rejected(hs_verifier, jwt.encode(claims, SECRET, algorithm="HS256"))


async def test_garbage_and_oversized_tokens_are_rejected(hs_verifier: JwtVerifier) -> None:
    await _rejected(hs_verifier, "not-a-jwt")
    await _rejected(hs_verifier, "a" * 10_000)


async def test_missing_or_non_bearer_authorization_is_rejected(hs_verifier: JwtVerifier) -> None:
    for header in (None, "", "Basic dXNlcjpwYXNz", "Bearer "):
        with pytest.raises(ProblemError) as caught:
            await hs_verifier.authenticate(header)
        assert caught.value.status == 401
        assert caught.value.headers["WWW-Authenticate"] == "Bearer"
    token = mint_token(SECRET, "stu-1", "student")
    assert (await hs_verifier.authenticate(f"bearer {token}")).subject == "stu-1"


@pytest.mark.parametrize(
    "settings",
    [
        JwtSettings(algorithms=("HS256",)),
        JwtSettings(algorithms=(), secret=SECRET),
        JwtSettings(algorithms=("none",), secret=SECRET),
        JwtSettings(algorithms=("HS256", "RS256"), secret=SECRET),
        JwtSettings(algorithms=("HS256",), secret=SECRET, jwks_url="https://idp/jwks"),
        JwtSettings(algorithms=("HS256",), jwks_url="https://idp/jwks"),
        JwtSettings(algorithms=("RS256",), public_key="not a pem"),
        JwtSettings(algorithms=("HS256",), secret="short"),
        JwtSettings(algorithms=("HS256",), secret="x" * 31),
        JwtSettings(algorithms=("HS384",), secret="x" * 47),
        JwtSettings(algorithms=("HS256", "HS512"), secret="x" * 63),
    ],
    ids=[
        "no-key",
        "no-algs",
        "none",
        "mixed",
        "two-sources",
        "jwks-hmac",
        "bad-pem",
        "short",
        "hs256-31",
        "hs384-47",
        "hs512-63",
    ],
)
def test_unsafe_configurations_are_refused(settings: JwtSettings) -> None:
    with pytest.raises(ConfigError):
        JwtVerifier(settings)


def test_hmac_keys_long_enough_for_their_hash_are_accepted() -> None:
    JwtVerifier(JwtSettings(algorithms=("HS384",), secret="x" * 48))
    JwtVerifier(JwtSettings(algorithms=("HS256", "HS512"), secret="x" * 64))


def test_hmac_algorithms_with_a_public_key_are_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = _pem(rsa_key)
    with pytest.raises(ConfigError):
        JwtVerifier(JwtSettings(algorithms=("HS256", "RS256"), public_key=pem))
    with pytest.raises(ConfigError):
        JwtVerifier(JwtSettings(algorithms=("ES256",), public_key=pem))
    with pytest.raises(ConfigError):
        JwtVerifier(JwtSettings(algorithms=("HS256",), secret=pem))


@pytest.fixture
def jwks_server(rsa_key: rsa.RSAPrivateKey) -> Iterator[str]:
    """A loopback JWKS endpoint serving the RSA key under kid "k1"; yields its base URL."""
    with serving(Endpoint(keys=[public_jwk(rsa_key, "k1", alg="RS256")])) as endpoint:
        yield endpoint.url.removesuffix("/jwks.json")


async def test_jwks_keys_verify_tokens_by_kid(jwks_server: str, rsa_key: rsa.RSAPrivateKey) -> None:
    settings = JwtSettings(algorithms=("RS256",), jwks_url=f"{jwks_server}/jwks.json")
    verifier = JwtVerifier(settings)
    token = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})
    assert (await verifier.verify(token)).subject == "stu-1"
    assert (await verifier.verify(token)).subject == "stu-1"  # served from the key cache
    unknown_kid = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "k9"})
    await _rejected(verifier, unknown_kid)
    await _rejected(verifier, jwt.encode(_claims(), rsa_key, algorithm="RS256"))
    hmac_token = _hand_signed({"alg": "HS256", "kid": "k1"}, _claims(), b"whatever")
    await _rejected(verifier, hmac_token)


async def test_unreachable_jwks_is_a_dependency_outage(rsa_key: rsa.RSAPrivateKey) -> None:
    closed = f"http://127.0.0.1:{free_port()}/jwks.json"
    settings = JwtSettings(algorithms=("RS256",), jwks_url=closed)
    verifier = JwtVerifier(settings)
    token = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(DependencyUnavailableError):
        await verifier.verify(token)


def test_jwks_url_must_be_http() -> None:
    with pytest.raises(ConfigError):
        JwtVerifier(JwtSettings(algorithms=("RS256",), jwks_url="file:///etc/passwd"))
