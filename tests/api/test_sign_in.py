"""Sign-in with a wallet over HTTP (issue 11 §1) on SQLite and PostgreSQL: the exact route shapes, one
problem type per refusal, refresh rotation, logout, and the wall between access tokens and the
admin key (neither is accepted where the other is required)."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from tests.api.conftest import AUTH, assert_problem
from tests.api.test_auth import _app_routes
from tests.services.wallets import new_wallet, sign, siwe_message


def anonymous(client: TestClient) -> TestClient:
    return TestClient(client.app, raise_server_exceptions=False)


def sign_in(client: TestClient, **fields: object) -> tuple[str, dict]:
    """(the wallet's checksummed address, the token response) for a fresh wallet."""
    wallet = new_wallet()
    nonce = client.get("/v1/auth/nonce").json()["nonce"]
    message = siwe_message(wallet.address, nonce, **fields)  # type: ignore[arg-type]
    response = client.post("/v1/auth/siwe", json={"message": message, "signature": sign(wallet, message)})
    assert response.status_code == 200, response.text
    return wallet.address, response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_nonce_sign_in_me_refresh_logout(client: TestClient) -> None:
    web = anonymous(client)
    nonce = web.get("/v1/auth/nonce")
    assert nonce.status_code == 200 and nonce.headers["cache-control"] == "no-store"
    body = nonce.json()
    assert set(body) == {"nonce", "expires_at"} and len(body["nonce"]) == 32
    expires_at = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert timedelta(0) < expires_at - datetime.now(UTC) <= timedelta(minutes=10)

    wallet = new_wallet()
    message = siwe_message(wallet.address.lower(), body["nonce"])
    tokens = web.post("/v1/auth/siwe", json={"message": message, "signature": sign(wallet, message)})
    assert tokens.status_code == 200, tokens.text
    pair = tokens.json()
    assert set(pair) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert pair["token_type"] == "bearer" and 0 < pair["expires_in"] <= 900
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    assert claims["sub"] == wallet.address and claims["roles"] == ["investor"] and claims["tenant"] == "default"

    me = web.get("/v1/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json() == {"address": wallet.address, "roles": ["investor"], "tenant": "default", "portfolios": []}

    renewed = web.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert renewed.status_code == 200, renewed.text
    second = renewed.json()
    assert web.get("/v1/me", headers=bearer(second["access_token"])).json()["address"] == wallet.address

    assert web.post("/v1/auth/logout", headers=bearer(second["access_token"])).status_code == 204
    assert_problem(web.get("/v1/me", headers=bearer(second["access_token"])), 401, "unauthorized")
    assert_problem(
        web.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}), 401, "refresh-token-revoked"
    )
    assert_problem(web.post("/v1/auth/logout", headers=bearer(second["access_token"])), 401, "unauthorized")


def test_refusals_are_401_problems_with_distinct_types(client: TestClient) -> None:
    web = anonymous(client)
    wallet = new_wallet()

    def attempt(signer: object = None, **fields: object) -> object:
        message = siwe_message(wallet.address, web.get("/v1/auth/nonce").json()["nonce"], **fields)  # type: ignore[arg-type]
        return web.post("/v1/auth/siwe", json={"message": message, "signature": sign(signer or wallet, message)})  # type: ignore[arg-type]

    cases = {
        "siwe-domain-mismatch": attempt(domain="evil.example"),
        "siwe-uri-mismatch": attempt(uri="https://evil.example"),
        "siwe-chain-unsupported": attempt(chain_id=1),
        "siwe-message-expired": attempt(expiration_time=datetime.now(UTC) - timedelta(seconds=1)),
        "siwe-message-not-yet-valid": attempt(not_before=datetime.now(UTC) + timedelta(hours=1)),
        "siwe-signature-invalid": attempt(signer=new_wallet()),
    }
    for code, response in cases.items():
        body = assert_problem(response, 401, code)  # type: ignore[arg-type]
        assert body["instance"] == "/v1/auth/siwe"
    unknown = siwe_message(wallet.address, "f" * 32)
    assert_problem(
        web.post("/v1/auth/siwe", json={"message": unknown, "signature": sign(wallet, unknown)}),
        401,
        "siwe-nonce-unknown",
    )
    message = siwe_message(wallet.address, web.get("/v1/auth/nonce").json()["nonce"])
    body = {"message": message, "signature": sign(wallet, message)}
    assert web.post("/v1/auth/siwe", json=body).status_code == 200
    assert_problem(web.post("/v1/auth/siwe", json=body), 401, "siwe-nonce-used")
    assert_problem(web.post("/v1/auth/siwe", json={**body, "message": "hello"}), 422, "siwe-message-malformed")
    assert_problem(web.post("/v1/auth/siwe", json={**body, "signature": "0xzz"}), 422, "request-validation")
    assert_problem(web.post("/v1/auth/refresh", json={"refresh_token": "kr_" + "x" * 43}), 401, "refresh-token-invalid")


