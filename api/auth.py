"""Admin API key authentication: `Authorization: Bearer <key>` on every /v1 route.

Roles (investor, creator, compliance, platform admin) arrive with the services issue;
until then the single admin key guards the whole /v1 surface. The comparison is
constant-time over SHA-256 digests, so neither content nor length leaks through timing.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.problems import ApiProblem

bearer_scheme = HTTPBearer(auto_error=False, description="The admin API key (KOGI_ADMIN_API_KEY).")


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def bearer_matches(authorization: str | None, expected: bytes) -> bool:
    """True when an `Authorization` header value is `Bearer <the admin key>` (constant time)."""
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        return False
    return hmac.compare_digest(key_digest(credentials.strip()), expected)


def require_admin(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)) -> None:
    """Dependency: reject the request with a 401 problem unless it carries the admin key."""
    expected: bytes = request.app.state.admin_key_digest
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiProblem(
            401,
            "unauthorized",
            "Missing or invalid API key",
            "send the admin API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(key_digest(credentials.credentials), expected):
        raise ApiProblem(
            401,
            "unauthorized",
            "Missing or invalid API key",
            "the API key is not valid",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
