"""The request guard: hostile bodies are refused before anything parses them.

An ASGI middleware in front of the whole app, because FastAPI reads and parses a JSON body
before any dependency (authentication included) runs. In this order, each step before the
next one reads more of the request:

1. **Authentication and authorization before the body**: the route the request will reach
   (method + path template) is looked up in THE access table (services/access.py `ROUTE_ACCESS`);
   unless it is public, the credential is identified (`identify`: the admin key, an API key or a
   wallet's access token; see api/auth.py `CallerResolver`) and the table's rule decided
   (`services.access.decide`): no or an invalid credential is a 401, a valid one the route does not
   admit (or another wallet's data) a 403 — without a byte of the body being read. A path no route
   matches (a 404 or 405 to be) under /v1 needs a valid credential of any kind first. The caller is
   left in the request state (`request.state.caller`) for the route's dependencies.
2. **Size**: a declared `Content-Length` above the route's limit is a 413 at once; a chunked
   body is counted as it arrives and refused at the first byte past the limit (never buffered
   whole). The limit is `KOGI_MAX_BODY_BYTES` (default 1 MiB) on authenticated routes,
   `KOGI_PUBLIC_MAX_BODY_BYTES` (default 16 KiB) on public ones (sign-in, provider webhooks),
   and a route may set its own through `openapi_extra={BODY_LIMIT_EXTENSION: n}`.
3. **Media type**: a body whose declared `Content-Type` is not JSON is a 415.
4. **Depth**: JSON nested deeper than `MAX_JSON_DEPTH` is a 400, found by a scan that does
   not recurse. This is what keeps a hostile body from crashing the process: an imported
   dependency (py_ecc) raises Python's recursion limit to 100000, so `json.loads` on
   `[[[[…` overflows the C stack (a segfault) before Python's own recursion guard fires.
5. **Encoding**: a string holding a lone UTF-16 surrogate (`"\\ud800"`, valid JSON grammar but
   no Unicode text) is a 422: it could be neither stored nor hashed nor echoed back.

Only then is the (buffered) body handed to the app.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.routing import Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.route_table import RouteEntry, matching, path_params
from services.access import ANONYMOUS, Caller, Refusal, Rule, decide

MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays/objects a request body may have (the API's own bodies need 4)."""
BODY_LIMIT_EXTENSION = "x-kogi-max-body-bytes"
"""OpenAPI extension (route `openapi_extra`) that overrides the body limit of one route."""


@dataclass(frozen=True)
class Unauthenticated:
    """A credential that was presented but is not accepted (401 with this problem code)."""

    code: str
    detail: str


Identify = Callable[[Headers], Awaitable[Caller | Unauthenticated]]
RuleOf = Callable[[str, str], Rule | None]
ProblemWriter = Callable[[Scope, Send, int, str, str, str, dict[str, str] | None], Awaitable[None]]

_STRING_LITERAL = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.S)
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_OPEN = frozenset(b"[{")
_JSON_SUBTYPE = re.compile(r"^application/(?:[a-z0-9.+-]+\+)?json$")


