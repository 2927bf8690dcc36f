"""Balances (current and historical), statements, trial balance, verify, listings, docs."""
from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import assert_problem, fund, post_entry, transfer


def test_balance_current_and_as_of_sequence_and_time(client: TestClient, ledger: str) -> None:
    account = "holder:5:0x0000000000000000000000000000000000000001"
    url = f"/v1/ledger/{ledger}/accounts/{account}/balances/USD"
    first = fund(client, ledger, account, 1_000)
    second = fund(client, ledger, account, 250)
    current = client.get(url).json()
    assert current["posted_units"] == "1250" and current["posted"] == "12.50"
    assert current["version"] == 2 and current["as_of_sequence"] is None

    at_first = client.get(url, params={"as_of_sequence": first["sequence"]}).json()
    assert at_first["posted_units"] == "1000" and at_first["as_of_sequence"] == first["sequence"]
    by_time = client.get(url, params={"as_of": first["recorded_at"]}).json()
    assert by_time["posted_units"] == ("1000" if second["recorded_at"] != first["recorded_at"] else "1250")
    before = client.get(url, params={"as_of": "2000-01-01T00:00:00Z"}).json()
    assert before["posted_units"] == "0" and before["as_of_sequence"] == 0
    assert_problem(client.get(url, params={"as_of": "yesterday"}), 422, "request-validation")
    assert_problem(client.get(url, params={"as_of": "1700000000"}), 422, "request-validation")
    assert_problem(client.get(url, params={"as_of_sequence": 1, "as_of": first["recorded_at"]}),
                   422, "conflicting-parameters")
    assert_problem(client.get(f"/v1/ledger/{ledger}/accounts/{account}/balances/EUR"), 404, "asset-not-found")

    # The account read shows the same balance in every asset it holds.
    read = client.get(f"/v1/ledger/{ledger}/accounts/{account}").json()
    assert [(b["asset"], b["posted_units"]) for b in read["balances"]] == [("USD", "1250")]


