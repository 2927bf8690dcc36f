"""API keys over HTTP (issue 11 §2) on SQLite and PostgreSQL: created by the admin and shown once,
stored as a SHA-256 digest only, scopes mapped onto /v1/ledger (GET reads, POST writes), last use
recorded at most once a minute, revoked and expired keys refused with their own problem types."""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.api_keys import API_KEYS, LAST_USED_RESOLUTION_MS
from tests.api.conftest import assert_problem, transfer


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def create_key(client: TestClient, *scopes: str, **fields: object) -> dict:
    response = client.post("/v1/api-keys", json={"name": "indexer service", "scopes": list(scopes), **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_key_is_shown_once_and_stored_as_a_digest(client: TestClient) -> None:
    expires_at = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    created = create_key(client, "ledger:read", "ledger:read", expires_at=expires_at.isoformat())
    assert set(created) == {"id", "key", "name", "scopes", "expires_at", "created_at"}
    assert created["key"].startswith("kk_") and len(created["key"]) >= 40
    assert created["scopes"] == ["ledger:read"] and created["name"] == "indexer service"
    assert datetime.fromisoformat(created["expires_at"]) == expires_at

    with client.app.state.database.read() as conn:
        row = conn.execute(select(API_KEYS).where(API_KEYS.c.key_id == created["id"])).one()
    assert row.key_sha256 == hashlib.sha256(created["key"].encode()).hexdigest()
    assert all(created["key"] not in str(value) for value in row)

    listed = {item["id"]: item for item in client.get("/v1/api-keys", params={"limit": 500}).json()["items"]}
    assert "key" not in listed[created["id"]]
    assert listed[created["id"]]["last_used_at"] is None and listed[created["id"]]["revoked_at"] is None


def test_scopes_map_onto_the_ledger_routes(client: TestClient, ledger: str) -> None:
    reader = create_key(client, "ledger:read")["key"]
    writer = create_key(client, "ledger:write")["key"]
    web = TestClient(client.app, raise_server_exceptions=False)
    entry = {"kind": "deposit", "transfers": [transfer("world:outside", "holder:31337:0x" + "cd" * 20, 5)]}
    idempotency = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}

    assert web.get(f"/v1/ledger/{ledger}/entries", headers=bearer(reader)).status_code == 200
    refused = web.post(f"/v1/ledger/{ledger}/entries", json=entry, headers={**bearer(reader), **idempotency})
    assert_problem(refused, 403, "forbidden")
    posted = web.post(f"/v1/ledger/{ledger}/entries", json=entry, headers={**bearer(writer), **idempotency})
    assert posted.status_code == 201, posted.text
    assert_problem(web.get(f"/v1/ledger/{ledger}/entries", headers=bearer(writer)), 403, "forbidden")
    for key in (reader, writer):  # no key manages keys, nor is a wallet
        assert_problem(web.get("/v1/api-keys", headers=bearer(key)), 403, "forbidden")
        assert_problem(web.post("/v1/api-keys", json={}, headers=bearer(key)), 403, "forbidden")
        assert_problem(web.get("/v1/me", headers=bearer(key)), 403, "forbidden")
    assert_problem(web.get("/v1/api-keys", headers=bearer("kk_" + "x" * 43)), 401, "unauthorized")


def test_revoked_and_expired_keys_get_their_own_401(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    web = TestClient(client.app, raise_server_exceptions=False)
    revoked = create_key(client, "ledger:read")
    assert web.get("/v1/ledger/ledgers", headers=bearer(revoked["key"])).status_code == 200
    first = client.delete(f"/v1/api-keys/{revoked['id']}")
    assert first.status_code == 200 and first.json()["revoked_at"] is not None
    again = client.delete(f"/v1/api-keys/{revoked['id']}")
    assert again.json()["revoked_at"] == first.json()["revoked_at"]  # revoking twice changes nothing
    response = web.get("/v1/ledger/ledgers", headers=bearer(revoked["key"]))
    assert_problem(response, 401, "api-key-revoked")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert_problem(client.delete(f"/v1/api-keys/{'0' * 32}"), 404, "api-key-not-found")

    expiring = create_key(client, "ledger:read", expires_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    assert web.get("/v1/ledger/ledgers", headers=bearer(expiring["key"])).status_code == 200
    service = client.app.state.api_keys
    monkeypatch.setattr(service, "clock", lambda: time.time() + 2 * 3600)
    assert_problem(web.get("/v1/ledger/ledgers", headers=bearer(expiring["key"])), 401, "api-key-expired")

    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    response = client.post("/v1/api-keys", json={"name": "late", "scopes": ["ledger:read"], "expires_at": past})
    assert_problem(response, 422, "expires-at-in-past")
    for bad in (
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["ledger:admin"]},
        {"name": "", "scopes": ["ledger:read"]},
    ):
        assert_problem(client.post("/v1/api-keys", json=bad), 422, "request-validation")


def test_last_use_is_recorded_at_most_once_a_minute(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    created = create_key(client, "ledger:read")
    web = TestClient(client.app, raise_server_exceptions=False)
    service = client.app.state.api_keys
    now = [time.time()]
    monkeypatch.setattr(service, "clock", lambda: now[0])

    def last_used() -> str | None:
        items = client.get("/v1/api-keys", params={"limit": 500}).json()["items"]
        return next(item["last_used_at"] for item in items if item["id"] == created["id"])

    assert web.get("/v1/ledger/ledgers", headers=bearer(created["key"])).status_code == 200
    first = last_used()
    assert first is not None
    now[0] += 30
    web.get("/v1/ledger/ledgers", headers=bearer(created["key"]))
    assert last_used() == first
    now[0] += LAST_USED_RESOLUTION_MS / 1000
    web.get("/v1/ledger/ledgers", headers=bearer(created["key"]))
    assert datetime.fromisoformat(last_used()) > datetime.fromisoformat(first)  # type: ignore[arg-type]


def test_keys_are_listed_in_creation_order_with_a_cursor(client: TestClient) -> None:
    ids = [create_key(client, "ledger:read")["id"] for _ in range(3)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/api-keys", params=params).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and seen[-3:] == ids
    assert_problem(client.get("/v1/api-keys", params={"cursor": "bm9wZQ"}), 422, "invalid-cursor")
