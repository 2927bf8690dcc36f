"""The access matrix (issue 11 §2): every route of the app — the OpenAPI schema's and the others (docs,
schema) — called as anonymous, investor A and investor B (real EIP-4361 sign-ins through the routes),
an API key holding the route's scope, one without it, and the admin key; each answer checked against
THE table (services/access.py ROUTE_ACCESS): 401 for no credential, 403 for a credential the route does
not admit, anything but 401/403/5xx (a 2xx or the domain's 4xx) for one it admits. A route missing from
the table fails here, and `create_app` refuses to start with one."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from api.app import check_access_table
from api.route_table import route_entries
from services.access import (
    API_KEY_PREFIX,
    API_KEY_SCOPES,
    INVESTOR,
    LEDGER_READ,
    LEDGER_WRITE,
    PLATFORM_ADMIN,
    ROUTE_ACCESS,
    Caller,
    CallerKind,
    Refusal,
    Rule,
    decide,
)
from tests.api.conftest import AUTH, assert_problem, fund
from tests.services.wallets import new_wallet, sign, siwe_message


def _template_key(path: str) -> str:
    """A route template as the OpenAPI schema spells it (no `:convertor`)."""
    return re.sub(r"\{([^}:]+):[^}]+\}", r"{\1}", path)


def app_routes(client: TestClient) -> set[tuple[str, str]]:
    """(method, route template) of every route: the schema's operations and the routes outside it."""
    templates = {_template_key(entry.path): entry.path for entry in route_entries(client.app.routes)}
    found = set()
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        for method in operations:
            found.add((method.upper(), templates[path]))
    for entry in route_entries(client.app.routes):
        for method in entry.methods or {"GET"}:
            if method not in ("HEAD", "OPTIONS"):
                found.add((method, entry.path))
    return found


def test_every_route_is_in_the_table_and_nothing_else_is(client: TestClient) -> None:
    routes = app_routes(client)
    assert routes == set(ROUTE_ACCESS), {
        "missing from the table": sorted(routes - set(ROUTE_ACCESS)),
        "in the table but not routed": sorted(set(ROUTE_ACCESS) - routes),
    }


def test_the_app_refuses_to_start_with_a_route_missing_from_the_table(client: TestClient) -> None:
    from fastapi import FastAPI

    app = FastAPI()
    router = APIRouter()

    @router.get("/v1/undeclared")
    def undeclared() -> dict[str, str]:
        return {}

    app.include_router(router)
    with pytest.raises(RuntimeError, match="GET /v1/undeclared"):
        check_access_table(app)


def test_the_schema_scopes_are_the_table_scopes() -> None:
    from typing import get_args

    from api.schemas import ApiKeyScope

    assert set(get_args(ApiKeyScope)) == set(API_KEY_SCOPES)


@dataclass
class Callers:
    client: TestClient
    investor_a: str
    investor_b: str
    keys: dict[str, str]
    """scope -> an API key holding only that scope."""

    def sign_in(self, private_key: str) -> dict[str, str]:
        from eth_account import Account

        wallet = Account.from_key(private_key)
        nonce = self.client.get("/v1/auth/nonce").json()["nonce"]
        message = siwe_message(wallet.address, nonce)
        response = self.client.post("/v1/auth/siwe", json={"message": message, "signature": sign(wallet, message)})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _key(client: TestClient, *scopes: str) -> dict:
    response = client.post("/v1/api-keys", json={"name": f"matrix {'+'.join(scopes)}", "scopes": list(scopes)})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture()
def callers(client: TestClient) -> Callers:
    anonymous = TestClient(client.app, raise_server_exceptions=False)
    a, b = new_wallet(), new_wallet()
    keys = {scope: _key(client, scope)["key"] for scope in API_KEY_SCOPES}
    return Callers(anonymous, a.key.hex(), b.key.hex(), keys)


def _concrete(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{([^}:]+)(?::[^}]+)?\}", lambda match: values[match.group(1)], template)


