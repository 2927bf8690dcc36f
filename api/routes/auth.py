"""Sign-In with Ethereum (issue 11 §1): nonce, sign-in, refresh, logout and the signed-in wallet.

- `GET /v1/auth/nonce`, `POST /v1/auth/siwe`, `POST /v1/auth/refresh`: public (no credential; the
  request guard gives them the public body limit).
- `POST /v1/auth/logout` and `GET /v1/me`: an access token as `Authorization: Bearer <token>`
  (never the admin key). Logout takes no body: it revokes the session the access token belongs
  to (every refresh token of that sign-in; its access tokens are refused from then on).

Each route calls one `AuthService` method (services/auth.py), whose refusals are RFC 9457
problems with one `type` per reason (api/problems.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from api.auth import require_session
from api.guard import BODY_LIMIT_EXTENSION
from api.problems import REFRESH_PROBLEM_RESPONSES, SESSION_PROBLEM_RESPONSES, SIGN_IN_PROBLEM_RESPONSES
from api.schemas import MeOut, NonceOut, RefreshIn, SiweIn, TokenOut
from services.auth import AuthService, Principal, TokenPair

router = APIRouter(tags=["auth"])

SIWE_MAX_BODY_BYTES = 64 * 1024
"""The sign-in body: a message of at most 4096 characters, each up to 12 bytes as a JSON escape, and
its signature; the parser then refuses anything over 4 KiB of UTF-8 (siwe-message-malformed)."""
NO_STORE = {"Cache-Control": "no-store"}
"""Nonces and tokens must not be cached by any intermediary (RFC 6749 §5.1)."""


def auth_service(request: Request) -> AuthService:
    service: AuthService = request.app.state.auth
    return service


Auth = Annotated[AuthService, Depends(auth_service)]
Session = Annotated[Principal, Depends(require_session)]


def _tokens(pair: TokenPair, response: Response) -> TokenOut:
    response.headers.update(NO_STORE)
    return TokenOut(access_token=pair.access_token, expires_in=pair.expires_in_s, refresh_token=pair.refresh_token)


@router.get("/v1/auth/nonce", response_model=NonceOut, responses={503: SESSION_PROBLEM_RESPONSES[503]})
def get_auth_nonce(auth: Auth, response: Response) -> NonceOut:
    """A fresh single-use nonce for an EIP-4361 message (valid at most 10 minutes)."""
    issued = auth.issue_nonce()
    response.headers.update(NO_STORE)
    return NonceOut(nonce=issued.nonce, expires_at=issued.expires_at)


@router.post(
    "/v1/auth/siwe",
    response_model=TokenOut,
    responses=SIGN_IN_PROBLEM_RESPONSES,
    openapi_extra={BODY_LIMIT_EXTENSION: SIWE_MAX_BODY_BYTES},
)
def sign_in_with_ethereum(body: SiweIn, auth: Auth, response: Response) -> TokenOut:
    """Exchange a signed EIP-4361 message for an access token (≤ 15 min) and a refresh token."""
    return _tokens(auth.sign_in(body.message, body.signature), response)


@router.post("/v1/auth/refresh", response_model=TokenOut, responses=REFRESH_PROBLEM_RESPONSES)
def refresh_tokens(body: RefreshIn, auth: Auth, response: Response) -> TokenOut:
    """A new token pair; the refresh token presented is retired. Presenting a retired one again
    revokes its whole session (`refresh-token-reused`)."""
    return _tokens(auth.refresh(body.refresh_token), response)


@router.post("/v1/auth/logout", status_code=204, responses=SESSION_PROBLEM_RESPONSES)
def logout(principal: Session, auth: Auth) -> Response:
    """Sign out: revoke the access token's session (all its refresh and access tokens)."""
    auth.logout(principal)
    return Response(status_code=204)


@router.get("/v1/me", response_model=MeOut, responses=SESSION_PROBLEM_RESPONSES)
def get_me(principal: Session) -> MeOut:
    """The signed-in wallet: checksummed address, roles, tenant, portfolios (none yet)."""
    return MeOut(address=principal.address, roles=list(principal.roles), tenant=principal.tenant, portfolios=[])