class BodyTooLarge(Exception):
    pass


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when the JSON text nests arrays/objects deeper than `limit`. Linear, not recursive:
    string literals (which may hold brackets) are cut out, then the brackets are counted."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for byte in _STRING_LITERAL.sub(b"", body).translate(None, _NOT_BRACKETS):
        if byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def lone_surrogate_path(body: bytes) -> str | None:
    """Where a string of the (depth-checked) JSON body holds a lone surrogate, as a dotted path
    (`metadata.<key>`); None when there is none or the body is not JSON (the app reports that)."""
    if b"\\u" not in body and b"\\U" not in body:
        return None  # a raw surrogate is invalid UTF-8, which the JSON decoder already refuses
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    stack: list[tuple[str, Any]] = [("body", document)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if not _encodable(value):
                return where
        elif isinstance(value, dict):
            for key, item in value.items():
                if not _encodable(key):
                    return f"{where} (a key)"
                stack.append((f"{where}.{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{index}]", item) for index, item in enumerate(value))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_json_media_type(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return bool(_JSON_SUBTYPE.match(media_type))


class RequestGuard:
    """The ASGI middleware described in the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        router: Router,
        identify: Identify,
        rule_of: RuleOf,
        is_public: Callable[[str], bool],
        max_body_bytes: int,
        public_max_body_bytes: int,
        write_problem: ProblemWriter,
    ) -> None:
        self.app = app
        self.router = router
        self.identify = identify
        self.rule_of = rule_of
        self.is_public = is_public
        self.max_body_bytes = max_body_bytes
        self.public_max_body_bytes = public_max_body_bytes
        self.write_problem = write_problem

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        entry, path_params = self._route(scope)
        rule = self.rule_of(scope["method"], entry.path) if entry is not None else None
        if entry is None:  # a 404 or 405 to be: public outside /v1 or on a public route's path; else a credential first
            public = self.is_public(scope["path"]) or self._public_path(scope["path"])
        else:  # a route missing from the table (create_app refuses to start then) is nobody's
            public = rule is not None and rule.public
        if not public:
            caller = await self.identify(headers)
            if isinstance(caller, Unauthenticated) or caller is ANONYMOUS:
                code, detail = (
                    (caller.code, caller.detail)
                    if isinstance(caller, Unauthenticated)
                    else (
                        "unauthorized",
                        "send a credential as 'Authorization: Bearer <admin key, API key or access token>'",
                    )
                )
                await self.write_problem(
                    scope, send, 401, code, "Missing or invalid credentials", detail, {"WWW-Authenticate": "Bearer"}
                )
                return
            refusal = Refusal.FORBIDDEN if entry is not None and rule is None else None
            if rule is not None:
                refusal = decide(rule, caller, path_params)
            if refusal is not None:
                await self.write_problem(
                    scope,
                    send,
                    403,
                    "forbidden",
                    "Forbidden",
                    f"{caller.kind.value} may not call {scope['method']} {entry.path if entry else scope['path']}",
                    None,
                )
                return
            scope.setdefault("state", {})["caller"] = caller
        limit = self._body_limit(entry, public)
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._too_large(scope, send, limit)
            return
        try:
            body = await _read_body(receive, limit)
        except BodyTooLarge:
            await self._too_large(scope, send, limit)
            return
        if body:
            problem = self._check_body(headers, body)
            if problem is not None:
                await self.write_problem(scope, send, *problem, None)
                return
        await self.app(scope, _replay(body, receive), send)

    def _route(self, scope: Scope) -> tuple[RouteEntry | None, dict[str, str]]:
        """The route (method and path) the request will reach, with its path parameters; None when
        no route has both (the app answers 404 or 405)."""
        for entry in matching(self.router.routes, scope["path"]):
            methods = entry.methods or frozenset({"GET", "HEAD"})  # a mount (static files) is read-only
            if scope["method"] in methods:
                return entry, path_params(entry.path, scope["path"])
        return None, {}

    def _public_path(self, path: str) -> bool:
        """Whether a route on this path (any method) is public: another method there is a plain 405."""
        for entry in matching(self.router.routes, path):
            for method in entry.methods or ("GET",):
                rule = self.rule_of(method, entry.path)
                if rule is not None and rule.public:
                    return True
        return False

    def _body_limit(self, entry: RouteEntry | None, public: bool) -> int:
        if entry is not None:
            extra = getattr(entry.route, "openapi_extra", None) or {}
            if BODY_LIMIT_EXTENSION in extra:
                return int(extra[BODY_LIMIT_EXTENSION])
        return self.public_max_body_bytes if public else self.max_body_bytes

    def _check_body(self, headers: Headers, body: bytes) -> tuple[int, str, str, str] | None:
        content_type = headers.get("content-type")
        if content_type is not None and not is_json_media_type(content_type):
            return (
                415,
                "unsupported-media-type",
                "Unsupported media type",
                f"request bodies are JSON: send 'Content-Type: application/json' (got {content_type[:64]!r})",
            )
        if json_too_deep(body):
            return (
                400,
                "json-too-deep",
                "JSON nested too deeply",
                f"request bodies may nest arrays and objects at most {MAX_JSON_DEPTH} levels deep",
            )
        where = lone_surrogate_path(body)
        if where is not None:
            return (
                422,
                "request-validation",
                "Request validation failed",
                f"{where[:200]}: a string holds a lone UTF-16 surrogate escape (not Unicode text)",
            )
        return None

    async def _too_large(self, scope: Scope, send: Send, limit: int) -> None:
        await self.write_problem(
            scope,
            send,
            413,
            "payload-too-large",
            "Payload too large",
            f"request bodies on this route are limited to {limit} bytes",
            {"Connection": "close"},
        )


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the buffered body to the app once, then defers to the client."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
