"""The embedded follower thread mirrors new blocks as they come and stops cleanly."""
from __future__ import annotations

from typing import Any

from indexer.embedded import EmbeddedIndexer
from indexer.mapping import holder_account, token_asset
from ledger import LedgerStore
from tests.indexer.conftest import TOKEN, Stack


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
