"""The reader process (indexer.reader): ranges read and digested ahead in a child process give
exactly the ledger an inline follower gives, discoveries made by the child are registered, a
range that no longer starts at the cursor is dropped, and a dead child is a clear error."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from contracts.core import PortfolioSpec, deploy_portfolio
from indexer.mapping import holder_account, token_asset
from indexer.reconcile import reconcile
from indexer.rpc import RpcClient
from ledger import Entry, LedgerStore
from ledger.chart import platform_store
from ledger.errors import ValidationFailed
from ledger.store import EntryBody, entry_body
from tests.indexer.conftest import TOKEN, Stack, make_follower, migrated
from tests.indexer.test_reorg_restart import (
    all_entries,
    assert_ledger_matches_canonical_chain,
    revert,
    snapshot,
)


def entry_keys(entries: list[Entry]) -> list[tuple[str, str, tuple[tuple[str, str, str, int], ...]]]:
    return sorted(
        (e.idempotency_key, e.kind, tuple((leg.account, leg.asset, leg.side.value, leg.amount_units) for leg in e.legs))
        for e in entries
    )


def test_read_ahead_gives_the_inline_ledger_and_registers_discoveries(
    stack: Stack, store: LedgerStore, rpc: RpcClient, tmp_path: Path
) -> None:
    a, b = stack.investors[0], stack.investors[1]
    for i in range(4):
        stack.send(stack.token.functions.mint(a, (i + 1) * TOKEN))
    second = deploy_portfolio(
        stack.w3,
        stack.core,
        PortfolioSpec(admin=stack.admin, treasury=stack.treasury, name="Second", symbol="SEC", issuer=stack.admin),
    )
    stack.send(second.token.functions.mint(a, 9 * TOKEN))  # a portfolio the child discovers
    stack.send(second.token.functions.transfer(b, 4 * TOKEN), a)
    for _ in range(3):
        stack.send(stack.token.functions.transfer(b, 1 * TOKEN), a)

    follower = make_follower(store, rpc, stack, confirmations=2, max_blocks_per_step=3, reader_process=True)
    taken: list[int] = []
    follower.bootstrap()  # starts the reader process
    assert follower._reader is not None
    while not follower._reader.ready:  # steps read inline while it starts
        time.sleep(0.05)
    original_take = follower._reader.take

    def counting_take(after_block: int, after_hash: str):  # type: ignore[no-untyped-def]
        result = original_take(after_block, after_hash)
        if result is not None:
            taken.append(after_block)
        return result

    follower._reader.take = counting_take  # type: ignore[method-assign]
    try:
        follower.sync(deadline_s=120)
    finally:
        follower.close()
    assert len(taken) >= 3  # most steps used a range read ahead

    chain = stack.w3.eth.chain_id
    assert (
        store.get_balance("main", holder_account(chain, b), token_asset(chain, second.token.address)).posted_units
        == 4 * TOKEN
    )
    assert reconcile(store, rpc, chain_id=chain).differences == []
    assert store.verify("main").ok  # every precomputed body digest recomputed from the stored rows

    inline_store = platform_store(migrated(f"sqlite:///{tmp_path}/inline.db"))
    make_follower(inline_store, rpc, stack, confirmations=2, max_blocks_per_step=3).sync(deadline_s=120)
    assert entry_keys(all_entries(store)) == entry_keys(all_entries(inline_store))


def test_a_range_read_ahead_across_a_reorg_is_dropped(stack: Stack, store: LedgerStore, rpc: RpcClient) -> None:
    a, b = stack.investors[0], stack.investors[1]
    stack.send(stack.token.functions.mint(a, 10 * TOKEN))
    follower = make_follower(store, rpc, stack, confirmations=3, reader_process=True)
    try:
        follower.bootstrap()
        assert follower._reader is not None
        while not follower._reader.ready:
            time.sleep(0.05)
        follower.sync(deadline_s=60)
        fork_point = snapshot(stack.w3)
        for _ in range(3):
            stack.send(stack.token.functions.transfer(b, 1 * TOKEN), a)
        follower.max_blocks_per_step = follower.step_blocks = 1
        follower.step()  # posts one block and sends the next one to the reader
        assert follower._reader._pending is not None
        revert(stack.w3, fork_point)
        stack.send(stack.token.functions.mint(b, 5 * TOKEN))
        stack.w3.provider.make_request("anvil_mine", [2])
        follower.sync(deadline_s=60)
    finally:
        follower.close()
    assert_ledger_matches_canonical_chain(store, stack.w3)
    assert reconcile(store, rpc, chain_id=stack.w3.eth.chain_id).differences == []


def test_a_dead_reader_costs_speed_not_correctness(stack: Stack, store: LedgerStore, rpc: RpcClient) -> None:
    a = stack.investors[0]
    for i in range(4):
        stack.send(stack.token.functions.mint(a, (i + 1) * TOKEN))
    follower = make_follower(store, rpc, stack, confirmations=0, max_blocks_per_step=1, reader_process=True)
    follower.bootstrap()
    reader = follower._reader
    assert reader is not None
    while not reader.ready:
        time.sleep(0.05)
    follower.step()  # hands the next block to the reader …
    assert reader._pending is not None
    os.kill(reader._process.pid, signal.SIGKILL)  # … which dies with it
    reader._process.join(10)
    follower.sync(deadline_s=60)  # reads inline from then on
    assert follower._reader is None
    assert reconcile(store, rpc, chain_id=stack.w3.eth.chain_id).differences == []
    assert [e.kind for e in all_entries(store)].count("mint") == 4
    follower.close()


def test_a_precomputed_body_that_differs_is_refused(stack: Stack, store: LedgerStore, rpc: RpcClient) -> None:
    stack.send(stack.token.functions.mint(stack.investors[0], 1 * TOKEN))
    follower = make_follower(store, rpc, stack, confirmations=0)
    follower.bootstrap()
    head = stack.w3.eth.block_number
    cursor = follower.state.cursor()
    assert cursor is not None
    plan = follower._read_range(cursor.last_block, cursor.last_block_hash, head)
    assert plan is not None and plan.requests
    follower._ensure_assets({leg.asset for request, _, _ in plan.requests for leg in request.legs})
    requests = [request for request, _, _ in plan.requests]
    bodies = [entry_body("main", request) for request in requests]
    forged = [EntryBody(bodies[0].metadata_json, "00" * 32), *bodies[1:]]
    with pytest.raises(ValidationFailed, match="precomputed body"):
        store.post_many("main", requests, bodies=forged)
    assert store.post_many("main", requests, bodies=bodies)[0].body_digest == bodies[0].digest