def _expected_allowed(rule: Rule, kind: str, scope: str | None) -> bool:
    if rule.public:
        return True
    if kind == "investor":
        return INVESTOR in rule.allow
    if kind == "admin":
        return PLATFORM_ADMIN in rule.allow
    if kind == "api_key":
        return API_KEY_PREFIX + str(scope) in rule.allow
    return False


def test_every_route_answers_every_caller_as_the_table_says(client: TestClient, ledger: str, callers: Callers) -> None:
    entry = fund(client, ledger, "holder:31337:0x" + "ab" * 20, 500)
    hold = client.post(
        f"/v1/ledger/{ledger}/holds",
        headers={"Idempotency-Key": f"h-{uuid.uuid4().hex}"},
        json={"from": "holder:31337:0x" + "ab" * 20, "to": "round:m:escrow", "asset": "USD", "amount_units": "1"},
    )
    assert hold.status_code == 201, hold.text

    def values() -> dict[str, str]:
        victim = _key(client, LEDGER_READ)["id"]  # a DELETE revokes it, never a key the test uses
        return {
            "ledger": ledger,
            "code": "USD",
            "asset": "USD",
            "entry_id": entry["id"],
            "hold_id": hold.json()["id"],
            "key_id": victim,
        }

    web = callers.client
    checked: dict[str, int] = {}
    for (method, template), rule in sorted(ROUTE_ACCESS.items()):
        key_scopes = [scope for scope in API_KEY_SCOPES if API_KEY_PREFIX + scope in rule.allow]
        other_scope = next(scope for scope in API_KEY_SCOPES if scope not in key_scopes) if key_scopes else LEDGER_READ
        attempts: list[tuple[str, str | None, Callable[[], dict[str, str]]]] = [
            ("anonymous", None, dict),
            ("investor", "A", lambda: callers.sign_in(callers.investor_a)),
            ("investor", "B", lambda: callers.sign_in(callers.investor_b)),
            ("admin", None, lambda: dict(AUTH)),
            ("api_key", other_scope, lambda scope=other_scope: {"Authorization": f"Bearer {callers.keys[scope]}"}),  # type: ignore[misc]
        ]
        attempts += [
            ("api_key", scope, lambda scope=scope: {"Authorization": f"Bearer {callers.keys[scope]}"})  # type: ignore[misc]
            for scope in key_scopes
        ]
        for kind, detail, headers in attempts:
            path = _concrete(template, values())
            body = {} if method in ("POST", "DELETE") else None
            response = web.request(method, path, json=body, headers=headers())
            where = (method, template, kind, detail, response.status_code, response.text[:300])
            if _expected_allowed(rule, kind, detail):
                assert response.status_code not in (401, 403) and response.status_code < 500, where
            elif kind == "anonymous":
                assert_problem(response, 401, "unauthorized")
            else:
                assert response.status_code == 403, where
                assert_problem(response, 403, "forbidden")
            checked[kind] = checked.get(kind, 0) + 1
    assert checked["anonymous"] == len(ROUTE_ACCESS) >= 30, checked


def test_an_investor_reads_only_its_own_data(client: TestClient, callers: Callers) -> None:
    """GET /v1/me answers about the caller only; a route naming a wallet admits its owner only."""
    from eth_account import Account

    for private_key in (callers.investor_a, callers.investor_b):
        me = callers.client.get("/v1/me", headers=callers.sign_in(private_key))
        assert me.status_code == 200 and me.json()["address"] == Account.from_key(private_key).address

    a = Account.from_key(callers.investor_a).address
    b = Account.from_key(callers.investor_b).address
    own = Rule(frozenset({INVESTOR}), own_wallet=True)
    investor_a = Caller(CallerKind.INVESTOR, address=a)
    assert decide(own, investor_a, {"address": a}) is None
    assert decide(own, investor_a, {"address": a.lower()}) is None  # any letter case
    assert decide(own, investor_a, {"address": b}) is Refusal.FORBIDDEN
    assert decide(own, Caller(CallerKind.API_KEY, key_id="k", scopes=frozenset({LEDGER_WRITE})), {}) is (
        Refusal.FORBIDDEN
    )
    assert decide(own, Caller(CallerKind.ANONYMOUS), {"address": a}) is Refusal.UNAUTHENTICATED
