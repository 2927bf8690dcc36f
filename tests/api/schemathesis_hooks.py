"""Schemathesis hooks for tests/api/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

- `filter_failure`: a schema-valid request may still break a ledger rule that no JSON Schema can
  state (an unbalanced entry, more decimals than the asset's scale, a well-formed cursor this list
  never issued, two mutually exclusive query parameters). Those 422s carry their own documented
  problem type and are the API working as specified; every other rejection of schema-valid data
  (above all `request-validation`, meaning the schema and the server disagree) still fails the run.
- `map_case`: half of the schema-valid cases are pointed at real data seeded before the run
  (ledger `main`, asset USD, a funded holder, an entry, a hold), so every operation reaches its
  logic and not only its 404 (schemathesis' "use realistic data" hook). Schema-invalid cases are
  never touched: they must stay invalid. The sign-in routes get the same half as real wallets would
  send them: a freshly signed EIP-4361 message for /v1/auth/siwe, a live refresh token for
  /v1/auth/refresh.
- `WalletSession`: the credential of /v1/me and /v1/auth/logout is a wallet's access token (the admin
  key, which test_schemathesis.py sends to /v1/ledger/ only, is refused there): a fresh sign-in per
  case, since a logout ends the session.
- `EveryOperationReached`: the run fails if an operation never answered 2xx.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import schemathesis

DOMAIN_RULE_PROBLEMS = frozenset(
    {
        "unbalanced-entry",
        "invalid-amount",
        "invalid-cursor",
        "conflicting-parameters",
        "effective-at-out-of-range",
        "hold-amount-exceeded",
        "same-account",
        "expires-at-in-past",
        "siwe-message-malformed",
    }
)
"""422 problem types for ledger rules a schema cannot state (see PROBLEM_RESPONSES in api/problems.py)."""

SEED: dict[str, Any] = json.loads(os.environ.get("KOGI_SCHEMATHESIS_SEED", "{}"))


def _problem_code(response: Any) -> str:
    try:
        problem_type = json.loads(response.content).get("type", "")
    except (ValueError, AttributeError):
        return ""
    return str(problem_type).rsplit("/", 1)[-1]


@schemathesis.hook
def filter_failure(ctx: Any, failure: Any, case: Any, response: Any) -> bool:
    if getattr(failure, "code", "") == "ST202" and response.status_code == 422:
        return _problem_code(response) not in DOMAIN_RULE_PROBLEMS
    return True


def _positive(case: Any) -> bool:
    meta = getattr(case, "meta", None)
    generation = getattr(meta, "generation", None)
    mode = getattr(generation, "mode", None)
    return bool(mode is not None and mode.is_positive)


def _coin(case: Any) -> bool:
    """A deterministic half of the cases (same data, same choice: the run stays reproducible)."""
    text = repr((case.path_parameters, case.query, case.body))
    return hashlib.sha256(text.encode()).digest()[0] % 2 == 0


def _signed_in() -> dict[str, Any]:
    """A fresh wallet's token pair from the server under test (a real EIP-4361 sign-in)."""
    import httpx

    body = _signed_message()
    response = httpx.post(f"{SEED['base_url']}/v1/auth/siwe", json=body, timeout=30)
    response.raise_for_status()
    return dict(response.json())


def _signed_message() -> dict[str, str]:
    import httpx

    from tests.services.wallets import new_wallet, sign, siwe_message

    wallet = new_wallet()
    nonce = httpx.get(f"{SEED['base_url']}/v1/auth/nonce", timeout=30).json()["nonce"]
    message = siwe_message(wallet.address, nonce)
    return {"message": message, "signature": sign(wallet, message)}


def _map_sign_in(case: Any, path: str) -> None:
    if path == "/v1/auth/siwe":
        case.body = _signed_message()
    elif path == "/v1/auth/refresh":
        case.body = {"refresh_token": _signed_in()["refresh_token"]}


@schemathesis.hook
def map_case(ctx: Any, case: Any) -> Any:
    if not SEED or not _positive(case):
        return case
    path = case.operation.path
    if not _coin(case):
        return case
    if path.startswith("/v1/auth/"):
        _map_sign_in(case, path)
        return case
    params = dict(case.path_parameters or {})
    if "ledger" in params:
        params["ledger"] = SEED["ledger"]
    if "code" in params:
        params["code"] = SEED["asset"] if "/assets/" in path else SEED["account"]
    if "asset" in params:
        params["asset"] = SEED["asset"]
    if "entry_id" in params:
        params["entry_id"] = SEED["entry_id"]
    if "hold_id" in params:
        params["hold_id"] = SEED["hold_id"]
    if "key_id" in params:
        params["key_id"] = SEED["key_id"]
    case.path_parameters = params
    if path.endswith("/statement") and isinstance(case.query, dict):
        case.query = {**case.query, "asset": SEED["asset"]}
    body = case.body
    if isinstance(body, dict) and path.endswith("/entries") and isinstance(body.get("transfers"), list):
        for transfer in body["transfers"]:
            if isinstance(transfer, dict):
                transfer.update({"from": SEED["source"], "to": SEED["account"], "asset": SEED["asset"]})
    if isinstance(body, dict) and path.endswith("/holds") and "asset" in body:
        body.update({"from": SEED["account"], "to": SEED["escrow"], "asset": SEED["asset"]})
        body.pop("expires_at", None)
    return case


@schemathesis.auth(refresh_interval=None).apply_to(path=["/v1/me", "/v1/auth/logout"])
class WalletSession:
    def get(self, case: Any, ctx: Any) -> str:
        return str(_signed_in()["access_token"])

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schemathesis.auth(refresh_interval=None).apply_to(path_regex="^/v1/(api-keys|audit)")
class AdminKey:
    """The admin key on the API-key and audit routes (a config `headers` block there would reach /v1/me too)."""

    def get(self, case: Any, ctx: Any) -> str:
        return str(SEED["admin_authorization"])

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": data}


@schemathesis.check
class EveryOperationReached:
    """Fail the run if an operation never answered 2xx: it was not really exercised."""

    def __init__(self) -> None:
        self.tested: set[str] = set()
        self.reached: set[str] = set()

    def after_response(self, ctx: Any, response: Any, case: Any) -> None:
        label = case.operation.label
        self.tested.add(label)
        if 200 <= response.status_code < 300:
            self.reached.add(label)

    def after_run(self, ctx: Any) -> None:
        unreached = self.tested - self.reached
        if unreached:
            raise AssertionError("never answered 2xx: " + ", ".join(sorted(unreached)))
