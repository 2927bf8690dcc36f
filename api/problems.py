"""RFC 9457 problem details (`application/problem+json`) for every error the API returns.

`type` is a stable URI per error: `https://kogi.dev/problems/<code>`, where `<code>` is
the ledger error's `code` (e.g. `overdraft`, `unbalanced-entry`) or one of the API's own
codes below. Clients switch on `type`, never on `detail` (human text that may change).
A ledger error's `extra` data (e.g. `account`, `asset`) is added as extension members.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Scope, Send

from api.route_table import matching
from api.schemas import PATTERN_MEANINGS
from ledger.errors import LedgerError, NotFound, ValidationFailed
from services.api_keys import API_KEY_PROBLEMS
from services.auth import AUTH_PROBLEMS, SIGN_IN_UNAVAILABLE, AuthError

log = logging.getLogger("kogi.api")

PROBLEM_BASE = "https://kogi.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
_RESERVED = {"type", "title", "status", "detail", "instance"}

# The API's own problem codes (ledger errors bring theirs).
HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Missing or invalid API key"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("request-validation", "Request validation failed"),
    500: ("internal-error", "Internal server error"),
    503: ("service-unavailable", "Service unavailable"),
}


def problem_type(code: str) -> str:
    return PROBLEM_BASE + code


class Problem(BaseModel):
    """RFC 9457 problem details; extension members (e.g. `errors`, `account`) may follow."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


class ApiProblem(Exception):
    """An error raised by the HTTP layer itself (not by the ledger)."""

    def __init__(
        self, status: int, code: str, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.headers = headers
        self.extra = extra


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": problem_type(code), "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["instance"] = request.url.path
    for key, value in (extra or {}).items():
        if key not in _RESERVED:
            body[key] = value
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


async def send_problem(
    scope: Scope,
    send: Send,
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None,
) -> None:
    """Write a problem straight to an ASGI `send` (for middleware that answers before routing)."""
    body = {
        "type": problem_type(code),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": scope.get("path", ""),
    }
    response = JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)
    await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return str(value) if abs(value) > 2**53 else value  # keep big integers exact in JSON
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    return str(value)


LEDGER_CODE_ALIASES = {"validation-failed": "request-validation"}
"""One problem type per problem: the ledger's generic validation error is the API's request-validation."""


def _derived_status(error: type[LedgerError]) -> int:
    """A ledger error's HTTP status from its place in the hierarchy (ledger.errors): the ledger
    refusing a request as given is 422, something that does not exist 404, a conflict with the
    ledger's state 409; a bare LedgerError (no more specific class) is a 400."""
    if issubclass(error, ValidationFailed):
        return 422
    if issubclass(error, NotFound):
        return 404
    return 400 if error is LedgerError else 409


def _ledger_error_classes(root: type[LedgerError]) -> list[type[LedgerError]]:
    found = [root]
    for subclass in root.__subclasses__():
        found += _ledger_error_classes(subclass)
    return found


LEDGER_STATUS: dict[str, int] = {error.code: _derived_status(error) for error in _ledger_error_classes(LedgerError)}
"""Ledger error code → HTTP status, e.g. `{"overdraft": 409, "unbalanced-entry": 422, ...}`."""


def ledger_status(exc: LedgerError) -> int:
    """The HTTP status of a ledger error; an error class defined after start-up gets its derived one."""
    return LEDGER_STATUS.get(exc.code) or _derived_status(type(exc))


async def _ledger_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LedgerError)
    code = LEDGER_CODE_ALIASES.get(exc.code, exc.code)
    return problem_response(
        request,
        status=ledger_status(exc),
        code=code,
        title=exc.title,
        detail=exc.detail,
        extra={key: _jsonable(value) for key, value in exc.extra.items()},
    )


async def _api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem_response(
        request,
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        extra={key: _jsonable(value) for key, value in exc.extra.items()},
        headers=exc.headers,
    )