def test_statement_pages_with_running_balance(client: TestClient, ledger: str) -> None:
    account = "portfolio:p.7:revenue"  # ':' and '.' inside a path parameter (codes have no '/')
    amounts = [100, 200, 300, 400, 500]
    for units in amounts:
        fund(client, ledger, account, units)
    spend = post_entry(client, ledger, "spend-1",
                       {"kind": "payout", "transfers": [transfer(account, "world:payee", 150)]})
    assert spend.status_code == 201

    url = f"/v1/ledger/{ledger}/accounts/{account}/statement"
    lines, cursors, openings = [], [], []
    cursor = None
    while True:
        params = {"asset": "USD", "limit": 2, **({"cursor": cursor} if cursor else {})}
        response = client.get(url, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        lines += page["lines"]
        openings.append(page["opening_balance_units"])
        cursor = page["next_cursor"]
        cursors.append(cursor)
        if cursor is None:
            break
    assert len(cursors) == 3 and cursors[-1] is None and None not in cursors[:-1]
    assert [line["amount_units"] for line in lines] == ["100", "200", "300", "400", "500", "150"]
    assert [line["side"] for line in lines] == ["credit"] * 5 + ["debit"]
    assert [line["balance_after_units"] for line in lines] == ["100", "300", "600", "1000", "1500", "1350"]
    assert lines[-1]["balance_after"] == "13.50"
    assert openings == ["0", "300", "1000"]

    empty = client.get(url, params={"asset": "USD", "start": "2000-01-01T00:00:00Z",
                                    "end": "2000-01-02T00:00:00Z"}).json()
    assert empty["lines"] == [] and empty["next_cursor"] is None
    assert_problem(client.get(url, params={"asset": "USD", "cursor": "@@@"}), 422, "request-validation")
    assert_problem(client.get(url), 422, "request-validation")  # asset is required


def test_trial_balance_balances_and_as_of(client: TestClient, ledger: str) -> None:
    first = fund(client, ledger, "holder:6:0x0000000000000000000000000000000000000002", 1_000)
    post_entry(client, ledger, "fee", {"kind": "fee", "transfers": [transfer("holder:6:0x0000000000000000000000000000000000000002", "platform:fees", 30)]})
    report = client.get(f"/v1/ledger/{ledger}/trial-balance").json()
    assert report["balanced"] is True and report["as_of_sequence"] == first["sequence"] + 1
    assert report["totals"] == [{"asset": "USD", "debits_units": "1030", "credits_units": "1030", "balanced": True}]
    rows = {(row["asset"], row["accounting_type"]): row for row in report["rows"]}
    assert rows[("USD", "income")]["credits_units"] == "30" and rows[("USD", "income")]["credits"] == "0.30"
    assert rows[("USD", "equity")]["debits_units"] == "1000"

    earlier = client.get(f"/v1/ledger/{ledger}/trial-balance", params={"as_of_sequence": first["sequence"]}).json()
    assert earlier["as_of_sequence"] == first["sequence"]
    assert earlier["totals"][0]["debits_units"] == "1000"
    assert ("USD", "income") not in {(row["asset"], row["accounting_type"]) for row in earlier["rows"]}


def test_verify_reports_a_sound_chain(client: TestClient, ledger: str) -> None:
    fund(client, ledger, "holder:7:0x0000000000000000000000000000000000000003", 10)
    fund(client, ledger, "holder:7:0x0000000000000000000000000000000000000003", 20)
    report = client.get(f"/v1/ledger/{ledger}/verify").json()
    assert report == {"ledger": ledger, "ok": True, "entries_checked": 2, "first_bad_sequence": None,
                      "first_bad_entry_id": None, "reason": None, "balance_mismatches": []}


def test_accounts_list_by_prefix_with_cursor(client: TestClient, ledger: str) -> None:
    codes = [f"holder:8:0x{index:040d}" for index in range(5)]
    for code in codes:
        response = client.post(f"/v1/ledger/{ledger}/accounts",
                               json={"code": code, "accounting_type": "liability", "no_overdraft": True})
        assert response.status_code == 201
    client.post(f"/v1/ledger/{ledger}/accounts", json={"code": "platform:fees", "accounting_type": "income"})
    seen, cursor, pages = [], None, 0
    while True:
        params = {"prefix": "holder:8:", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"/v1/ledger/{ledger}/accounts", params=params).json()
        seen += [item["code"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == codes and pages == 3
    everything = [item["code"] for item in client.get(f"/v1/ledger/{ledger}/accounts").json()["items"]]
    assert everything == [*codes, "platform:fees"]
    assert_problem(client.get(f"/v1/ledger/{ledger}/accounts", params={"limit": 0}), 422, "request-validation")
    assert_problem(client.post(f"/v1/ledger/{ledger}/accounts",
                               json={"code": "platform:fees", "accounting_type": "expense"}), 409, "already-exists")


def test_ledgers_and_templates(client: TestClient) -> None:
    created = client.post("/v1/ledger/ledgers", json={"code": "tenant-a", "name": "Tenant A"})
    assert created.status_code == 201 and created.json() == {"code": "tenant-a"}
    assert {"code": "tenant-a"} in client.get("/v1/ledger/ledgers").json()["items"]
    assert_problem(client.post("/v1/ledger/ledgers", json={"code": "a/b"}), 422, "request-validation")
    template = client.post("/v1/ledger/tenant-a/account-templates",
                           json={"pattern": "user:*", "accounting_type": "liability", "no_overdraft": True})
    assert template.status_code == 201
    assert_problem(client.post("/v1/ledger/tenant-a/account-templates",
                               json={"pattern": "user:*", "accounting_type": "asset", "no_overdraft": False}),
                   409, "already-exists")
    assert [t["pattern"] for t in client.get("/v1/ledger/tenant-a/account-templates").json()["items"]] == ["user:*"]


def test_openapi_and_docs_render(client: TestClient) -> None:
    schema = client.get("/openapi.json")
    assert schema.status_code == 200
    document = schema.json()
    paths = document["paths"]
    assert "/v1/ledger/{ledger}/entries" in paths and "/health" in paths
    assert "/v1/ledger/{ledger}/accounts/{code}/balances/{asset}" in paths
    post_entry_op = paths["/v1/ledger/{ledger}/entries"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in post_entry_op["parameters"])
    assert "409" in post_entry_op["responses"] and "application/problem+json" in post_entry_op["responses"]["409"]["content"]
    assert post_entry_op["security"]
    assert "security" not in paths["/health"]["get"]
    units = document["components"]["schemas"]["PostingIn"]["properties"]["amount_units"]
    assert "pattern" in str(units)
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
