"""A reorg deeper than the window onto a chain still SHORTER than the cursor (issue 8, item 16):
detected and alerted at once, not when the new chain outgrows the cursor; `kogi reconcile` says
"reorganised", not "block not available". A shorter chain that still has the window's edge is a
lagging node (or a reorg inside the window): the follower waits, as before. Both backends."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from api.cli.indexer import reconcile as reconcile_command
from indexer.alerts import open_alerts
from indexer.follower import ReorgTooDeep
from indexer.reconcile import BlockReorganised, reconcile
from indexer.rpc import RpcClient
from ledger import LedgerStore
from ledger.chart import platform_store
from tests.indexer.conftest import TOKEN, Stack, make_follower
from tests.indexer.test_reorg_restart import all_entries, revert, snapshot


def orphan_then_shorten(
    stack: Stack, store: LedgerStore, rpc: RpcClient, *, confirmations: int, orphaned: int, canonical: int
) -> tuple[Any, int]:
    """Index `orphaned` blocks with a mint each, then replace them by `canonical` (< orphaned) other
    blocks. Returns (follower, cursor block)."""
    a, b = stack.investors[0], stack.investors[1]
    follower = make_follower(store, rpc, stack, confirmations=confirmations)
    follower.sync(deadline_s=60)
    fork_point = snapshot(stack.w3)
    for i in range(orphaned):
        stack.send(stack.token.functions.mint(a, (i + 1) * TOKEN))
    follower.sync(deadline_s=60)
    cursor = follower.state.cursor()
    assert cursor is not None
    revert(stack.w3, fork_point)
    for _ in range(canonical):
        stack.send(stack.token.functions.mint(b, 1 * TOKEN))
    assert stack.w3.eth.block_number < cursor.last_block
    return follower, cursor.last_block


@pytest.mark.parametrize("canonical", [1, 4], ids=["head-below-the-window", "head-inside-the-window"])
def test_a_too_deep_reorg_onto_a_shorter_chain_stops_and_alerts_at_once(
    stack: Stack, store: LedgerStore, rpc: RpcClient, anvil_chain: Any, canonical: int
) -> None:
    follower, last_block = orphan_then_shorten(stack, store, rpc, confirmations=2, orphaned=6, canonical=canonical)
    entries = len(all_entries(store))

    with pytest.raises(ReorgTooDeep, match="exceeds the confirmation window"):  # before: waited, silently
        follower.step()
    with pytest.raises(ReorgTooDeep):  # and a restart stops the same way
        make_follower(platform_store(store.db), rpc, stack, confirmations=2).step()
    (alert,) = open_alerts(store.db, chain_id=stack.w3.eth.chain_id)
    assert alert.kind == "reorg_too_deep" and alert.severity == "critical"
    assert alert.details["last_block"] == last_block and alert.details["head"] == stack.w3.eth.block_number
    assert len(all_entries(store)) == entries  # the ledger is left as it was, for a human

    with pytest.raises(BlockReorganised, match=f"block {last_block} of chain .* was reorganised.*shorter now"):
        reconcile(store, rpc, chain_id=stack.w3.eth.chain_id)  # before: "block … is not available"
    app = typer.Typer()
    app.command("reconcile")(reconcile_command)
    app.command("unused")(lambda: None)
    result = CliRunner().invoke(app, ["reconcile", "--rpc-url", anvil_chain.rpc_url, "--database-url", store.db.url])
    assert result.exit_code == 1 and "was reorganised" in result.output, result.output


def test_a_shorter_chain_that_keeps_the_window_edge_is_waited_for(
    stack: Stack, store: LedgerStore, rpc: RpcClient
) -> None:
    """Inside the window (depth 3 ≤ 5): no alert; the follower waits until the chain outgrows the
    cursor and then rolls back (as a lagging node is waited for)."""
    follower, last_block = orphan_then_shorten(stack, store, rpc, confirmations=5, orphaned=3, canonical=1)
    result = follower.step()
    assert (result.blocks, result.reorg_depth) == (0, 0)
    assert open_alerts(store.db, chain_id=stack.w3.eth.chain_id) == []
    with pytest.raises(BlockReorganised, match="was reorganised"):  # but reconcile already knows
        reconcile(store, rpc, chain_id=stack.w3.eth.chain_id)

    stack.w3.provider.make_request("anvil_mine", [3])
    follower.sync(deadline_s=60)
    assert reconcile(store, rpc, chain_id=stack.w3.eth.chain_id).differences == []
    assert [e.kind for e in all_entries(store)].count("reversal") == 3
    cursor = follower.state.cursor()
    assert cursor is not None and cursor.last_block > last_block
