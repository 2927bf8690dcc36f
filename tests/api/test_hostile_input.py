"""Hostile input against the real server process: sizes, depths, encodings, control characters,
numbers in every notation, headers. Every answer is a 4xx problem, never a crash or a 500, and the
server is still alive afterwards. Later routes extend the tables below."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.access import ADMIN, OPEN, Caller
from tests.api.live_server import LiveServer, live_server

HOLDER = "holder:31337:0x" + "ab" * 20
ENTRIES = "/v1/ledger/main/entries"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("hostile")
    with live_server(f"sqlite:///{workdir}/kogi.db", workdir) as running:
        with running.client(headers=running.auth) as client:
            client.post("/v1/ledger/main/assets", json={"code": "USD", "scale": 2, "kind": "fiat"})
        yield running


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/" + code), response.text


def test_a_deeply_nested_body_without_a_key_is_refused_and_the_server_lives(server: LiveServer) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with server.client() as anonymous:
        _problem(
            anonymous.post("/v1/ledger/ledgers", content=deep, headers={"content-type": "application/json"}),
            401,
            "unauthorized",
        )
    with server.client(headers=server.auth) as client:
        deep_object = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
        too_deep_name = b'{"code":"x","name":' + b"[" * 33 + b"]" * 33 + b"}"
        for body in (deep, deep_object, too_deep_name):
            _problem(
                client.post("/v1/ledger/ledgers", content=body, headers={"content-type": "application/json"}),
                400,
                "json-too-deep",
            )
        # 32 levels are fine as far as the guard goes (the schema then refuses the shape).
        ok_depth = b'{"code":"x","name":' + b"[" * 31 + b"]" * 31 + b"}"
        _problem(
            client.post("/v1/ledger/ledgers", content=ok_depth, headers={"content-type": "application/json"}),
            422,
            "request-validation",
        )
        # Brackets inside strings are text, not nesting.
        text = json.dumps({"code": "brackets", "name": "[" * 200}).encode()
        created = client.post("/v1/ledger/ledgers", content=text, headers={"content-type": "application/json"})
        assert created.status_code == 201
    assert server.alive(), server.log()[-3000:]


def test_bodies_over_the_limit_are_refused_before_they_are_read(server: LiveServer) -> None:
    big = b'{"code":"' + b"a" * (1024 * 1024) + b'"}'
    with server.client(headers=server.auth) as client:
        _problem(
            client.post("/v1/ledger/ledgers", content=big, headers={"content-type": "application/json"}),
            413,
            "payload-too-large",
        )

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            for _ in range(40):
                yield b" " * 65_536

        _problem(
            client.post("/v1/ledger/ledgers", content=chunks(), headers={"content-type": "application/json"}),
            413,
            "payload-too-large",
        )
    with server.client() as anonymous:  # no key: 401 whatever the size, nothing read
        _problem(
            anonymous.post("/v1/ledger/ledgers", content=big, headers={"content-type": "application/json"}),
            401,
            "unauthorized",
        )
    assert server.alive()


def test_a_declared_length_far_over_the_limit_is_answered_without_waiting_for_the_body(server: LiveServer) -> None:
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"POST /v1/ledger/ledgers HTTP/1.1\r\nHost: x\r\nAuthorization: {server.auth['Authorization']}\r\n"
            "Content-Type: application/json\r\nContent-Length: 300000000\r\n\r\n".encode()
        )
        answer = sock.recv(4096).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 413"), answer
    assert server.alive()


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/xml"]
)
def test_bodies_that_are_not_json_are_415(server: LiveServer, content_type: str) -> None:
    with server.client(headers=server.auth) as client:
        _problem(
            client.post("/v1/ledger/ledgers", content=b'{"code":"x"}', headers={"content-type": content_type}),
            415,
            "unsupported-media-type",
        )


@pytest.mark.parametrize("where", ["metadata value", "metadata key", "kind"])
def test_lone_surrogates_are_a_422_and_the_connection_survives(server: LiveServer, where: str) -> None:
    body = {
        "kind": "deposit",
        "transfers": [{"from": "world:x", "to": HOLDER, "asset": "USD", "amount_units": "1"}],
        "metadata": {"note": "ok"},
    }
    raw = json.dumps(body)
    raw = {
        "metadata value": raw.replace('"ok"', '"\\ud800"'),
        "metadata key": raw.replace('"note"', '"\\udfff"'),
        "kind": raw.replace('"deposit"', '"dep\\ud83dx"'),
    }[where]
    with server.client(headers=server.auth) as client:
        for path, headers in (
            (ENTRIES, {"Idempotency-Key": "surrogate"}),
            ("/v1/ledger/main/accounts", {}),
            ("/v1/ledger/main/holds", {"Idempotency-Key": "surrogate-hold"}),
        ):
            response = client.post(path, content=raw.encode(), headers={"content-type": "application/json", **headers})
            _problem(response, 422, "request-validation")
        assert client.get("/health").status_code == 200  # same keep-alive connection still serves
    assert server.alive()


def test_a_proper_surrogate_pair_is_text_and_accepted(server: LiveServer) -> None:
    raw = json.dumps({"code": "emoji", "name": "\U0001f600"})  # json.dumps writes the pair as \ud83d\ude00
    assert "\\ud83d" in raw
    with server.client(headers=server.auth) as client:
        assert (
            client.post(
                "/v1/ledger/ledgers", content=raw.encode(), headers={"content-type": "application/json"}
            ).status_code
            == 201
        )


@pytest.mark.parametrize("value", ["1e2", "0x10", "1_000", "+5", "-0", "Infinity", "NaN", "1e400", "5.5"])
def test_numbers_in_other_notations_never_pass_as_amounts_or_crash(server: LiveServer, value: str) -> None:
    with server.client(headers=server.auth) as client:
        for amount in (value, json.dumps(value)):
            raw = (
                f'{{"kind":"deposit","transfers":[{{"from":"world:x","to":"{HOLDER}","asset":"USD",'
                f'"amount_units":{amount}}}]}}'
            )
            response = client.post(
                ENTRIES,
                content=raw.encode(),
                headers={"content-type": "application/json", "Idempotency-Key": f"n-{value}"},
            )
            assert response.status_code == 422, (amount, response.text)


@pytest.mark.parametrize("scale", ["5.0", "5", "1e0"])
def test_an_integral_number_is_an_integer_as_json_schema_says(server: LiveServer, scale: str) -> None:
    with server.client(headers=server.auth) as client:
        code = scale.replace(".", "").replace("e", "E")
        raw = f'{{"code":"S{code}","scale":{scale},"kind":"fiat"}}'
        response = client.post(
            "/v1/ledger/main/assets", content=raw.encode(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 201 and response.json()["scale"] == int(float(scale)), response.text
        for bad in ("5.5", "true", '"5"', "null"):
            raw = f'{{"code":"SX","scale":{bad},"kind":"fiat"}}'
            _problem(
                client.post(
                    "/v1/ledger/main/assets", content=raw.encode(), headers={"content-type": "application/json"}
                ),
                422,
                "request-validation",
            )


@pytest.mark.parametrize(
    "path",
    [
        "/v1/ledger/main%00/assets",
        "/v1/ledger/ma%0Ain/assets",
        "/v1/ledger/main/accounts?prefix=a%00",
        "/v1/ledger/main/accounts/x%1F/balances/USD",
        "/v1/ledger/main/entries?cursor=%7F",
    ],
)
def test_control_characters_in_paths_and_queries_are_refused(server: LiveServer, path: str) -> None:
    with server.client(headers=server.auth) as client:
        assert client.get(path).status_code == 422


def test_hostile_headers_are_refused_cleanly(server: LiveServer) -> None:
    body = {"kind": "deposit", "transfers": [{"from": "world:x", "to": HOLDER, "asset": "USD", "amount_units": "1"}]}
    with server.client(headers=server.auth) as client:
        for key in (b"has space", b"x" * 129, b"tab\tkey", "é".encode()):
            response = client.post(ENTRIES, json=body, headers={b"Idempotency-Key": key})
            _problem(response, 422, "request-validation")
        _problem(client.post(ENTRIES, json=body), 400, "idempotency-key-required")
        for authorization in ("Bearer", "bearer " + "k" * 10_000, "Basic Og==", "Bearer x y"):
            response = client.get("/v1/ledger/ledgers", headers={"Authorization": authorization})
            _problem(response, 401, "unauthorized")
    assert server.alive()


def test_wrong_methods_get_405_with_every_allowed_method(server: LiveServer) -> None:
    with server.client(headers=server.auth) as client:
        response = client.delete("/v1/ledger/ledgers")
        _problem(response, 405, "method-not-allowed")
        assert response.headers["allow"] == "GET, POST"
        response = client.get("/v1/ledger/main/holds/expire")
        _problem(response, 405, "method-not-allowed")
        assert response.headers["allow"] == "POST"


def test_the_docs_need_no_cdn(server: LiveServer) -> None:
    with server.client() as client:
        page = client.get("/docs").text
        assert "cdn" not in page.lower() and "/docs/assets/swagger-ui-bundle.js" in page
        assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
        assert "/docs/assets/redoc.standalone.js" in client.get("/redoc").text


def test_the_public_sign_in_routes_refuse_hostile_bodies_without_a_key(server: LiveServer) -> None:
    """/v1/auth/siwe and /v1/auth/refresh read bodies from anyone: the same guard applies to them."""
    json_headers = {"content-type": "application/json"}
    with server.client() as anonymous:
        for path in ("/v1/auth/siwe", "/v1/auth/refresh"):
            _problem(anonymous.post(path, content=b"[" * 100_000, headers=json_headers), 413, "payload-too-large")
            _problem(
                anonymous.post(path, content=b"[" * 1000 + b"]" * 1000, headers=json_headers), 400, "json-too-deep"
            )
            _problem(
                anonymous.post(path, content=b'{"x":1}', headers={"content-type": "text/plain"}),
                415,
                "unsupported-media-type",
            )
        message = "a wants you to sign in with your Ethereum account:\n" + "[" * 4000
        for body in (
            {"message": message, "signature": "0x00"},
            {"message": "\n" * 4096, "signature": "0x" + "00" * 65},
            {"message": "x\u0000y", "signature": "0x" + "00" * 65},
        ):
            _problem(anonymous.post("/v1/auth/siwe", json=body), 422, "siwe-message-malformed")
        raw = b'{"message": "\\ud800", "signature": "0x00"}'
        _problem(anonymous.post("/v1/auth/siwe", content=raw, headers=json_headers), 422, "request-validation")
        _problem(anonymous.get("/v1/me", headers={"Authorization": "Bearer " + "e" * 10_000}), 401, "unauthorized")
        _problem(anonymous.get("/v1/me", headers={"Authorization": "Bearer a.b.c"}), 401, "unauthorized")
    assert server.alive()


def test_the_api_key_routes_refuse_hostile_input(server: LiveServer) -> None:
    """POST /v1/api-keys: no key, a key without the admin's rights, or a hostile body: refused before use."""
    json_headers = {"content-type": "application/json"}
    with server.client() as anonymous:
        _problem(anonymous.post("/v1/api-keys", content=b"[" * 100_000, headers=json_headers), 401, "unauthorized")
        for token in ("kk_" + "x" * 10_000, "kk_", "kk_x y"):
            response = anonymous.get("/v1/api-keys", headers={"Authorization": f"Bearer {token}"})
            _problem(response, 401, "unauthorized")
    with server.client(headers=server.auth) as admin:
        deep = b'{"name": "x", "scopes": ' + b"[" * 1000 + b"]" * 1000 + b"}"
        _problem(admin.post("/v1/api-keys", content=deep, headers=json_headers), 400, "json-too-deep")
        raw = b'{"name": "\\ud800", "scopes": ["ledger:read"]}'
        _problem(admin.post("/v1/api-keys", content=raw, headers=json_headers), 422, "request-validation")
        for body in (
            {"name": "x\u0000", "scopes": ["ledger:read"]},
            {"name": "x" * 101, "scopes": ["ledger:read"]},
            {"name": "x", "scopes": ["ledger:read"] * 1000},
            {"name": "x", "scopes": ["ledger:read"], "expires_at": "99999-01-01T00:00:00Z"},
            {"name": "x", "scopes": ["ledger:read"], "extra": 1},
        ):
            _problem(admin.post("/v1/api-keys", json=body), 422, "request-validation")
        key = admin.post("/v1/api-keys", json={"name": "reader", "scopes": ["ledger:read"]}).json()["key"]
        with server.client(headers={"Authorization": f"Bearer {key}"}) as service:
            _problem(service.post("/v1/api-keys", content=b"[" * 100_000, headers=json_headers), 403, "forbidden")
            _problem(service.delete("/v1/api-keys/" + "0" * 32), 403, "forbidden")
        for path in ("/v1/api-keys/not-an-id", "/v1/api-keys/" + "A" * 32):
            _problem(admin.delete(path), 422, "request-validation")
        for params in ({"action": "x" * 65}, {"actor": "a\x00b"}, {"actor": "é"}, {"cursor": "!"}, {"limit": "1e9"}):
            _problem(admin.get("/v1/audit", params=params), 422, "request-validation")
    assert server.alive()


