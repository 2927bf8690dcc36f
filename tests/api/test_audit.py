"""GET /v1/audit (issue 11 §4) on SQLite and PostgreSQL: the API-key routes leave their audit records, with
the caller, the request id and the client address; filters and the cursor walk them in chain order."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import assert_problem


def test_api_key_actions_are_in_the_audit_log(client: TestClient) -> None:
    created = client.post(
        "/v1/api-keys", json={"name": "audited", "scopes": ["ledger:read"]}, headers={"X-Request-ID": "req-audit-1"}
    ).json()
    assert client.delete(f"/v1/api-keys/{created['id']}").status_code == 200
    target = f"api_key:{created['id']}"

    records = []
    cursor = None
    while True:
        params = {"limit": 2, "actor": "platform_admin", **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/audit", params=params).json()
        records += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    mine = [record for record in records if record["target"] == target]
    assert [record["action"] for record in mine] == ["api_key.created", "api_key.revoked"]
    assert mine[0]["request_id"] == "req-audit-1" and mine[0]["ip"] == "testclient"
    assert mine[0]["after"]["name"] == "audited" and created["key"] not in str(mine)
    assert [record["sequence"] for record in records] == sorted(record["sequence"] for record in records)
    revoked = client.get("/v1/audit", params={"action": "api_key.revoked", "limit": 500}).json()["items"]
    assert target in {record["target"] for record in revoked}
    assert all(record["action"] == "api_key.revoked" for record in revoked)
    assert_problem(client.get("/v1/audit", params={"action": "DROP TABLE"}), 422, "request-validation")
