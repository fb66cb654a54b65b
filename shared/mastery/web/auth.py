"""Bearer JWT authentication: who is calling, never what they may do (route handlers decide).

Claims we read: `sub` (the subject id), `role` (one string: student, teacher or admin; a `roles`
list is not read), and `classes` (a list of class ids, used for teachers). `exp` is required.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, get_args

from cachetools import TLRUCache

from mastery.config import ConfigError, JwtSettings
from mastery.web.jwt_loader import import_pyjwt
from mastery.web.problems import ProblemError

if TYPE_CHECKING:
    import jwt

    from mastery.web.jwks import JwksKeys

# PyJWT (and cryptography, which it imports whenever it is installed) is imported when the first
# verifier is built: with an HMAC secret, without cryptography (`jwt_loader`). The `import jwt`
# in the functions below is then a dictionary lookup.

__all__ = ["JwtVerifier", "Principal", "Role", "mint_token"]

Role = Literal["student", "teacher", "admin"]
_ROLES = frozenset(get_args(Role))
_MAX_TOKEN_CHARS = 8192
# RFC 7518 §3.2: an HMAC key at least as long as the hash output.
_MIN_SECRET_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
_VERIFIED_CACHE_SIZE = 1024
_VERIFIED_TTL_SECONDS = 300.0

# Each key family accepts only its own algorithms: this is what stops algorithm confusion.
_FAMILIES: dict[str, frozenset[str]] = {
    "hmac": frozenset({"HS256", "HS384", "HS512"}),
    "rsa": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    "ec": frozenset({"ES256", "ES384", "ES512"}),
    "okp": frozenset({"EdDSA"}),
}
_ASYMMETRIC = _FAMILIES["rsa"] | _FAMILIES["ec"] | _FAMILIES["okp"]


class Principal(NamedTuple):
    """The authenticated caller."""

    subject: str
    role: Role
    classes: frozenset[str] = frozenset()


def _unauthorized(detail: str, *, invalid: bool = True) -> ProblemError:
    # RFC 6750 §3: no error code when the request carried no credentials at all.
    challenge = 'Bearer error="invalid_token"' if invalid else "Bearer"
    return ProblemError(
        401,
        "Unauthorized",
        detail,
        headers={"WWW-Authenticate": challenge},
        problem_type="unauthorized",
    )


def _public_key_family(pem: str) -> tuple[str, Any]:
    # Imported here: only a process configured with a PEM public key pays for cryptography.
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        # Environment variables often carry PEM newlines escaped as "\n".
        key = load_pem_public_key(pem.replace("\\n", "\n").encode())
    except ValueError as exc:
        raise ConfigError("JWT_PUBLIC_KEY is not a PEM public key") from exc
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa", key
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec", key
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "okp", key
    raise ConfigError("JWT_PUBLIC_KEY has an unsupported key type")


def _key_source(
    settings: JwtSettings, algorithms: frozenset[str], clock: Callable[[], float]
) -> tuple[frozenset[str], Any, JwksKeys | None]:
    """The algorithms the one configured key admits, the key, and the JWKS key set if any."""
    sources = [settings.secret, settings.public_key, settings.jwks_url]
    if sum(source is not None for source in sources) != 1:
        raise ConfigError("set exactly one of JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL")
    import_pyjwt(asymmetric=settings.secret is None)
    if settings.secret is not None:
        if "-----BEGIN" in settings.secret:
            raise ConfigError("JWT_SECRET holds a PEM key; set JWT_PUBLIC_KEY instead")
        length = len(settings.secret.encode())
        for algorithm in sorted(algorithms & _FAMILIES["hmac"]):
            if length < _MIN_SECRET_BYTES[algorithm]:
                raise ConfigError(
                    f"JWT_SECRET must be at least {_MIN_SECRET_BYTES[algorithm]} bytes for "
                    f"{algorithm} (RFC 7518); it has {length}"
                )
        return _FAMILIES["hmac"], settings.secret, None
    if settings.public_key is not None:
        family, key = _public_key_family(settings.public_key)
        return _FAMILIES[family], key, None
    url = str(settings.jwks_url)
    if not url.startswith(("https://", "http://")):
        raise ConfigError("JWT_JWKS_URL must be an http(s) URL")
    from mastery.web.jwks import JwksKeys, JwksPolicy

    policy = JwksPolicy(
        refresh_seconds=settings.jwks_refresh_seconds,
        min_fetch_interval_seconds=settings.jwks_min_fetch_interval_seconds,
        timeout_seconds=settings.jwks_timeout_seconds,
    )
    return _ASYMMETRIC, None, JwksKeys(url, policy, clock=clock)


class JwtVerifier:
    """Verifies bearer tokens against one configured key source and an algorithm allow-list."""

    def __init__(self, settings: JwtSettings, *, clock: Callable[[], float] = time.time) -> None:
        algorithms = frozenset(settings.algorithms)
        if not algorithms:
            raise ConfigError("JWT_ALGORITHMS is empty")
        self._clock = clock
        allowed, self._key, self._jwks = _key_source(settings, algorithms, clock)
        if not algorithms <= allowed:
            raise ConfigError(
                f"JWT_ALGORITHMS {sorted(algorithms - allowed)} do not match the configured key"
            )
        self._algorithms = sorted(algorithms)
        self._issuer = settings.issuer
        self._audience = settings.audience
        self._leeway = settings.leeway_seconds
        required = ["exp", "sub"]
        required += ["iss"] if settings.issuer else []
        required += ["aud"] if settings.audience else []
        # Without a configured audience PyJWT would reject every token that names one. Expiry is
        # checked against this verifier's clock (`_check_expiry`), PyJWT's is the system's.
        self._options: Any = {
            "require": required,
            "verify_aud": settings.audience is not None,
            "verify_exp": False,
        }
        # Clients reuse one token for many requests, and signature checks dominate the hot path:
        # an identical token string needs no second check while it is valid (bounded, LRU).
        self._verified: TLRUCache[str, tuple[Principal, float]] = TLRUCache(
            _VERIFIED_CACHE_SIZE, ttu=lambda _token, entry, _now: entry[1], timer=clock
        )

    async def authenticate(self, authorization: str | None) -> Principal:
        """The principal of an `Authorization: Bearer <token>` header value; 401 otherwise."""
        if not authorization:
            raise _unauthorized("A bearer token is required.", invalid=False)
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("A bearer token is required.", invalid=False)
        return await self.verify(token.strip())

    async def verify(self, token: str) -> Principal:
        """Verify signature, algorithm and claims of `token`; raise ProblemError 401 if any fail."""
        cached = self._verified.get(token)
        if cached is not None:
            return cached[0]
        if len(token) > _MAX_TOKEN_CHARS:
            raise _unauthorized("The token is not valid.")
        import jwt

        key = self._key if self._jwks is None else await self._jwks_key(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                options=self._options,
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
            )
        except jwt.PyJWTError:
            raise _unauthorized("The token is not valid.") from None
        exp = self._check_expiry(claims["exp"])
        principal = _principal(claims)
        self._remember(token, principal, exp)
        return principal

    def _check_expiry(self, exp: Any) -> float:
        """`exp` as a number (RFC 7519 NumericDate), if it is not past (give or take the leeway)."""
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            raise _unauthorized("The token is not valid.")
        if exp <= self._clock() - self._leeway:
            raise _unauthorized("The token has expired.")
        return float(exp)

    def _remember(self, token: str, principal: Principal, exp: float) -> None:
        now = self._clock()
        valid_until = min(exp + self._leeway, now + _VERIFIED_TTL_SECONDS)
        if self._jwks is not None:
            # A key removed from the JWKS must stop working when the key set is refreshed.
            valid_until = min(valid_until, self._jwks.fresh_until)
        if valid_until > now:
            self._verified[token] = (principal, valid_until)

    async def _jwks_key(self, token: str) -> jwt.PyJWK:
        import jwt

        from mastery.web.jwks import UnknownKeyError

        assert self._jwks is not None
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _unauthorized("The token is not valid.") from None
        kid, algorithm = header.get("kid"), header.get("alg")
        if not isinstance(kid, str) or algorithm not in self._algorithms:
            raise _unauthorized("The token is not valid.")
        try:
            return await self._jwks.key(kid, algorithm)
        except UnknownKeyError:
            raise _unauthorized("The token is not valid.") from None


def _principal(claims: dict[str, Any]) -> Principal:
    subject, role, classes = claims.get("sub"), claims.get("role"), claims.get("classes", [])
    if not isinstance(subject, str) or not subject:
        raise _unauthorized("The token has no subject.")
    if not isinstance(role, str) or role not in _ROLES:
        raise _unauthorized("The token has no known role.")
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise _unauthorized("The token's classes claim is not a list of class ids.")
    return Principal(subject=subject, role=role, classes=frozenset(classes))  # type: ignore[arg-type]


def mint_token(
    secret: str,
    subject: str,
    role: Role,
    classes: Iterable[str] = (),
    ttl: timedelta = timedelta(hours=12),
    *,
    issuer: str | None = None,
    audience: str | Sequence[str] | None = None,
    now: datetime | None = None,
) -> str:
    """An HS256 token for demos and tests."""
    import jwt

    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        "role": role,
        "classes": sorted(classes),
        "iat": issued,
        "exp": issued + ttl,
    }
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience if isinstance(audience, str) else list(audience)
    return jwt.encode(claims, secret, algorithm="HS256")
