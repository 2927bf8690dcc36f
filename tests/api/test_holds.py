"""Two-phase transfers over HTTP: create, partial post, void, expire."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.api.conftest import assert_problem, fund

HOLDER = "holder:9:0x00000000000000000000000000000000000000ee"


def _hold(client: TestClient, ledger: str, key: str, units: str, **extra: object):
    body = {"from": HOLDER, "to": "round:r9:escrow", "asset": "USD", "amount_units": units, **extra}
    return client.post(f"/v1/ledger/{ledger}/holds", json=body, headers={"Idempotency-Key": key})


def _available(client: TestClient, ledger: str, account: str = HOLDER) -> str:
    return client.get(f"/v1/ledger/{ledger}/accounts/{account}/balances/USD").json()["available_units"]


def test_hold_reserves_then_partial_post_releases_the_rest(client: TestClient, ledger: str) -> None:
    fund(client, ledger, HOLDER, 1_000)
    created = _hold(client, ledger, "hold-1", "600", metadata={"order": "o-1"})
    assert created.status_code == 201, created.text
    hold = created.json()
    assert hold["status"] == "pending" and hold["from"] == HOLDER and hold["amount"] == "6.00"
    assert _available(client, ledger) == "400"
    assert _hold(client, ledger, "hold-1", "600", metadata={"order": "o-1"}).status_code == 200  # replay
    assert_problem(_hold(client, ledger, "hold-1", "601"), 409, "idempotency-conflict")
    assert_problem(_hold(client, ledger, "hold-2", "401"), 409, "overdraft")
    no_key = {"from": HOLDER, "to": "world:x", "asset": "USD", "amount_units": "1"}
    assert_problem(client.post(f"/v1/ledger/{ledger}/holds", json=no_key), 400, "idempotency-key-required")

    url = f"/v1/ledger/{ledger}/holds/{hold['id']}"
    assert_problem(client.post(f"{url}/post", json={"amount_units": "601"}), 422, "hold-amount-exceeded")
    posted = client.post(f"{url}/post", json={"amount": "2.50"})
    assert posted.status_code == 201, posted.text
    entry = posted.json()
    assert [p["amount_units"] for p in entry["postings"]] == ["250", "250"]
    assert entry["metadata"]["hold_id"] == hold["id"] and entry["metadata"]["order"] == "o-1"
    replay = client.post(f"{url}/post", json={"amount": "2.50"})
    assert replay.status_code == 200 and replay.json()["id"] == entry["id"]

    after = client.get(url).json()
    assert after["status"] == "posted" and after["posted_entry_id"] == entry["id"]
    balance = client.get(f"/v1/ledger/{ledger}/accounts/{HOLDER}/balances/USD").json()
    assert balance["posted_units"] == "750" and balance["available_units"] == "750"
    assert balance["debits_pending_units"] == "0"
    escrow = client.get(f"/v1/ledger/{ledger}/accounts/round:r9:escrow/balances/USD").json()
    assert escrow["posted_units"] == "250" and escrow["credits_pending_units"] == "0"
    assert_problem(client.post(f"{url}/void"), 409, "hold-not-pending")
    assert_problem(client.post(f"{url}/post", headers={"Idempotency-Key": "again"}), 409, "hold-not-pending")


def test_void_releases_the_hold(client: TestClient, ledger: str) -> None:
    fund(client, ledger, HOLDER, 500)
    hold = _hold(client, ledger, "void-me", "500").json()
    assert _available(client, ledger) == "0"
    voided = client.post(f"/v1/ledger/{ledger}/holds/{hold['id']}/void")
    assert voided.status_code == 200 and voided.json()["status"] == "voided"
    assert voided.json()["resolved_at"] is not None
    assert _available(client, ledger) == "500"
    assert client.post(f"/v1/ledger/{ledger}/holds/{hold['id']}/void").json()["status"] == "voided"  # idempotent
    assert_problem(client.post(f"/v1/ledger/{ledger}/holds/{hold['id']}/post"), 409, "hold-not-pending")
    assert_problem(client.get(f"/v1/ledger/{ledger}/holds/{'0' * 32}"), 404, "hold-not-found")
    assert_problem(client.get(f"/v1/ledger/{ledger}/holds/no-such-hold"), 404, "not-found")  # ids are 32 hex digits


def test_expire_sweep_releases_only_expired_holds(client: TestClient, ledger: str) -> None:
    fund(client, ledger, HOLDER, 900)
    soon = datetime.now(UTC) + timedelta(seconds=1)
    later = soon + timedelta(hours=1)
    short = _hold(client, ledger, "short", "300", expires_at=soon.isoformat()).json()
    long = _hold(client, ledger, "long", "300", expires_at=later.isoformat()).json()
    assert _available(client, ledger) == "300"

    url = f"/v1/ledger/{ledger}/holds/expire"
    # No caller can move the clock: a `now` in the far future is not a parameter of the sweep.
    forced = client.post(url, params={"now": "2099-01-01T00:00:00Z"})
    assert forced.status_code == 200 and forced.json() == {"expired": 0}
    assert client.get(f"/v1/ledger/{ledger}/holds/{short['id']}").json()["status"] == "pending"
    deadline = time.monotonic() + 10
    while (swept := client.post(url)).json() == {"expired": 0} and time.monotonic() < deadline:
        time.sleep(0.05)  # poll with a deadline until the server's clock passes `soon`
    assert swept.status_code == 200 and swept.json() == {"expired": 1}
    assert client.get(f"/v1/ledger/{ledger}/holds/{short['id']}").json()["status"] == "expired"
    assert client.get(f"/v1/ledger/{ledger}/holds/{long['id']}").json()["status"] == "pending"
    assert _available(client, ledger) == "600"


def test_posting_an_expired_hold_is_refused_before_the_sweep(client: TestClient, ledger: str) -> None:
    fund(client, ledger, HOLDER, 100)
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    assert_problem(_hold(client, ledger, "stale", "100", expires_at=past), 422, "expires-at-in-past")
    expires_at = datetime.now(UTC) + timedelta(milliseconds=100)
    hold = _hold(client, ledger, "stale", "100", expires_at=expires_at.isoformat()).json()
    while datetime.now(UTC) <= expires_at:  # the deadline passes; no sweep has run
        time.sleep(0.01)
    assert_problem(client.post(f"/v1/ledger/{ledger}/holds/{hold['id']}/post"), 409, "hold-expired")
    assert client.get(f"/v1/ledger/{ledger}/holds/{hold['id']}").json()["status"] == "pending"
    assert client.post(f"/v1/ledger/{ledger}/holds/expire").json() == {"expired": 1}
    assert _available(client, ledger) == "100"