def test_refresh_reuse_revokes_the_family(client: TestClient) -> None:
    web = anonymous(client)
    _, first = sign_in(web)
    second = web.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}).json()
    reused = web.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_problem(reused, 401, "refresh-token-reused")
    assert_problem(
        web.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}), 401, "refresh-token-revoked"
    )
    assert_problem(web.get("/v1/me", headers=bearer(second["access_token"])), 401, "unauthorized")


def test_an_access_token_is_never_the_admin_key_and_the_admin_key_never_a_session(client: TestClient) -> None:
    web = anonymous(client)
    _, tokens = sign_in(web)
    checked = 0
    for method, path in _app_routes(client):
        if not path.startswith("/v1/ledger/"):
            continue
        response = web.request(method, path, json={}, headers=bearer(tokens["access_token"]))
        assert response.status_code in (401, 403, 404, 405), (method, path, response.text)  # 403 where routed
        checked += 1
    assert checked >= 20
    assert web.get("/v1/ledger/ledgers", headers=AUTH).status_code == 200  # the admin key still works there
    assert_problem(web.get("/v1/me", headers=AUTH), 403, "forbidden")  # a valid credential, not a wallet's
    assert_problem(web.post("/v1/auth/logout", headers=AUTH), 403, "forbidden")
    assert_problem(web.get("/v1/ledger/ledgers", headers=bearer(tokens["access_token"])), 403, "forbidden")


def test_sign_in_routes_are_public_with_the_public_body_limit(client: TestClient) -> None:
    web = anonymous(client)
    big = {"message": "x" * (65 * 1024), "signature": "0x00"}  # its own limit: 4096 characters as JSON escapes
    assert_problem(web.post("/v1/auth/siwe", json=big), 413, "payload-too-large")
    assert_problem(web.post("/v1/auth/refresh", json={"refresh_token": "x" * (17 * 1024)}), 413, "payload-too-large")
    # logout authenticates before it reads anything: no token, any body -> 401
    assert_problem(web.post("/v1/auth/logout", content=b"[" * 100_000), 401, "unauthorized")


def test_the_embedded_jwt_key_is_generated_once_privately(tmp_path: Path) -> None:
    key_file = tmp_path / ".kogi" / "jwt_keys"  # beside the admin key file by default
    settings = ApiSettings(
        database_url=f"sqlite:///{tmp_path}/kogi.db",
        admin_api_key="a" * 32,
        admin_api_key_file=tmp_path / ".kogi" / "admin_api_key",
        embedded_chain=False,
    )
    app = create_app(settings)
    line = key_file.read_text().strip()
    kid, _, secret = line.partition(":")
    assert kid and len(secret) >= 32
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    create_app(settings)
    assert key_file.read_text().strip() == line  # the second start reuses it
    with TestClient(app) as web:
        _, tokens = sign_in(web)
        assert jwt.get_unverified_header(tokens["access_token"])["kid"] == kid
        assert web.get("/v1/me", headers=bearer(tokens["access_token"])).status_code == 200
