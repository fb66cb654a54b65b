"""Import PyJWT without cryptography when only an HMAC secret is configured.

PyJWT imports cryptography whenever it is installed (`jwt.algorithms`), though HS256 needs only
`hmac`; cryptography costs ~10 MB resident and ~40 ms of CPU per cold start (docs/BENCHMARKS.md).
Hiding it during that one import sends PyJWT down its own path for installs without the
`crypto` extra: HMAC works, asymmetric algorithms are unavailable in this process.
"""

from __future__ import annotations

import sys
from types import ModuleType

__all__ = ["import_pyjwt"]


def import_pyjwt(*, asymmetric: bool) -> ModuleType:
    """The `jwt` module; with cryptography unless the first import says it is not needed."""
    if asymmetric or "jwt" in sys.modules or "cryptography.hazmat" in sys.modules:
        import jwt

        return jwt
    # redis-py imports the bare `cryptography` package (cheap) to see whether it is installed.
    installed = sys.modules.get("cryptography")
    sys.modules["cryptography"] = None  # type: ignore[assignment]  # import raises ModuleNotFoundError
    try:
        import jwt
    finally:
        if installed is None:
            del sys.modules["cryptography"]
        else:
            sys.modules["cryptography"] = installed
    return jwt
