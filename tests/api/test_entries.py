"""Posting entries over HTTP: idempotency, strict amounts, typed problems, reversals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from fastapi.testclient import TestClient

from tests.api.conftest import assert_problem, fund, post_entry, transfer

MAX_UNITS = 2**256 - 1


def test_create_asset_and_account_then_read_them_back(client: TestClient, ledger: str) -> None:
    asset = client.post(
        f"/v1/ledger/{ledger}/assets",
        json={
            "code": "PTK:31337:0xabc",
            "scale": 18,
            "kind": "portfolio_token",
            "chain_id": 31337,
            "contract_address": "0xabc",
        },
    )
    assert asset.status_code == 201, asset.text
    assert client.get(f"/v1/ledger/{ledger}/assets/PTK:31337:0xabc").json()["scale"] == 18
    codes = [item["code"] for item in client.get(f"/v1/ledger/{ledger}/assets").json()["items"]]
    assert codes == ["PTK:31337:0xabc", "USD"]
    again = client.post(f"/v1/ledger/{ledger}/assets", json={"code": "USD", "scale": 2, "kind": "fiat"})
    assert again.status_code == 201  # idempotent re-create
    assert_problem(
        client.post(f"/v1/ledger/{ledger}/assets", json={"code": "USD", "scale": 6, "kind": "fiat"}),
        409,
        "already-exists",
    )

    # Account codes carry ':' and '/': path parameters must take them whole.
    code = "portfolio:p1:treasury"
    created = client.post(
        f"/v1/ledger/{ledger}/accounts",
        json={"code": code, "accounting_type": "liability", "no_overdraft": True, "metadata": {"label": "Treasury"}},
    )
    assert created.status_code == 201, created.text
    account = client.get(f"/v1/ledger/{ledger}/accounts/{code}").json()
    assert account == {
        "code": code,
        "accounting_type": "liability",
        "no_overdraft": True,
        "metadata": {"label": "Treasury"},
        "balances": [],
    }
    assert_problem(client.get(f"/v1/ledger/{ledger}/accounts/holder:1:0x{'0' * 40}"), 404, "account-not-found")
    assert_problem(client.get(f"/v1/ledger/{ledger}/assets/EUR"), 404, "asset-not-found")


def test_post_entry_201_then_replay_200_then_conflict_409(client: TestClient, ledger: str) -> None:
    body = {
        "kind": "investment",
        "metadata": {"round": "r1"},
        "transfers": [transfer("external:stripe", "round:r1:escrow", 10_000)],
    }
    first = post_entry(client, ledger, "inv-1", body)
    assert first.status_code == 201, first.text
    entry = first.json()
    assert entry["sequence"] >= 1 and entry["kind"] == "investment"
    assert entry["postings"] == [
        {"account": "external:stripe", "asset": "USD", "side": "debit", "amount_units": "10000", "amount": "100.00"},
        {"account": "round:r1:escrow", "asset": "USD", "side": "credit", "amount_units": "10000", "amount": "100.00"},
    ]
    replay = post_entry(client, ledger, "inv-1", body)
    assert replay.status_code == 200
    assert replay.json() == entry

    # The same amount given as a decimal string is the same request.
    as_decimal = {
        **body,
        "transfers": [{"from": "external:stripe", "to": "round:r1:escrow", "asset": "USD", "amount": "100.00"}],
    }
    assert post_entry(client, ledger, "inv-1", as_decimal).status_code == 200

    different = {**body, "transfers": [transfer("external:stripe", "round:r1:escrow", 10_001)]}
    problem = assert_problem(post_entry(client, ledger, "inv-1", different), 409, "idempotency-conflict")
    assert problem["instance"] == f"/v1/ledger/{ledger}/entries"

    fetched = client.get(f"/v1/ledger/{ledger}/entries/{entry['id']}")
    assert fetched.status_code == 200 and fetched.json() == entry


def test_missing_idempotency_key_is_a_400_problem(client: TestClient, ledger: str) -> None:
    response = client.post(
        f"/v1/ledger/{ledger}/entries", json={"kind": "transfer", "transfers": [transfer("world:a", "world:b", 1)]}
    )
    assert_problem(response, 400, "idempotency-key-required")
    bad_key = post_entry(
        client, ledger, "has space", {"kind": "transfer", "transfers": [transfer("world:a", "world:b", 1)]}
    )
    assert_problem(bad_key, 422, "request-validation")


def test_postings_form_and_unbalanced_entry(client: TestClient, ledger: str) -> None:
    balanced = {
        "kind": "fee",
        "postings": [
            {"account": "world:payer", "asset": "USD", "side": "debit", "amount_units": "300"},
            {"account": "platform:fees", "asset": "USD", "side": "credit", "amount_units": "100"},
            {"account": "portfolio:p1:treasury", "asset": "USD", "side": "credit", "amount": "2.00"},
        ],
    }
    yesterday_noon = (datetime.now(UTC) - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    local = yesterday_noon.astimezone(timezone(timedelta(hours=1)))  # the same moment written at +01:00
    dated = post_entry(client, ledger, "fee-1", {**balanced, "effective_at": local.isoformat()})
    assert dated.status_code == 201, dated.text
    assert dated.json()["effective_at"] == yesterday_noon.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [p["amount"] for p in dated.json()["postings"]] == ["3.00", "1.00", "2.00"]
    unbalanced = {
        "kind": "fee",
        "postings": [
            {"account": "world:payer", "asset": "USD", "side": "debit", "amount_units": "300"},
            {"account": "platform:fees", "asset": "USD", "side": "credit", "amount_units": "299"},
        ],
    }
    problem = assert_problem(post_entry(client, ledger, "fee-2", unbalanced), 422, "unbalanced-entry")
    assert problem["asset"] == "USD"
    assert_problem(client.get(f"/v1/ledger/{ledger}/entries/{'0' * 32}"), 404, "entry-not-found")
    assert_problem(client.get(f"/v1/ledger/{ledger}/entries/nope"), 404, "not-found")  # ids are 32 hex digits


def test_amounts_are_validated_strictly(client: TestClient, ledger: str) -> None:
    def attempt(key: str, leg: dict) -> dict:
        leg = {"from": "world:a", "to": "world:b", "asset": "USD", **leg}
        return post_entry(client, ledger, key, {"kind": "transfer", "transfers": [leg]})

    for key, leg in [
        ("float", {"amount_units": 12.5}),
        ("int", {"amount_units": 1250}),
        ("decimal-number", {"amount": 12.5}),
        ("negative", {"amount_units": "-1250"}),
        ("zero", {"amount_units": "0"}),
        ("leading-zero", {"amount_units": "01250"}),
        ("exponent", {"amount_units": "1e3"}),
        ("fraction-units", {"amount_units": "12.50"}),
        ("spaces", {"amount_units": " 1250"}),
        ("zero-decimal", {"amount": "0.00"}),
        ("both", {"amount_units": "1250", "amount": "12.50"}),
        ("neither", {}),
        ("signed-decimal", {"amount": "-12.50"}),
        ("decimal-exponent", {"amount": "1.25e1"}),
    ]:
        assert_problem(attempt(key, leg), 422, "request-validation")
    too_precise = assert_problem(attempt("precise", {"amount": "12.505"}), 422, "invalid-amount")
    assert "decimal places" in too_precise["detail"]
    # 78 digits fit the schema; the value is the ledger's rule (at most 2^256-1).
    assert_problem(attempt("too-big", {"amount_units": str(MAX_UNITS + 1)}), 422, "invalid-amount")
    assert_problem(attempt("unknown-asset", {"asset": "EUR", "amount_units": "1"}), 404, "asset-not-found")
    assert_problem(attempt("unknown-asset-decimal", {"asset": "EUR", "amount": "1.00"}), 404, "asset-not-found")
    # Nothing was written by any of the rejected requests.
    assert client.get(f"/v1/ledger/{ledger}/entries").json()["items"] == []


def test_other_bad_input_is_a_problem_never_a_500(client: TestClient, ledger: str) -> None:
    url = f"/v1/ledger/{ledger}/entries"
    not_json = client.post(
        url, content=b"{not json", headers={"Idempotency-Key": "k", "Content-Type": "application/json"}
    )
    assert_problem(not_json, 422, "request-validation")
    legs = [transfer("world:a", "world:b", 1)]
    for body in [
        {"kind": "transfer"},
        {"kind": "transfer", "transfers": legs, "postings": []},
        {"kind": "transfer", "transfers": legs, "unexpected": 1},
        {"kind": "transfer", "transfers": legs, "effective_at": "2026-01-01T00:00:00"},  # naive time
        {"kind": "transfer", "transfers": legs, "effective_at": 1_700_000_000},
        {"kind": "transfer", "transfers": [{**legs[0], "side": "debit"}]},
        {
            "kind": "transfer",
            "transfers": [{"from_account": "world:a", "to_account": "world:b", "asset": "USD", "amount_units": "1"}],
        },
    ]:
        assert_problem(post_entry(client, ledger, "bad", body), 422, "request-validation")
    for body in [
        {"kind": "Not A Slug", "transfers": legs},
        {"kind": "transfer", "transfers": legs, "metadata": {"ratio": 0.5}},
        {"kind": "transfer", "transfers": [transfer("bad code!", "world:b", 1)]},
    ]:
        assert_problem(post_entry(client, ledger, "bad", body), 422, "request-validation")
    assert_problem(client.get(f"/v1/ledger/{ledger}/entries", params={"cursor": "garbage"}), 422, "invalid-cursor")
    assert_problem(client.put(f"/v1/ledger/{ledger}/entries"), 405, "method-not-allowed")
    assert_problem(client.get("/v1/ledger/nowhere/at/all"), 404, "not-found")


def test_overdraft_is_a_409_problem_naming_the_account(client: TestClient, ledger: str) -> None:
    holder = "holder:1:0x00000000000000000000000000000000000000aa"
    fund(client, ledger, holder, 500)
    response = post_entry(
        client, ledger, "spend", {"kind": "transfer", "transfers": [transfer(holder, "world:shop", 501)]}
    )
    problem = assert_problem(response, 409, "overdraft")
    assert problem["account"] == holder and problem["asset"] == "USD"
    ok = post_entry(client, ledger, "spend", {"kind": "transfer", "transfers": [transfer(holder, "world:shop", 500)]})
    assert ok.status_code == 201


def test_largest_amount_round_trips_exactly_through_json(client: TestClient, ledger: str) -> None:
    asset = client.post(f"/v1/ledger/{ledger}/assets", json={"code": "WEI", "scale": 18, "kind": "native"})
    assert asset.status_code == 201
    holder = "holder:1:0x00000000000000000000000000000000000000bb"
    entry = fund(client, ledger, holder, MAX_UNITS, asset="WEI")
    assert entry["postings"][1]["amount_units"] == str(MAX_UNITS)
    digits = str(MAX_UNITS)
    assert entry["postings"][1]["amount"] == f"{digits[:-18]}.{digits[-18:]}"
    fetched = client.get(f"/v1/ledger/{ledger}/entries/{entry['id']}").json()
    assert int(fetched["postings"][0]["amount_units"]) == MAX_UNITS
    balance = client.get(f"/v1/ledger/{ledger}/accounts/{holder}/balances/WEI").json()
    assert balance["posted_units"] == str(MAX_UNITS) and balance["available_units"] == str(MAX_UNITS)
    # The decimal form of the same maximum is accepted too, and one more unit overflows the balance.
    more = post_entry(
        client,
        ledger,
        "more",
        {
            "kind": "transfer",
            "transfers": [{"from": "world:x", "to": holder, "asset": "WEI", "amount": "0.000000000000000001"}],
        },
    )
    assert_problem(more, 409, "balance-overflow")


def test_reversal_once_replay_then_conflict(client: TestClient, ledger: str) -> None:
    holder = "holder:2:0x00000000000000000000000000000000000000cc"
    original = fund(client, ledger, holder, 700)
    url = f"/v1/ledger/{ledger}/entries/{original['id']}/reversal"
    reversal = client.post(url, json={"reason": "chargeback"})
    assert reversal.status_code == 201, reversal.text
    body = reversal.json()
    assert body["kind"] == "reversal" and body["reverses_entry_id"] == original["id"]
    assert [p["side"] for p in body["postings"]] == ["credit", "debit"]
    assert body["metadata"] == {"reason": "chargeback"}
    # A retry of the same reversal (same derived key, same body) is a replay ...
    replay = client.post(url, json={"reason": "chargeback"})
    assert replay.status_code == 200 and replay.json()["id"] == body["id"]
    # ... but a second, different reversal is refused: an entry is reversed once.
    problem = assert_problem(client.post(url, headers={"Idempotency-Key": "second-try"}), 409, "already-reversed")
    assert problem["reversal_id"] == body["id"]
    # A different reason is another reversal, not a retry: the README promises already-reversed.
    assert_problem(client.post(url, json={"reason": "other"}), 409, "already-reversed")
    assert_problem(client.post(f"/v1/ledger/{ledger}/entries/{body['id']}/reversal"), 409, "not-reversible")
    balance = client.get(f"/v1/ledger/{ledger}/accounts/{holder}/balances/USD").json()
    assert balance["posted_units"] == "0"


def test_list_entries_by_sequence_with_cursor(client: TestClient, ledger: str) -> None:
    holder = "holder:3:0x00000000000000000000000000000000000000dd"
    posted = [fund(client, ledger, holder, units) for units in (1, 2, 3, 4, 5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"/v1/ledger/{ledger}/entries", params=params).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [entry["id"] for entry in posted]
    assert pages == 3


def test_unknown_ledger_is_a_404_problem(client: TestClient) -> None:
    for response in [
        client.get("/v1/ledger/no-such-ledger/assets"),
        client.get("/v1/ledger/no-such-ledger/trial-balance"),
        post_entry(
            client, "no-such-ledger", "k", {"kind": "transfer", "transfers": [transfer("world:a", "world:b", 1)]}
        ),
    ]:
        assert_problem(response, 404, "ledger-not-found")


def test_values_the_database_cannot_hold_are_problems_not_500s(client: TestClient, ledger: str) -> None:
    import base64

    fund(client, ledger, "holder:4:0x0000000000000000000000000000000000000001", 100)
    account_url = f"/v1/ledger/{ledger}/accounts/holder:4:0x0000000000000000000000000000000000000001"
    huge = str(10**30)
    huge_cursor = base64.urlsafe_b64encode(f"sequence:{huge}".encode()).decode()
    for response in [
        client.get(f"{account_url}/balances/USD", params={"as_of_sequence": huge}),
        client.get(f"/v1/ledger/{ledger}/trial-balance", params={"as_of_sequence": huge}),
        client.post(
            f"/v1/ledger/{ledger}/assets", json={"code": "X", "scale": 2, "kind": "native", "chain_id": 10**30}
        ),
        client.get(f"/v1/ledger/{ledger}/accounts", params={"prefix": "holder\x00"}),
        client.get(f"/v1/ledger/{ledger}%00/assets"),
        client.post("/v1/ledger/ledgers", json={"code": "named", "name": "bad\x00name"}),
    ]:
        assert_problem(response, 422, "request-validation")
    assert_problem(client.get(f"/v1/ledger/{ledger}/entries/abc%00def"), 404, "not-found")  # no route: ids are hex
    assert_problem(client.get(f"/v1/ledger/{ledger}/entries", params={"cursor": huge_cursor}), 422, "invalid-cursor")
    # The ledger's own statement cursor is opaque to the API; the safety net keeps it a 4xx.
    statement_cursor = base64.urlsafe_b64encode(f"{huge}:1".encode()).decode().rstrip("=")
    response = client.get(f"{account_url}/statement", params={"asset": "USD", "cursor": statement_cursor})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
