"""The embedded follower thread mirrors new blocks as they come and stops cleanly."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from indexer.embedded import EmbeddedIndexer
from indexer.mapping import holder_account, token_asset
from ledger import LedgerStore
from tests.indexer.conftest import TOKEN, Stack, migrated


def test_thread_follows_new_blocks_and_stops(stack: Stack, store: LedgerStore, anvil_chain: Any) -> None:
    indexer = EmbeddedIndexer(store.db, anvil_chain.rpc_url, stack.manifest, confirmations=0, poll_s=0.05).start()
    try:
        indexer.wait_caught_up(timeout_s=60)
        a = stack.investors[0]
        stack.send(stack.token.functions.mint(a, 2 * TOKEN))
        indexer.wait_caught_up(timeout_s=60)
        chain = stack.w3.eth.chain_id
        balance = store.get_balance("main", holder_account(chain, a), token_asset(chain, stack.token.address))
        assert balance.posted_units == 2 * TOKEN
        assert indexer.running and indexer.error is None
    finally:
        indexer.stop()
    assert not indexer.running


def test_rpc_outage_is_retried_not_fatal(stack: Stack, store: LedgerStore, anvil_chain: Any) -> None:
    from indexer.rpc import RpcError

    indexer = EmbeddedIndexer(store.db, anvil_chain.rpc_url, stack.manifest, confirmations=0, poll_s=0.01)
    real_head = indexer.follower.rpc.head
    outage = {"left": 3}

    def head() -> int:
        if outage["left"]:
            outage["left"] -= 1
            raise RpcError("upstream unavailable", -32603)
        return real_head()

    indexer.follower.rpc.head = head  # type: ignore[method-assign]
    indexer.start()
    try:
        indexer.wait_caught_up(timeout_s=60)
        assert outage["left"] == 0 and indexer.running and indexer.error is None
    finally:
        indexer.stop()


def _health_row(client: Any, chain_id: int) -> tuple[str, dict[str, Any]]:
    body = client.get("/health").json()
    (row,) = [chain for chain in body["chains"] if chain["chain_id"] == chain_id]
    return body["status"], row


def _wait_for(client: Any, chain_id: int, state: str, timeout_s: float = 60) -> tuple[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        status, row = _health_row(client, chain_id)
        if row["indexer_state"] == state or time.monotonic() > deadline:
            assert row["indexer_state"] == state, row
            return status, row
        time.sleep(0.05)


def test_health_reports_the_wait_for_a_dead_holders_lease_and_rpc_backoff(
    stack: Stack, database_url: str, anvil_chain: Any, tmp_path: Path
) -> None:
    """Through the real app (embedded chain on KOGI_RPC_URL): a process killed with -9 left its lease;
    the new indexer waits for it (issue 8, item 12): /health says so, with the holder and expiry,
    and is "degraded" until the indexer runs; RPC errors show as backing_off; a fatal error as stopped."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import ApiSettings
    from indexer.follower import ReorgTooDeep
    from indexer.rpc import RpcError
    from indexer.state import IndexerState

    chain = stack.w3.eth.chain_id
    (tmp_path / "deployments").mkdir()
    (tmp_path / "deployments" / f"{chain}.json").write_text(json.dumps(stack.manifest.to_json()))
    database = migrated(database_url)
    lease_ttl_s = 4.0
    dead = "crashed-host:4242:deadbeef"
    IndexerState(database, chain).acquire_lease(dead, int(time.time() * 1e6), int(lease_ttl_s * 1e6))
    database.dispose()
    settings = ApiSettings(
        database_url=database_url,
        admin_api_key="test-admin-key-" + "k" * 24,
        admin_api_key_file=tmp_path / "admin_api_key",
        embedded_chain=True,
        rpc_url=anvil_chain.rpc_url,
        deployments_dir=tmp_path / "deployments",
    )
    with TestClient(create_app(settings)) as client:
        status, row = _wait_for(client, chain, "waiting_for_lease")
        assert status == "degraded" and row["indexer_running"] is True
        assert dead in row["indexer_reason"] and "epoch 1" in row["indexer_reason"]
        assert row["indexer_until"] is not None and row["lag_blocks"] is not None

        status, row = _wait_for(client, chain, "running", timeout_s=lease_ttl_s + 30)  # the lease ran out
        indexer = client.app.state.chain.indexer
        indexer.wait_caught_up(timeout_s=60)
        status, row = _health_row(client, chain)
        assert (status, row["indexer_state"], row["indexer_reason"], row["lag_blocks"]) == ("ok", "running", None, 0)

        real_head = indexer.follower.rpc.head

        def unavailable() -> int:
            raise RpcError("upstream unavailable", -32603)

        indexer.follower.rpc.head = unavailable
        status, row = _wait_for(client, chain, "backing_off")
        assert status == "degraded" and "RPC error" in row["indexer_reason"]
        assert "upstream unavailable" in row["indexer_reason"]
        indexer.follower.rpc.head = real_head
        status, row = _wait_for(client, chain, "running", timeout_s=60)
        assert status == "ok"

        def fatal() -> Any:
            raise ReorgTooDeep("chain 31337: reorg beyond the kept window (test)")

        indexer.follower.step = fatal
        status, row = _wait_for(client, chain, "stopped")
        assert row["indexer_running"] is False and row["indexer_reason"].startswith("ReorgTooDeep: chain 31337")
        assert row["error"] == row["indexer_reason"]
