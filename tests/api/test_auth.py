"""The admin API key guards every /v1 route; /health and the docs are public."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from services.access import INVESTOR, PLATFORM_ADMIN, ROUTE_ACCESS
from tests.api.conftest import assert_problem

PUBLIC_PATHS = frozenset(path for (_, path), rule in ROUTE_ACCESS.items() if rule.public)


def _flat_routes(client: TestClient) -> list[Any]:
    """Every route of the app, through included routers (FastAPI >= 0.16x keeps them nested)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI flattens included routers into app.routes
        return list(client.app.routes)
    return list(iter_route_contexts(client.app.routes))


def _app_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, concrete path) for every route of the app, path parameters filled in."""
    found = []
    for route in _flat_routes(client):
        path = getattr(route, "path", None)
        methods = getattr(route, "methods", None) or set()
        if path is None:
            continue
        concrete = re.sub(r"\{[^}]+\}", "x:1", path)
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            found.append((method, concrete))
    return found


def test_every_non_public_route_rejects_a_missing_or_wrong_key(client: TestClient) -> None:
    bare = TestClient(client.app, raise_server_exceptions=False)  # no default Authorization header
    checked = 0
    for method, path in _app_routes(client):
        if path in PUBLIC_PATHS:
            continue
        missing = bare.request(method, path, json={})
        body = assert_problem(missing, 401, "unauthorized")
        assert missing.headers["www-authenticate"].startswith("Bearer"), (method, path)
        assert body["instance"] == path
        wrong = bare.request(method, path, json={}, headers={"Authorization": "Bearer not-the-key-at-all-0000"})
        assert_problem(wrong, 401, "unauthorized")
        basic = bare.request(method, path, json={}, headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
        assert_problem(basic, 401, "unauthorized")
        checked += 1
    assert checked >= 20, checked


def test_only_health_docs_and_sign_in_are_public(client: TestClient) -> None:
    """The access table's public routes; every other /v1 route admits the admin key (the bootstrap
    platform admin) except the wallet's own routes, which admit an access token only."""
    paths = {path for _, path in _app_routes(client)}
    public = {path for path in paths if not path.startswith("/v1/")}
    assert public <= PUBLIC_PATHS, public - PUBLIC_PATHS
    assert {path for path in PUBLIC_PATHS if path.startswith("/v1/")} == {
        "/v1/auth/nonce",
        "/v1/auth/siwe",
        "/v1/auth/refresh",
    }
    for (_, path), rule in ROUTE_ACCESS.items():
        if rule.public:
            continue
        if path in ("/v1/me", "/v1/auth/logout"):
            assert rule.allow == {INVESTOR} and rule.own_wallet, path
        else:
            assert PLATFORM_ADMIN in rule.allow, path


def test_health_is_public_and_reports_database_and_head(client: TestClient) -> None:
    response = TestClient(client.app).get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["reachable"] is True
    assert body["ledger"]["code"] == "main"
    assert isinstance(body["ledger"]["head_sequence"], int)


def test_default_ledger_is_bootstrapped_with_templates(client: TestClient) -> None:
    ledgers = client.get("/v1/ledger/ledgers").json()["items"]
    assert {"code": "main"} in ledgers
    templates = {t["pattern"]: t for t in client.get("/v1/ledger/main/account-templates").json()["items"]}
    assert templates["holder:*"] == {
        "pattern": "holder:*",
        "accounting_type": "liability",
        "no_overdraft": True,
        "priority": 100,
    }
    assert templates["platform:*"]["accounting_type"] == "income"
    assert templates["external:*"]["no_overdraft"] is False
    assert set(templates) >= {"round:*", "portfolio:*", "distribution:*", "chain:*", "world:*"}


def test_embedded_key_is_generated_once_with_private_permissions(tmp_path: Path) -> None:
    key_file = tmp_path / ".kogi" / "admin_api_key"
    settings = ApiSettings(
        database_url=f"sqlite:///{tmp_path}/kogi.db", admin_api_key=None, admin_api_key_file=key_file
    )
    app = create_app(settings)
    key = key_file.read_text().strip()
    assert len(key) >= 32
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    create_app(settings)  # second start reuses the same key
    assert key_file.read_text().strip() == key
    with TestClient(app) as client:
        assert client.get("/v1/ledger/ledgers", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert client.get("/v1/ledger/ledgers").status_code == 401


def test_distributed_mode_requires_an_explicit_key(tmp_path: Path) -> None:
    settings = ApiSettings(
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none",
        admin_api_key=None,
        admin_api_key_file=tmp_path / "key",
    )
    with pytest.raises(RuntimeError, match="KOGI_ADMIN_API_KEY"):
        create_app(settings)
    assert not (tmp_path / "key").exists()


def test_short_admin_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        ApiSettings(admin_api_key="short")


def test_health_is_503_when_the_database_does_not_answer(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    def unreachable(ledger: str) -> tuple[int, str]:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(client.app.state.store, "head", unreachable)
    response = TestClient(client.app).get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == {"reachable": False}
    assert response.json()["status"] == "unavailable"


def test_a_generated_admin_key_is_written_to_its_file_and_never_logged(tmp_path, caplog) -> None:
    """Logs are shipped and kept: the key lives in its 0600 file only."""
    import logging
    import stat

    from api.settings import load_or_generate_key

    path = tmp_path / "admin_api_key"
    with caplog.at_level(logging.DEBUG):
        key = load_or_generate_key(path)
        assert load_or_generate_key(path) == key
    assert path.read_text(encoding="utf-8").strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert str(path) in caplog.text
    assert key not in caplog.text