async def _auth_error(request: Request, exc: Exception) -> JSONResponse:
    """A refused sign-in or refresh (services/auth.py): 401 with its own type, 422 for a malformed
    message, 503 when no signing key is configured."""
    assert isinstance(exc, AuthError)
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if exc.status == 401 else None
    return problem_response(
        request, status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, headers=headers
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, title = HTTP_CODES.get(exc.status_code, (f"http-{exc.status_code}", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = getattr(exc, "headers", None)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route matches {request.method} {request.url.path}"
    if exc.status_code == 405:
        allowed = allowed_methods(request)
        headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        detail = f"{request.method} is not allowed here; allowed: {', '.join(allowed)}"
    return problem_response(request, status=exc.status_code, code=code, title=title, detail=detail, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this path (Starlette's 405 names only the first route's)."""
    methods: set[str] = set()
    for entry in matching(request.app.router.routes, request.url.path):
        methods |= entry.methods - {"HEAD"}
    return sorted(methods)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": PATTERN_MEANINGS.get(str((error.get("ctx") or {}).get("pattern")), str(error.get("msg", ""))),
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()
    ]
    if any(e["loc"] == ["header", "Idempotency-Key"] and e["type"] == "missing" for e in errors):
        return problem_response(
            request,
            status=400,
            code="idempotency-key-required",
            title="Idempotency-Key header required",
            detail="send an Idempotency-Key header so that a retried request cannot be applied twice",
        )
    summary = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
    code, title = HTTP_CODES[422]
    return problem_response(request, status=422, code=code, title=title, detail=summary, extra={"errors": errors})


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("database error on %s %s: %s", request.method, request.url.path, exc)
    return problem_response(
        request,
        status=503,
        code="database-unavailable",
        title="Database unavailable",
        detail="the database could not complete the request; retry later (writes are idempotent)",
    )


async def _value_out_of_range(request: Request, exc: Exception) -> JSONResponse:
    """Safety net: a request value the database cannot represent (e.g. beyond 64-bit, NUL)."""
    log.warning(
        "value refused by the database on %s %s: %s",
        request.method,
        request.url.path,
        str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
    )
    return problem_response(
        request,
        status=422,
        code="invalid-value",
        title="Value out of range",
        detail="a request value cannot be represented (out of range or containing NUL characters)",
    )


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    code, title = HTTP_CODES[500]
    return problem_response(request, status=500, code=code, title=title, detail="an unexpected error occurred")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LedgerError, _ledger_error)
    app.add_exception_handler(ApiProblem, _api_problem)
    app.add_exception_handler(AuthError, _auth_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(DataError, _value_out_of_range)
    app.add_exception_handler(OverflowError, _value_out_of_range)
    app.add_exception_handler(Exception, _internal_error)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": description}
    for status, description in (
        (
            400,
            "Malformed request: JSON nested deeper than 32 levels (`json-too-deep`), a missing "
            "Idempotency-Key (`idempotency-key-required`)",
        ),
        (401, "Missing or invalid API key"),
        (404, "Unknown ledger, asset, account, entry or hold"),
        (409, "Conflict (idempotency, overdraft, already reversed, hold not pending, ...)"),
        (413, "Request body over the route's limit (`payload-too-large`; KOGI_MAX_BODY_BYTES, default 1 MiB)"),
        (415, "Request body that is not JSON (`unsupported-media-type`)"),
        (
            422,
            "Invalid request: `request-validation` (the request does not match this schema) or a ledger rule "
            "the schema cannot state: `unbalanced-entry`, `invalid-amount` (more decimals than the asset's "
            "scale, over 2^256-1), `invalid-cursor`, `conflicting-parameters`, `effective-at-out-of-range`, "
            "`hold-amount-exceeded`, `same-account`, `expires-at-in-past`",
        ),
        (503, "Database unavailable (retry: writes are idempotent)"),
    )
}


def _problem_response(description: str) -> dict[str, Any]:
    return {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": description}


def _listed(prefix: str) -> str:
    """The 401 problem types of AUTH_PROBLEMS whose code starts with `prefix`, with their meanings."""
    return "; ".join(
        f"`{code}`: {meaning}"
        for code, meaning in AUTH_PROBLEMS.items()
        if code.startswith(prefix) and code != "siwe-message-malformed"
    )


SIGN_IN_PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: PROBLEM_RESPONSES[400],
    401: _problem_response("Sign-in refused, one type per reason: " + _listed("siwe-")),
    413: _problem_response("Request body over the public routes' limit (KOGI_PUBLIC_MAX_BODY_BYTES, default 16 KiB)"),
    415: PROBLEM_RESPONSES[415],
    422: _problem_response(
        "`request-validation` (the body does not match this schema) or `siwe-message-malformed` (the text is "
        "not an EIP-4361 message: a header, address, URI, Version 1, Chain ID, Nonce and Issued At lines in order, "
        "at most 4 KiB)"
    ),
    503: _problem_response(f"`{SIGN_IN_UNAVAILABLE}` (no KOGI_JWT_KEYS in distributed mode) or database unavailable"),
}
REFRESH_PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    **SIGN_IN_PROBLEM_RESPONSES,
    401: _problem_response("Refresh refused, one type per reason: " + _listed("refresh-")),
    422: _problem_response("`request-validation` (the body does not match this schema)"),
}
SESSION_PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem_response("`unauthorized`: missing, invalid or expired access token, or a signed-out session"),
    403: _problem_response("`forbidden`: a valid credential that is not a wallet's access token (a key)"),
    503: PROBLEM_RESPONSES[503],
}
"""Problems of the sign-in routes (api/routes/auth.py); the 401 types are services.auth.AUTH_PROBLEMS."""
API_KEY_PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    401: _problem_response(
        "`unauthorized` (no or an invalid credential), or a known API key no longer valid: "
        + "; ".join(f"`{code}`: {meaning}" for code, meaning in API_KEY_PROBLEMS.items())
    ),
    403: _problem_response(
        "`forbidden`: the credential is valid but this route does not admit it (services/access.py)"
    ),
}
"""Problems of the API-key routes (api/routes/api_keys.py) and of any route an API key may call."""
