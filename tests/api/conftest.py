"""One API app per backend (SQLite file, real PostgreSQL) for the module; each test gets its
own fresh ledger, so tests stay independent without paying for migrations every time."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from ledger.chart import DEFAULT_ACCOUNT_TEMPLATES
from tests.services.wallets import TEST_JWT_KEYS

ADMIN_KEY = "test-admin-key-" + "k" * 24
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('api')}/kogi.db"
    server = request.getfixturevalue("postgres_server")
    return server.create_database(f"kogi_api_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="module")
def settings(backend_url: str, tmp_path_factory: pytest.TempPathFactory) -> ApiSettings:
    return ApiSettings(
        database_url=backend_url,
        admin_api_key=ADMIN_KEY,
        admin_api_key_file=Path(tmp_path_factory.mktemp("key")) / "admin_api_key",
        jwt_keys=TEST_JWT_KEYS,
        embedded_chain=False,
    )


@pytest.fixture(autouse=True)
def _no_embedded_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps built from ApiSettings() in these tests start no anvil (tests/test_demo.py runs the full stack)."""
    monkeypatch.setenv("KOGI_EMBEDDED_CHAIN", "false")


@pytest.fixture(scope="module")
def client(settings: ApiSettings) -> Iterator[TestClient]:
    """An authenticated client (admin key sent by default) on a started app."""
    with TestClient(create_app(settings), headers=AUTH, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture()
def ledger(client: TestClient) -> str:
    """A fresh ledger with the default account templates and USD (scale 2) registered."""
    code = f"t{uuid.uuid4().hex[:12]}"
    assert client.post("/v1/ledger/ledgers", json={"code": code}).status_code == 201
    for pattern, accounting_type, no_overdraft in DEFAULT_ACCOUNT_TEMPLATES:
        response = client.post(
            f"/v1/ledger/{code}/account-templates",
            json={"pattern": pattern, "accounting_type": accounting_type.value, "no_overdraft": no_overdraft},
        )
        assert response.status_code == 201, response.text
    response = client.post(f"/v1/ledger/{code}/assets", json={"code": "USD", "scale": 2, "kind": "fiat"})
    assert response.status_code == 201, response.text
    return code


def transfer(source: str, target: str, units: str | int, asset: str = "USD") -> dict:
    return {"from": source, "to": target, "asset": asset, "amount_units": str(units)}


def post_entry(client: TestClient, ledger: str, key: str, body: dict) -> httpx.Response:
    return client.post(f"/v1/ledger/{ledger}/entries", json=body, headers={"Idempotency-Key": key})


def fund(client: TestClient, ledger: str, account: str, units: int, asset: str = "USD", key: str | None = None) -> dict:
    """Move `units` from the outside world into `account`; returns the entry."""
    response = post_entry(
        client,
        ledger,
        key or f"fund-{uuid.uuid4().hex}",
        {"kind": "transfer", "transfers": [transfer("world:outside", account, units, asset)]},
    )
    assert response.status_code == 201, response.text
    return response.json()


def assert_problem(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["type"] == f"https://kogi.dev/problems/{code}", body
    assert body["status"] == status
    assert body["title"]
    return body
