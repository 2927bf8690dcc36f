"""Balances (current and historical), statements, trial balance, verify, listings, docs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
    assert_problem(
        client.get(url, params={"as_of_sequence": 1, "as_of": first["recorded_at"]}), 422, "conflicting-parameters"
    )
    assert_problem(client.get(f"/v1/ledger/{ledger}/accounts/{account}/balances/EUR"), 404, "asset-not-found")

    # The account read shows the same balance in every asset it holds.
    read = client.get(f"/v1/ledger/{ledger}/accounts/{account}").json()
    assert [(b["asset"], b["posted_units"]) for b in read["balances"]] == [("USD", "1250")]


def test_statement_pages_with_running_balance(client: TestClient, ledger: str) -> None:
    account = "portfolio:p.7:revenue"  # ':' and '.' inside a path parameter (codes have no '/')
    amounts = [100, 200, 300, 400, 500]
    for units in amounts:
        fund(client, ledger, account, units)
    spend = post_entry(
        client, ledger, "spend-1", {"kind": "payout", "transfers": [transfer(account, "world:payee", 150)]}
    )
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

    empty = client.get(
        url, params={"asset": "USD", "start": "2000-01-01T00:00:00Z", "end": "2000-01-02T00:00:00Z"}
    ).json()
    assert empty["lines"] == [] and empty["next_cursor"] is None
    assert_problem(client.get(url, params={"asset": "USD", "cursor": "@@@"}), 422, "request-validation")
    assert_problem(client.get(url), 422, "request-validation")  # asset is required


def test_trial_balance_balances_and_as_of(client: TestClient, ledger: str) -> None:
    holder = "holder:6:0x0000000000000000000000000000000000000002"
    first = fund(client, ledger, holder, 1_000)
    post_entry(client, ledger, "fee", {"kind": "fee", "transfers": [transfer(holder, "platform:fees", 30)]})
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
    assert report == {
        "ledger": ledger,
        "ok": True,
        "entries_checked": 2,
        "first_bad_sequence": None,
        "first_bad_entry_id": None,
        "reason": None,
        "balance_mismatches": [],
    }


def test_accounts_list_by_prefix_with_cursor(client: TestClient, ledger: str) -> None:
    codes = [f"holder:8:0x{index:040d}" for index in range(5)]
    for code in codes:
        response = client.post(
            f"/v1/ledger/{ledger}/accounts", json={"code": code, "accounting_type": "liability", "no_overdraft": True}
        )
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
    assert_problem(
        client.post(f"/v1/ledger/{ledger}/accounts", json={"code": "platform:fees", "accounting_type": "expense"}),
        409,
        "already-exists",
    )


def test_ledgers_and_templates(client: TestClient) -> None:
    created = client.post("/v1/ledger/ledgers", json={"code": "tenant-a", "name": "Tenant A"})
    assert created.status_code == 201 and created.json() == {"code": "tenant-a"}
    assert {"code": "tenant-a"} in client.get("/v1/ledger/ledgers").json()["items"]
    assert_problem(client.post("/v1/ledger/ledgers", json={"code": "a/b"}), 422, "request-validation")
    template = client.post(
        "/v1/ledger/tenant-a/account-templates",
        json={"pattern": "user:*", "accounting_type": "liability", "no_overdraft": True},
    )
    assert template.status_code == 201
    assert_problem(
        client.post(
            "/v1/ledger/tenant-a/account-templates",
            json={"pattern": "user:*", "accounting_type": "asset", "no_overdraft": False},
        ),
        409,
        "already-exists",
    )
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
    responses = post_entry_op["responses"]
    assert "409" in responses and "application/problem+json" in responses["409"]["content"]
    assert post_entry_op["security"]
    assert "security" not in paths["/health"]["get"]
    units = document["components"]["schemas"]["PostingIn"]["properties"]["amount_units"]
    assert "pattern" in str(units)
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_reports_by_effective_time(client: TestClient, ledger: str) -> None:
    """Issue 8 (8): back-dated entries land in their period; the as-of modes exclude each other."""
    account = "holder:11:0x00000000000000000000000000000000000000b1"
    now = datetime.now(UTC)
    day = timedelta(days=1)

    def dated(
        key: str, units: int, effective: datetime | None, source: str = "world:outside", target: str = account
    ) -> dict:
        body: dict = {"kind": "transfer", "transfers": [transfer(source, target, units)]}
        if effective is not None:
            body["effective_at"] = _iso(effective)
        response = post_entry(client, ledger, key, body)
        assert response.status_code == 201, response.text
        return response.json()

    dated("e1", 100, now - 30 * day)
    dated("e2", 50, None)
    dated("e3", 20, now - 10 * day, source=account, target="world:shop")
    last = dated("e4", 7, now - 40 * day)  # recorded last, effective first

    url = f"/v1/ledger/{ledger}/accounts/{account}/balances/USD"
    at = client.get(url, params={"effective_as_of": _iso(now - 20 * day)}).json()
    assert (at["posted_units"], at["posted"], at["as_of_sequence"]) == ("107", "1.07", last["sequence"])
    assert client.get(url, params={"effective_as_of": _iso(now - 10 * day)}).json()["posted_units"] == "87"
    assert client.get(url, params={"effective_as_of": _iso(now - 41 * day)}).json()["posted_units"] == "0"

    statement = f"/v1/ledger/{ledger}/accounts/{account}/statement"
    window = {"asset": "USD", "effective_start": _iso(now - 35 * day), "effective_end": _iso(now - 5 * day)}
    page = client.get(statement, params=window).json()
    assert page["opening_balance_units"] == "7"
    assert [(line["amount_units"], line["side"], line["balance_after_units"]) for line in page["lines"]] == [
        ("100", "credit", "107"),
        ("20", "debit", "87"),
    ]
    first = client.get(statement, params={**window, "limit": 1}).json()
    second = client.get(statement, params={**window, "limit": 1, "cursor": first["next_cursor"]}).json()
    assert (first["opening_balance_units"], second["opening_balance_units"]) == ("7", "107")
    assert [line["balance_after_units"] for line in first["lines"] + second["lines"]] == ["107", "87"]

    trial = client.get(f"/v1/ledger/{ledger}/trial-balance", params={"effective_as_of": _iso(now - 20 * day)}).json()
    assert trial["as_of_sequence"] == last["sequence"] and trial["balanced"] is True
    assert trial["totals"] == [{"asset": "USD", "debits_units": "107", "credits_units": "107", "balanced": True}]

    moment = _iso(now)
    for response in (
        client.get(url, params={"effective_as_of": moment, "as_of_sequence": 1}),
        client.get(url, params={"effective_as_of": moment, "as_of": moment}),
        client.get(statement, params={"asset": "USD", "start": moment, "effective_end": moment}),
        client.get(statement, params={"asset": "USD", "end": moment, "effective_start": moment}),
        client.get(f"/v1/ledger/{ledger}/trial-balance", params={"effective_as_of": moment, "as_of_sequence": 1}),
    ):
        assert_problem(response, 422, "conflicting-parameters")
    assert_problem(client.get(url, params={"effective_as_of": "2026-01-01T00:00:00"}), 422, "request-validation")


def test_effective_at_outside_the_accepted_range_is_a_422_problem(client: TestClient, ledger: str) -> None:
    """Accepted: from the ledger's creation minus the back-dating window (400 days) to the recorded
    time plus 5 minutes."""
    account = "holder:12:0x00000000000000000000000000000000000000b2"
    legs = [transfer("world:outside", account, 5)]
    now = datetime.now(UTC)
    for moment in (
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        _iso(now - timedelta(days=401)),
        _iso(now + timedelta(minutes=6)),
    ):
        problem = assert_problem(
            post_entry(client, ledger, "dated", {"kind": "transfer", "transfers": legs, "effective_at": moment}),
            422,
            "effective-at-out-of-range",
        )
        earliest, latest = (datetime.fromisoformat(problem[key]) for key in ("earliest", "latest"))
        assert now - timedelta(days=401) < earliest < now - timedelta(days=399)
        assert now + timedelta(minutes=4) < latest < now + timedelta(minutes=10)
    assert client.get(f"/v1/ledger/{ledger}/accounts/{account}").status_code == 404  # nothing written
    entry = post_entry(
        client,
        ledger,
        "dated",
        {"kind": "transfer", "transfers": legs, "effective_at": _iso(now - timedelta(days=399))},
    )
    assert entry.status_code == 201, entry.text
    url = f"/v1/ledger/{ledger}/entries/{entry.json()['id']}/reversal"
    assert_problem(client.post(url, json={"effective_at": "2000-01-01T00:00:00Z"}), 422, "effective-at-out-of-range")
    assert client.post(url, json={"effective_at": _iso(now - timedelta(days=1))}).status_code == 201


def test_holder_addresses_in_any_case_name_one_account(client: TestClient, ledger: str) -> None:
    """Issue 8 (5): holder codes are `holder:<chain id>:0x<40 hex>`, stored in lower case."""
    checksummed = "holder:31337:0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    entry = fund(client, ledger, checksummed, 300)
    assert entry["postings"][1]["account"] == checksummed.lower()
    for spelling in (checksummed, checksummed.lower()):
        assert client.get(f"/v1/ledger/{ledger}/accounts/{spelling}").json()["code"] == checksummed.lower()
        balance = client.get(f"/v1/ledger/{ledger}/accounts/{spelling}/balances/USD")
        assert balance.status_code == 200 and balance.json()["posted_units"] == "300"
        lines = client.get(f"/v1/ledger/{ledger}/accounts/{spelling}/statement", params={"asset": "USD"}).json()
        assert [line["amount_units"] for line in lines["lines"]] == ["300"]
    for bad in ("holder:31337:0xA11CE", "holder:31337:0x" + "g" * 40, "holder:alice"):
        response = post_entry(
            client, ledger, f"bad-{bad}", {"kind": "transfer", "transfers": [transfer("world:outside", bad, 1)]}
        )
        assert response.status_code == 422, response.text
        assert client.get(f"/v1/ledger/{ledger}/accounts/{bad}/balances/USD").status_code == 422


def test_rejected_entries_open_no_account(client: TestClient, ledger: str) -> None:
    """Issue 8 (5): a 422 or 409 entry leaves no trace, not even its template accounts."""
    rich, fresh = (f"holder:13:0x{digit * 40}" for digit in "cd")
    fund(client, ledger, rich, 100)
    before = client.get(f"/v1/ledger/{ledger}/accounts", params={"limit": 100}).json()["items"]
    unbalanced = {
        "kind": "transfer",
        "postings": [
            {"account": rich, "asset": "USD", "side": "debit", "amount_units": "10"},
            {"account": fresh, "asset": "USD", "side": "credit", "amount_units": "9"},
        ],
    }
    assert_problem(post_entry(client, ledger, "u", unbalanced), 422, "unbalanced-entry")
    assert_problem(
        post_entry(client, ledger, "o", {"kind": "transfer", "transfers": [transfer(rich, fresh, 101)]}),
        409,
        "overdraft",
    )
    assert_problem(
        post_entry(client, ledger, "o2", {"kind": "transfer", "transfers": [transfer(fresh, rich, 1)]}),
        409,
        "overdraft",
    )
    assert client.get(f"/v1/ledger/{ledger}/accounts", params={"limit": 100}).json()["items"] == before
    assert_problem(client.get(f"/v1/ledger/{ledger}/accounts/{fresh}"), 404, "account-not-found")


def test_account_codes_have_no_slash(client: TestClient, ledger: str) -> None:
    """Issue 8 (6): a code is one path segment, so `…/accounts/{code}/balances/{asset}` is unambiguous."""
    response = post_entry(
        client,
        ledger,
        "slash",
        {"kind": "transfer", "transfers": [transfer("world:outside", "portfolio:p/7:revenue", 1)]},
    )
    assert response.status_code == 422, response.text
    assert client.get(f"/v1/ledger/{ledger}/accounts/portfolio:p/7:revenue/balances/USD").status_code == 404