def test_the_server_is_still_alive_after_all_of_it(server: LiveServer, tmp_path: Path) -> None:
    assert server.alive(), server.log()[-3000:]
    assert "Traceback" not in server.log()


async def _admin(headers: object) -> Caller:
    return ADMIN


def test_a_route_can_set_its_own_body_limit() -> None:
    """`openapi_extra={BODY_LIMIT_EXTENSION: n}` overrides KOGI_MAX_BODY_BYTES for that route alone."""
    from fastapi import APIRouter, FastAPI
    from fastapi.testclient import TestClient

    from api.guard import BODY_LIMIT_EXTENSION, RequestGuard
    from api.problems import install_problem_handlers, send_problem

    app = FastAPI()
    install_problem_handlers(app)
    router = APIRouter(prefix="/v1")

    @router.post("/small", openapi_extra={BODY_LIMIT_EXTENSION: 64})
    def small(body: dict) -> dict:
        return {"size": len(body)}

    @router.post("/large")
    def large(body: dict) -> dict:
        return {"size": len(body)}

    app.include_router(router)
    app.add_middleware(
        RequestGuard,
        router=app.router,
        identify=_admin,
        rule_of=lambda method, path: OPEN,
        is_public=lambda path: True,
        max_body_bytes=4096,
        public_max_body_bytes=4096,
        write_problem=send_problem,
    )
    client = TestClient(app)
    body = {"text": "x" * 100}
    _problem(client.post("/v1/small", json=body), 413, "payload-too-large")
    assert client.post("/v1/large", json=body).status_code == 200
    assert client.post("/v1/small", json={"a": 1}).status_code == 200
