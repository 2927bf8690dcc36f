"""Credentials: who a request speaks for (`CallerResolver`, called by the request guard before the body
is read) and the dependencies that hand the guard's verdict to a route.

A bearer credential is one of:
- the admin key (KOGI_ADMIN_API_KEY): the bootstrap `platform_admin`; compared in constant time over
  SHA-256 digests, so neither content nor length leaks through timing;
- an API key (`kk_…`, services/api_keys.py): a platform service with scopes; revoked and expired keys
  get their own 401 types (`api-key-revoked`, `api-key-expired`);
- a wallet's access token (a JWT from POST /v1/auth/siwe): an `investor`; signature, key id and expiry
  first (no database), then the session must not be signed out.

What each may call is decided by the table in services/access.py, in the guard (api/guard.py), not
here and not in the routes: `require_session` and `authenticated` only read the guard's verdict.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import uuid
from typing import Any

import anyio
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.guard import Unauthenticated
from api.problems import ApiProblem
from services.access import ADMIN, ANONYMOUS, Caller, CallerKind
from services.api_keys import ApiKeyError, ApiKeyService, looks_like_api_key
from services.audit import MAX_REQUEST_ID_CHARS, AuditContext
from services.auth import AuthService, JwtKeyRing, Principal, verify_access_token

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="The admin API key (KOGI_ADMIN_API_KEY) or an API key with the route's scope (POST /v1/api-keys).",
)


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def caller_of(request: Request) -> Caller:
    """The caller the request guard identified and admitted (anonymous on a public route)."""
    caller = getattr(request.state, "caller", None)
    return caller if isinstance(caller, Caller) else ANONYMOUS


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1," + str(MAX_REQUEST_ID_CHARS) + "}$")


def audit_context(request: Request) -> AuditContext:
    """Who acts and from where, for the audit records of a privileged route: the admitted caller, the
    client's `X-Request-ID` (when well-formed; else a fresh id) and address."""
    supplied = request.headers.get("x-request-id", "")
    request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
    ip = request.client.host[:64] if request.client is not None else None
    return AuditContext(actor=caller_of(request).actor, request_id=request_id, ip=ip)


def authenticated(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)
) -> Caller:
    """Dependency of the admin-key / API-key routes: the guard's admitted caller (`credentials` only
    documents the bearer scheme in the OpenAPI schema). A 401 if the guard did not run (it always does)."""
    caller = caller_of(request)
    if caller is ANONYMOUS:
        raise ApiProblem(
            401,
            "unauthorized",
            "Missing or invalid credentials",
            "send the admin API key or an API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return caller


session_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="AccessToken",
    description="A wallet's access token from POST /v1/auth/siwe or /v1/auth/refresh (never the admin key).",
)


def bearer_token(authorization: str | None) -> str | None:
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


class CallerResolver:
    """The guard's `identify`: a request's headers -> its `Caller`, or `Unauthenticated` for a credential
    that is presented but not valid. Database checks (API keys, signed-out sessions) run in a worker
    thread; the services are read from the app state at call time (they start with the app)."""

    def __init__(self, app: Any, admin_digest: bytes, keys: JwtKeyRing | None) -> None:
        self.app = app
        self.admin_digest = admin_digest
        self.keys = keys

    async def __call__(self, headers: Any) -> Caller | Unauthenticated:
        authorization = headers.get("authorization")
        if authorization is None:
            return ANONYMOUS
        token = bearer_token(authorization)
        if token is None:
            return Unauthenticated("unauthorized", "send the credential as 'Authorization: Bearer <credential>'")
        if looks_like_api_key(token):
            return await anyio.to_thread.run_sync(self._api_key, token)
        if hmac.compare_digest(key_digest(token), self.admin_digest):
            return ADMIN
        if verify_access_token(self.keys, token, time.time()) is None:
            return Unauthenticated("unauthorized", "the credential is not a valid key or access token")
        return await anyio.to_thread.run_sync(self._session, token)

    def _api_key(self, token: str) -> Caller | Unauthenticated:
        service: ApiKeyService | None = self.app.state.api_keys
        if service is None:
            return Unauthenticated("unauthorized", "the API key is not valid")
        try:
            info = service.authenticate(token)
        except ApiKeyError as exc:
            return Unauthenticated(exc.code, exc.detail)
        return Caller(CallerKind.API_KEY, key_id=info.key_id, scopes=frozenset(info.scopes))

    def _session(self, token: str) -> Caller | Unauthenticated:
        auth: AuthService | None = self.app.state.auth
        principal = auth.authenticate(token) if auth is not None else None
        if principal is None:
            return Unauthenticated(
                "unauthorized",
                "the access token is invalid, expired or its session was signed out: refresh or sign in again",
            )
        return Caller(CallerKind.INVESTOR, address=principal.address, session=principal)


def require_session(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(session_scheme)
) -> Principal:
    """Dependency: the signed-in wallet the guard admitted (its access token valid, its session not
    signed out), or 401 (`credentials` only documents the scheme in the OpenAPI schema)."""
    caller = caller_of(request)
    if caller.kind is not CallerKind.INVESTOR or not isinstance(caller.session, Principal):
        raise ApiProblem(
            401,
            "unauthorized",
            "Missing or invalid access token",
            "send an access token from POST /v1/auth/siwe as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return caller.session
