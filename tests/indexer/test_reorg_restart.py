"""Reorgs inside the window are undone exactly; deeper ones stop the follower; restarts resume
from the cursor without duplicates, even after a crash between posting and the cursor write."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import Web3
from web3.exceptions import BlockNotFound

from indexer.alerts import open_alerts
from indexer.follower import Follower, ReorgTooDeep
from indexer.mapping import erc20_asset, holder_account, pool_account, token_asset
from indexer.reconcile import reconcile
from indexer.rpc import RpcClient
from ledger import Entry, LedgerStore
from ledger.chart import platform_store
from tests.indexer.conftest import TOKEN, USDC, Stack, make_follower


def all_entries(store: LedgerStore) -> list[Entry]:
    entries: list[Entry] = []
    while True:
        page = store.list_entries("main", after_sequence=entries[-1].sequence if entries else 0, limit=1_000)
        entries.extend(page)
        if len(page) < 1_000:
            return entries


def canonical_hash(w3: Web3, number: int) -> str | None:
    try:
        return "0x" + w3.eth.get_block(number)["hash"].hex().removeprefix("0x")
    except BlockNotFound:
        return None


def assert_ledger_matches_canonical_chain(store: LedgerStore, w3: Web3) -> None:
    """Every entry of an orphaned block is reversed; no entry of a canonical block is."""
    entries = all_entries(store)
    reversed_ids = {e.reverses_entry_id for e in entries if e.reverses_entry_id}
    for entry in entries:
        if entry.reverses_entry_id is not None:
            continue
        orphaned = canonical_hash(w3, entry.metadata["block_number"]) != entry.metadata["block_hash"]
        assert (entry.id in reversed_ids) == orphaned, (entry.kind, entry.metadata)


def snapshot(w3: Web3) -> str:
    return str(w3.provider.make_request("evm_snapshot", [])["result"])


def revert(w3: Web3, snapshot_id: str) -> None:
    assert w3.provider.make_request("evm_revert", [snapshot_id])["result"] is True


def step_killed_in(monkeypatch: pytest.MonkeyPatch, follower: Follower, state_method: str, why: str) -> None:
    """Run one step of `follower` that dies (KeyboardInterrupt) when it calls `state.<state_method>`."""

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise KeyboardInterrupt(why)

    monkeypatch.setattr(follower.state, state_method, crash)
    with pytest.raises(KeyboardInterrupt):
        follower.step()


def holder_units(store: LedgerStore, stack: Stack, who: str) -> int:
    chain = stack.w3.eth.chain_id
    return store.get_balance("main", holder_account(chain, who), token_asset(chain, stack.token.address)).posted_units


def test_reorg_of_depth_1_reverses_the_orphaned_entry(stack: Stack, store: LedgerStore, rpc: RpcClient) -> None:
    a, b = stack.investors[0], stack.investors[1]
    stack.send(stack.token.functions.mint(a, 10 * TOKEN))
    follower = make_follower(store, rpc, stack, confirmations=3)
    follower.sync(deadline_s=60)
    fork_point = snapshot(stack.w3)
    stack.send(stack.token.functions.mint(a, 7 * TOKEN))  # will be orphaned
    follower.sync(deadline_s=60)
    assert holder_units(store, stack, a) == 17 * TOKEN

    revert(stack.w3, fork_point)
    stack.send(stack.token.functions.mint(b, 5 * TOKEN))  # the canonical block at the same height
    follower.sync(deadline_s=60)

    assert holder_units(store, stack, a) == 10 * TOKEN
    assert holder_units(store, stack, b) == 5 * TOKEN
    assert_ledger_matches_canonical_chain(store, stack.w3)
    assert reconcile(store, rpc, chain_id=stack.w3.eth.chain_id).differences == []
    assert store.verify("main").ok


def test_reorg_of_depth_3_with_a_reincluded_transaction(stack: Stack, store: LedgerStore, rpc: RpcClient) -> None:
    a, b, c = stack.investors[:3]
    stack.send(stack.token.functions.mint(a, 50 * TOKEN))
    follower = make_follower(store, rpc, stack, confirmations=3)
    follower.sync(deadline_s=60)
    fork_point = snapshot(stack.w3)
    receipt = stack.send(stack.token.functions.transfer(b, 20 * TOKEN), a)
    raw = stack.w3.provider.make_request("eth_getRawTransactionByHash", [receipt["transactionHash"].to_0x_hex()])[
        "result"
    ]
    stack.send(stack.token.functions.transfer(c, 5 * TOKEN), b)
    stack.send(stack.token.functions.burn(c, 1 * TOKEN), c)
    follower.sync(deadline_s=60)
    assert holder_units(store, stack, c) == 4 * TOKEN

    revert(stack.w3, fork_point)
    stack.w3.provider.make_request("eth_sendRawTransaction", [raw])  # same tx, new block
    stack.send(stack.token.functions.mint(c, 2 * TOKEN))
    stack.w3.provider.make_request("anvil_mine", [2])  # the new chain grows past the old one
    follower.sync(deadline_s=60)

    assert (holder_units(store, stack, a), holder_units(store, stack, b), holder_units(store, stack, c)) == (
        30 * TOKEN,
        20 * TOKEN,
        2 * TOKEN,
    )
    assert_ledger_matches_canonical_chain(store, stack.w3)
    assert reconcile(store, rpc, chain_id=stack.w3.eth.chain_id).differences == []
    refs = [e.external_ref for e in all_entries(store) if e.external_ref]
    assert len(refs) == len(set(refs))


def test_reorg_deeper_than_the_window_stops_the_follower(stack: Stack, store: LedgerStore, rpc: RpcClient) -> None:
    a = stack.investors[0]
    follower = make_follower(store, rpc, stack, confirmations=1)
    follower.sync(deadline_s=60)
    fork_point = snapshot(stack.w3)
    stack.send(stack.token.functions.mint(a, 1 * TOKEN))
    stack.send(stack.token.functions.mint(a, 2 * TOKEN))
    follower.sync(deadline_s=60)
    before = len(all_entries(store))

    revert(stack.w3, fork_point)
    stack.w3.provider.make_request("anvil_mine", [3])
    with pytest.raises(ReorgTooDeep, match="exceeds the confirmation window"):
        follower.sync(deadline_s=60)
    assert len(all_entries(store)) == before  # the ledger is left as it was, for a human to look at
    with pytest.raises(ReorgTooDeep):  # and it stays stopped
        make_follower(store, rpc, stack, confirmations=1).step()
    # one alert event in the outbox, not one per attempt
    (alert,) = open_alerts(store.db, chain_id=stack.w3.eth.chain_id)
    assert alert.kind == "reorg_too_deep" and alert.severity == "critical"
    assert "exceeds the confirmation window" in alert.message


def test_a_rollback_reverses_and_reapplies_the_canonical_blocks_in_one_transaction(
    stack: Stack, store: LedgerStore, rpc: RpcClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = stack.investors[0], stack.investors[1]
    follower = make_follower(store, rpc, stack, confirmations=3)
    follower.sync(deadline_s=60)
    fork_point = snapshot(stack.w3)
    ancestor = stack.w3.eth.block_number
    stack.send(stack.token.functions.mint(a, 3 * TOKEN))
    stack.send(stack.token.functions.transfer(b, 1 * TOKEN), a)
    follower.sync(deadline_s=60)
    old_tip = follower.state.cursor()
    assert old_tip is not None
    revert(stack.w3, fork_point)
    stack.send(stack.token.functions.mint(b, 8 * TOKEN))
    stack.send(stack.token.functions.mint(a, 2 * TOKEN))  # the new branch is as long as the old one

    step_killed_in(
        monkeypatch,
        make_follower(platform_store(store.db), rpc, stack, confirmations=3),
        "advance_in",
        "killed after the canonical entries were written, before the cursor moved",
    )
    kinds = [e.kind for e in all_entries(store)]
    assert kinds.count("reversal") == 0 and kinds.count("mint") == 1  # nothing of the swap survived
    assert follower.state.cursor() == old_tip

    result = make_follower(platform_store(store.db), rpc, stack, confirmations=3).step()
    # ONE step: orphaned entries reversed, canonical blocks posted, cursor at the new tip
    assert (result.reorg_depth, result.from_block, result.to_block, result.entries_posted) == (
        2,
        ancestor + 1,
        ancestor + 2,
        2,
    )
    assert (holder_units(store, stack, a), holder_units(store, stack, b)) == (2 * TOKEN, 8 * TOKEN)
    cursor = follower.state.cursor()
    assert cursor is not None and cursor.last_block == ancestor + 2
    assert cursor.last_block_hash == canonical_hash(stack.w3, ancestor + 2)
    assert_ledger_matches_canonical_chain(store, stack.w3)
    assert reconcile(store, rpc, chain_id=stack.w3.eth.chain_id).differences == []
    # checkpoints above the ancestor name canonical blocks and their entries
    for number in (ancestor + 1, ancestor + 2):
        checkpoint = follower.state.checkpoint_at(number)
        assert checkpoint is not None and checkpoint[:2] == (number, canonical_hash(stack.w3, number))
        assert store.get_entry("main", checkpoint[2]).metadata["block_hash"] == checkpoint[1]


def test_restart_after_a_crash_between_posting_and_cursor_resumes_without_duplicates(
    stack: Stack, store: LedgerStore, rpc: RpcClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(6):
        stack.send(stack.token.functions.mint(stack.investors[i % 3], (i + 1) * TOKEN))
    first = make_follower(store, rpc, stack, confirmations=2, max_blocks_per_step=3)
    first.step()
    first.step()

    crashing = make_follower(platform_store(store.db), rpc, stack, confirmations=2, max_blocks_per_step=3)

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise KeyboardInterrupt("killed after posting, before the cursor moved")

    monkeypatch.setattr(crashing.state, "advance", crash)
    while True:  # step until a step actually posts, then dies
        cursor_before = crashing.state.cursor()
        try:
            result = crashing.step()
        except KeyboardInterrupt:
            break
        assert result.blocks, "the crash must hit a step that posts entries"
    assert crashing.state.cursor() == cursor_before

    make_follower(platform_store(store.db), rpc, stack, confirmations=2, max_blocks_per_step=3).sync(deadline_s=60)
    entries = all_entries(store)
    assert [e.kind for e in entries].count("mint") == 6
    refs = [e.external_ref for e in entries]
    assert len(refs) == len(set(refs))
    assert reconcile(store, rpc, chain_id=stack.w3.eth.chain_id).differences == []


def test_a_crash_in_the_middle_of_a_rollback_is_finished_by_the_next_run(
    stack: Stack, store: LedgerStore, rpc: RpcClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = stack.investors[0], stack.investors[1]
    follower = make_follower(store, rpc, stack, confirmations=3)
    follower.sync(deadline_s=60)
    fork_point = snapshot(stack.w3)
    stack.send(stack.token.functions.mint(a, 3 * TOKEN))
    stack.send(stack.token.functions.transfer(b, 1 * TOKEN), a)
    follower.sync(deadline_s=60)
    revert(stack.w3, fork_point)
    stack.send(stack.token.functions.mint(b, 8 * TOKEN))
    stack.w3.provider.make_request("anvil_mine", [1])  # as long as the orphaned branch

    step_killed_in(
        monkeypatch,
        make_follower(platform_store(store.db), rpc, stack, confirmations=3),
        "rewind_in",
        "killed after the reversals were written, before the rewind",
    )
    # reversals and rewind are one transaction: nothing of the rollback survived the crash
    assert [e.kind for e in all_entries(store)].count("reversal") == 0

    make_follower(platform_store(store.db), rpc, stack, confirmations=3).sync(deadline_s=60)
    assert (holder_units(store, stack, a), holder_units(store, stack, b)) == (0, 8 * TOKEN)
    assert_ledger_matches_canonical_chain(store, stack.w3)
    assert [e.kind for e in all_entries(store)].count("reversal") == 2
    assert reconcile(store, rpc, chain_id=stack.w3.eth.chain_id).differences == []


def test_step_size_adapts_to_event_density(stack: Stack, store: LedgerStore, rpc: RpcClient) -> None:
    for i in range(8):
        stack.send(stack.token.functions.mint(stack.investors[i % 3], TOKEN))
    follower = make_follower(store, rpc, stack, confirmations=0, max_blocks_per_step=64)
    follower.max_events_per_step = 2
    follower.step_blocks = 1
    follower.sync(deadline_s=60)
    assert follower.step_blocks <= 2  # dense blocks: about 2 events per step
    assert [e.kind for e in all_entries(store)].count("mint") == 8
    assert reconcile(store, rpc, chain_id=stack.w3.eth.chain_id).differences == []


class LaggingNode(RpcClient):
    """A load-balanced endpoint whose node is `lag` blocks behind for a while."""

    lag = 0

    def head(self) -> int:
        return super().head() - self.lag


def test_a_head_below_the_cursor_is_a_lagging_node_not_a_reorg(
    stack: Stack,
    store: LedgerStore,
    anvil_chain: Any,
) -> None:
    stack.send(stack.token.functions.mint(stack.investors[0], 3 * TOKEN))
    node = LaggingNode(anvil_chain.rpc_url)
    try:
        follower = make_follower(store, node, stack, confirmations=3)
        follower.sync(deadline_s=60)
        before = len(all_entries(store))
        node.lag = 2
        result = follower.step()
        assert (result.blocks, result.reorg_depth) == (0, 0)
        assert len(all_entries(store)) == before  # nothing reversed
    finally:
        node.close()


def test_a_block_that_comes_back_after_its_reversal_is_posted_again(
    stack: Stack, store: LedgerStore, rpc: RpcClient
) -> None:
    a = stack.investors[0]
    stack.send(stack.token.functions.mint(a, 3 * TOKEN))
    follower = make_follower(store, rpc, stack, confirmations=3)
    follower.sync(deadline_s=60)
    (mint,) = [e for e in all_entries(store) if e.kind == "mint"]
    store.reverse("main", mint.id, idempotency_key=f"reversal:{mint.id}")  # as a rollback would
    before_mint = mint.metadata["block_number"] - 1
    follower.state.rewind(before_mint, canonical_hash(stack.w3, before_mint) or "", follower.lease)  # type: ignore[arg-type]
    follower.sync(deadline_s=60)  # the same block (same hash, same keys) is read again
    assert holder_units(store, stack, a) == 3 * TOKEN
    reposted = [e for e in all_entries(store) if e.kind == "mint" and e.id != mint.id]
    assert len(reposted) == 1 and reposted[0].idempotency_key == mint.idempotency_key + "~1"
    assert reconcile(store, rpc, chain_id=stack.w3.eth.chain_id).differences == []


def test_a_reorg_of_blocks_without_entries_moves_the_cursor_to_the_new_branch(
    stack: Stack, store: LedgerStore, rpc: RpcClient
) -> None:
    follower = make_follower(store, rpc, stack, confirmations=3)
    follower.sync(deadline_s=60)
    fork_point = snapshot(stack.w3)
    stack.w3.provider.make_request("anvil_mine", [2])  # empty blocks, to be orphaned
    follower.sync(deadline_s=60)
    entries_before = len(all_entries(store))
    revert(stack.w3, fork_point)
    stack.w3.provider.make_request("evm_setNextBlockTimestamp", [stack.w3.eth.get_block("latest")["timestamp"] + 99])
    stack.w3.provider.make_request("anvil_mine", [2])  # other empty blocks at the same heights

    result = follower.step()
    assert result.reorg_depth == 2 and result.entries_posted == 0
    cursor = follower.state.cursor()
    assert cursor is not None and cursor.last_block_hash == canonical_hash(stack.w3, cursor.last_block)
    follower.sync(deadline_s=60)  # and it does not find the same reorg again
    assert len(all_entries(store)) == entries_before


def test_a_canonical_branch_bringing_a_new_asset_is_posted_in_the_rollback(
    stack: Stack, store: LedgerStore, rpc: RpcClient
) -> None:
    a, depositor = stack.investors[0], stack.admin
    stack.send(stack.token.functions.mint(a, 5 * TOKEN))  # revenue needs holders
    stack.send(stack.stablecoin.functions.mint(depositor, 10 * USDC))
    stack.send(stack.stablecoin.functions.approve(stack.token.address, 2**256 - 1), depositor)
    follower = make_follower(store, rpc, stack, confirmations=3)
    follower.sync(deadline_s=60)
    fork_point = snapshot(stack.w3)
    stack.send(stack.token.functions.mint(a, 1 * TOKEN))  # orphaned
    follower.sync(deadline_s=60)
    revert(stack.w3, fork_point)
    stack.send(stack.token.functions.deposit(4 * USDC), depositor)  # the ledger's first stablecoin entry

    result = follower.step()
    assert result.reorg_depth == 1 and result.entries_posted == 1  # one transaction, new asset created first
    chain = stack.w3.eth.chain_id
    pool = store.get_balance(
        "main", pool_account(chain, stack.token.address), erc20_asset(chain, stack.stablecoin.address)
    )
    assert pool.posted_units == 4 * USDC
    follower.sync(deadline_s=60)
    assert_ledger_matches_canonical_chain(store, stack.w3)
    assert reconcile(store, rpc, chain_id=chain).differences == []
