"""Admin API key authentication: `Authorization: Bearer <key>` on every /v1 route, except the
sign-in routes (public: /v1/auth/nonce, /v1/auth/siwe, /v1/auth/refresh) and the signed-in
wallet's own routes (SESSION_PATHS: an access token, never the admin key; see `require_session`).

Roles beyond `investor` (creator, compliance, platform admin) arrive with the rest of issue 11;
until then the single admin key guards every other /v1 route, and no access token is accepted there. The comparison is
constant-time over SHA-256 digests, so neither content nor length leaks through timing.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.problems import ApiProblem
from services.auth import AuthService, JwtKeyRing, Principal, verify_access_token

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


session_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="AccessToken",
    description="A wallet's access token from POST /v1/auth/siwe or /v1/auth/refresh (never the admin key).",
)
SESSION_PATHS = frozenset({"/v1/me", "/v1/auth/logout"})
"""Routes for a signed-in wallet: the request guard accepts an access token there, and only there;
the admin key is not accepted on them, and an access token is accepted nowhere else."""


def bearer_token(authorization: str | None) -> str | None:
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def access_token_valid(keys: JwtKeyRing | None, authorization: str | None) -> bool:
    """The guard's check on SESSION_PATHS (no database: signature, key id and expiry)."""
    token = bearer_token(authorization)
    return token is not None and verify_access_token(keys, token, time.time()) is not None


def require_session(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(session_scheme)
) -> Principal:
    """Dependency: the signed-in wallet of a valid access token whose session is not revoked, or 401."""
    auth: AuthService = request.app.state.auth
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiProblem(
            401,
            "unauthorized",
            "Missing or invalid access token",
            "send an access token from POST /v1/auth/siwe as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = auth.authenticate(credentials.credentials)
    if principal is None:
        raise ApiProblem(
            401,
            "unauthorized",
            "Missing or invalid access token",
            "the access token is invalid, expired or its session was signed out: refresh or sign in again",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return principal
