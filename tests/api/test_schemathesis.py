"""Schemathesis against the running server: every check, 25 examples per operation, a fixed seed,
all four phases (examples, coverage, fuzzing, stateful through the OpenAPI links). It must end
with 0 server errors and 0 check failures, and every operation must have answered 2xx at least
once (tests/api/schemathesis_hooks.py). A route added later joins this run by itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.live_server import LiveServer, live_server

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
HOOKS_MODULE = "tests.api.schemathesis_hooks"
SEED_HOLDER = "holder:31337:0x" + "5e" * 20
SEED_SOURCE = "world:schemathesis"
SEED_ESCROW = "round:schemathesis:escrow"
RUN_TIMEOUT_S = 480


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> LiveServer:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/kogi.db"
    else:
        url = request.getfixturevalue("postgres_server").create_database("kogi_schemathesis")
    with live_server(url, tmp_path) as running:
        yield running  # type: ignore[misc]


def _seed(server: LiveServer) -> dict[str, str]:
    """Real data for the schema-valid cases to land on (ledger main exists from start-up)."""
    with server.client(headers=server.auth) as client:
        assert client.post("/v1/ledger/main/assets", json={"code": "USD", "scale": 2, "kind": "fiat"}).is_success
        funded = client.post(
            "/v1/ledger/main/entries",
            headers={"Idempotency-Key": "seed-fund"},
            json={
                "kind": "deposit",
                "transfers": [{"from": SEED_SOURCE, "to": SEED_HOLDER, "asset": "USD", "amount_units": "100000000"}],
            },
        )
        assert funded.status_code == 201, funded.text
        hold = client.post(
            "/v1/ledger/main/holds",
            headers={"Idempotency-Key": "seed-hold"},
            json={"from": SEED_HOLDER, "to": SEED_ESCROW, "asset": "USD", "amount_units": "100"},
        )
        assert hold.status_code == 201, hold.text
        api_key = client.post("/v1/api-keys", json={"name": "seed", "scopes": ["ledger:read"]})
        assert api_key.status_code == 201, api_key.text
    return {
        "base_url": server.base_url,
        "ledger": "main",
        "asset": "USD",
        "account": SEED_HOLDER,
        "source": SEED_SOURCE,
        "escrow": SEED_ESCROW,
        "entry_id": funded.json()["id"],
        "hold_id": hold.json()["id"],
        "key_id": api_key.json()["id"],
        "admin_authorization": server.auth["Authorization"],  # the hooks send it to /v1/api-keys
    }


def test_schemathesis_finds_nothing(server: LiveServer, tmp_path: Path) -> None:
    seed = _seed(server)
    repo = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": HOOKS_MODULE,
        "KOGI_SCHEMATHESIS_SEED": json.dumps(seed),
        "PYTHONPATH": str(repo),
        "NO_COLOR": "1",
    }
    # The admin key goes to the admin routes only (a global -H would also replace the access tokens
    # that the hooks put on /v1/me and /v1/auth/logout, where the admin key is refused).
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        '[[operations]]\ninclude-path-regex = "^/v1/ledger/"\n'
        f'headers = {{ Authorization = "{server.auth["Authorization"]}" }}\n'
    )
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{server.base_url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        "25",
        "--seed",
        "20261130",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "all",
    ]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    output = result.stdout + result.stderr
    summary = output[output.find("SUMMARY") :] if "SUMMARY" in output else output[-4000:]
    print(summary)
    assert result.returncode == 0, output[-20000:]
    assert "Selected: " in summary and "Tested: " in summary
    selected = summary.split("Selected: ", 1)[1].split("/", 1)[0]
    tested = summary.split("Tested: ", 1)[1].split()[0]
    assert int(selected) >= 24 and tested == selected, summary
    assert server.alive(), server.log()[-4000:]
