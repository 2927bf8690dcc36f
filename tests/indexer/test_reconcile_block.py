"""`reconcile(block=N)` / `kogi reconcile --block N --chain ID`: the ledger as of an indexed block
(its checkpoint) against the chain's state at that block, on SQLite and PostgreSQL.

Every "zero differences" below is paired with an assertion that the values at N differ from the
head's, so a reconcile that silently compared the current ledger would fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from api.cli.indexer import indexer_app
from api.cli.indexer import reconcile as reconcile_command
from indexer.mapping import (
    erc20_asset,
    escrow_account,
    holder_account,
    mint_account,
    token_asset,
)
from indexer.reconcile import (
    ArchiveNodeNeeded,
    BlockReorganised,
    ChainMismatch,
    NotIndexed,
    ReconcileReport,
    ReconcileRow,
    reconcile,
)
from indexer.rpc import RpcClient
from indexer.state import IndexerState
from ledger import EntryRequest, LedgerStore, transfer_legs
from tests.indexer.conftest import TOKEN, USDC, Stack, build_stack, make_follower

CHAIN = 31337


@pytest.fixture(scope="module")
def stack_deployed(anvil_chain: Any) -> Stack:
    """The conftest stack, deployed after a few empty blocks so that the indexer's first block is
    above 0 (a block below it can then be asked for)."""
    w3 = anvil_chain.web3()
    w3.provider.make_request("anvil_mine", [3])
    return build_stack(w3)


def block_of(receipt: Any) -> int:
    return int(receipt["blockNumber"])


def row(report: ReconcileReport, account: str, asset: str) -> ReconcileRow:
    found = [r for r in report.rows if r.account == account and r.asset == asset]
    assert len(found) == 1, (account, asset, report.rows)
    return found[0]


def token_balance(stack: Stack, who: str, block: int | str = "latest") -> int:
    return int(stack.token.functions.balanceOf(who).call(block_identifier=block))


def usdc_balance(stack: Stack, who: str, block: int | str = "latest") -> int:
    return int(stack.stablecoin.functions.balanceOf(who).call(block_identifier=block))


def test_reconcile_at_an_earlier_block_uses_the_ledger_as_of_that_block(
    stack: Stack, store: LedgerStore, rpc: RpcClient
) -> None:
    a, b, c = stack.investors[:3]
    token, round_address = stack.token.address, stack.round.address
    asset, usdc = token_asset(CHAIN, token), erc20_asset(CHAIN, stack.stablecoin.address)
    follower = make_follower(store, rpc, stack, confirmations=1)  # a small window: N leaves the kept hashes

    n1 = block_of(stack.send(stack.token.functions.mint(a, 10 * TOKEN)))
    stack.w3.provider.make_request("anvil_mine", [2])  # blocks without entries after n1
    follower.sync(deadline_s=60)
    stack.invest(b, 200 * USDC, nonce=11)
    n2 = block_of(stack.send(stack.token.functions.transfer(c, 3 * TOKEN), a))
    stack.send(stack.token.functions.mint(b, 5 * TOKEN))
    stack.w3.provider.make_request("anvil_mine", [3])
    follower.sync(deadline_s=60)
    cursor = IndexerState(store.db, CHAIN).cursor()
    assert cursor is not None and cursor.last_block > n2 + 3

    for number in (n1, n1 + 1):  # the block with entries, and an empty block after it (same checkpoint)
        report = reconcile(store, rpc, chain_id=CHAIN, block=number)
        assert report.block == number
        assert report.differences == []
        at_a = row(report, holder_account(CHAIN, a), asset)
        assert at_a.ledger_units == at_a.chain_units == token_balance(stack, a, number) == 10 * TOKEN
        assert token_balance(stack, a) == 7 * TOKEN  # the head differs: the ledger really is read as of N
        # holders known now but without anything at N: 0 on both sides
        assert row(report, holder_account(CHAIN, c), asset).ledger_units == 0
        escrow = row(report, escrow_account(CHAIN, round_address), usdc)
        assert escrow.ledger_units == usdc_balance(stack, round_address, number) == 0
        assert row(report, mint_account(CHAIN), asset).chain_units == -10 * TOKEN

    report = reconcile(store, rpc, chain_id=CHAIN, block=n2)
    assert report.differences == []
    assert row(report, holder_account(CHAIN, c), asset).ledger_units == token_balance(stack, c, n2) == 3 * TOKEN
    assert row(report, holder_account(CHAIN, b), asset).ledger_units == token_balance(stack, b, n2) == 0
    escrow = row(report, escrow_account(CHAIN, round_address), usdc)
    assert escrow.ledger_units == escrow.chain_units == usdc_balance(stack, round_address, n2) > 0

    head = reconcile(store, rpc, chain_id=CHAIN)  # default: the cursor's block
    assert head.block == cursor.last_block and head.differences == []
    assert row(head, holder_account(CHAIN, b), asset).ledger_units == 5 * TOKEN
    assert reconcile(store, rpc, chain_id=CHAIN, block=cursor.last_block).rows == head.rows

    with pytest.raises(NotIndexed, match=f"block {cursor.last_block + 1} is not indexed yet"):
        reconcile(store, rpc, chain_id=CHAIN, block=cursor.last_block + 1)
    start = stack.manifest.start_block  # the stack fixture mined 3 blocks before it
    assert start > 1 and reconcile(store, rpc, chain_id=CHAIN, block=start).differences == []
    with pytest.raises(NotIndexed, match=f"block 1 was never indexed: the indexer of chain {CHAIN} starts at block"):
        reconcile(store, rpc, chain_id=CHAIN, block=1)
    with pytest.raises(ChainMismatch, match="the RPC serves chain 31337, not chain 1"):
        reconcile(store, rpc, chain_id=1, block=n1)


def test_an_entry_written_outside_the_follower_shows_at_its_block(
    stack: Stack, store: LedgerStore, rpc: RpcClient
) -> None:
    a = stack.investors[0]
    asset = token_asset(CHAIN, stack.token.address)
    follower = make_follower(store, rpc, stack, confirmations=1)
    n1 = block_of(stack.send(stack.token.functions.mint(a, 4 * TOKEN)))
    follower.sync(deadline_s=60)
    store.post(
        "main", EntryRequest("bogus-1", "mint", transfer_legs(mint_account(CHAIN), holder_account(CHAIN, a), asset, 1))
    )
    n2 = block_of(stack.send(stack.token.functions.mint(a, 6 * TOKEN)))
    follower.sync(deadline_s=60)

    before = reconcile(store, rpc, chain_id=CHAIN, block=n1 - 1)
    assert before.differences == []  # the bogus entry came after block n1's entries
    for number in (n1, n2):
        report = reconcile(store, rpc, chain_id=CHAIN, block=number)
        assert [(r.account, r.diff_units) for r in report.differences] == [
            (holder_account(CHAIN, a), 1),
            (mint_account(CHAIN), -1),
        ] or [(r.account, r.diff_units) for r in report.differences] == [
            (mint_account(CHAIN), -1),
            (holder_account(CHAIN, a), 1),
        ]


def test_reorganised_block_is_an_error_until_the_indexer_catches_up(
    stack: Stack, store: LedgerStore, rpc: RpcClient
) -> None:
    a, b, c = stack.investors[:3]
    asset = token_asset(CHAIN, stack.token.address)
    follower = make_follower(store, rpc, stack, confirmations=4)
    ancestor = block_of(stack.send(stack.token.functions.mint(a, 10 * TOKEN)))
    follower.sync(deadline_s=60)
    fork_point = str(stack.w3.provider.make_request("evm_snapshot", [])["result"])
    orphaned = block_of(stack.send(stack.token.functions.mint(b, 7 * TOKEN)))
    follower.sync(deadline_s=60)
    assert reconcile(store, rpc, chain_id=CHAIN, block=orphaned).differences == []

    assert stack.w3.provider.make_request("evm_revert", [fork_point])["result"] is True
    canonical = block_of(stack.send(stack.token.functions.mint(c, 2 * TOKEN)))
    assert canonical == orphaned
    stack.w3.provider.make_request("anvil_mine", [2])
    with pytest.raises(
        BlockReorganised, match=f"block {orphaned} of chain {CHAIN} was reorganised; the ledger has not caught up"
    ):
        reconcile(store, rpc, chain_id=CHAIN, block=orphaned)
    with pytest.raises(BlockReorganised, match="was reorganised"):
        reconcile(store, rpc, chain_id=CHAIN)
    assert reconcile(store, rpc, chain_id=CHAIN, block=ancestor).differences == []  # below the fork: still fine

    follower.sync(deadline_s=60)
    report = reconcile(store, rpc, chain_id=CHAIN, block=canonical)
    assert report.differences == []
    assert row(report, holder_account(CHAIN, b), asset).ledger_units == token_balance(stack, b, canonical) == 0
    assert row(report, holder_account(CHAIN, c), asset).ledger_units == 2 * TOKEN
    assert reconcile(store, rpc, chain_id=CHAIN, block=ancestor).differences == []
    assert reconcile(store, rpc, chain_id=CHAIN).differences == []


def test_a_canonical_block_without_entries_does_not_see_orphaned_entries(
    stack: Stack, store: LedgerStore, rpc: RpcClient
) -> None:
    """Orphaned blocks O1 and O2 had entries; their canonical replacements O1' (empty) and O2' do
    not. The ledger as of O1' is the ancestor's checkpoint: the orphaned O1 entry that follows it in
    the journal (before its reversal) is not part of it."""
    a, b, c = stack.investors[:3]
    asset = token_asset(CHAIN, stack.token.address)
    follower = make_follower(store, rpc, stack, confirmations=4)
    ancestor = block_of(stack.send(stack.token.functions.mint(a, 10 * TOKEN)))
    follower.sync(deadline_s=60)
    fork_point = str(stack.w3.provider.make_request("evm_snapshot", [])["result"])
    orphaned = block_of(stack.send(stack.token.functions.mint(b, 7 * TOKEN)))
    stack.send(stack.token.functions.mint(b, 1 * TOKEN))
    follower.sync(deadline_s=60)

    assert stack.w3.provider.make_request("evm_revert", [fork_point])["result"] is True
    stack.w3.provider.make_request("anvil_mine", [1])  # O1': no entries
    stack.send(stack.token.functions.mint(c, 2 * TOKEN))  # O2'
    stack.w3.provider.make_request("anvil_mine", [2])
    follower.sync(deadline_s=60)

    report = reconcile(store, rpc, chain_id=CHAIN, block=orphaned)
    assert row(report, holder_account(CHAIN, b), asset).ledger_units == token_balance(stack, b, orphaned) == 0
    assert report.differences == []
    assert reconcile(store, rpc, chain_id=CHAIN, block=ancestor).differences == []
    assert reconcile(store, rpc, chain_id=CHAIN).differences == []


class PrunedNode(httpx.BaseTransport):
    """Forwards to anvil, but answers eth_call below `keep_from` the way a full (non-archive)
    geth does for state it has pruned."""

    def __init__(self, keep_from: int) -> None:
        self.keep_from = keep_from
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content)
        calls = payload if isinstance(payload, list) else [payload]
        if any(call["method"] == "eth_call" and int(call["params"][1], 16) < self.keep_from for call in calls):
            return httpx.Response(
                200,
                json=[
                    {
                        "jsonrpc": "2.0",
                        "id": call["id"],
                        "error": {"code": -32000, "message": "missing trie node 0a1b2c"},
                    }
                    for call in calls
                ],
            )
        return self.inner.handle_request(request)


def test_a_pruned_node_asks_for_an_archive_node(stack: Stack, store: LedgerStore, anvil_chain: Any) -> None:
    a = stack.investors[0]
    with RpcClient(anvil_chain.rpc_url) as rpc:
        follower = make_follower(store, rpc, stack, confirmations=1)
        old = block_of(stack.send(stack.token.functions.mint(a, 1 * TOKEN)))
        stack.w3.provider.make_request("anvil_mine", [3])
        follower.sync(deadline_s=60)
        head = stack.w3.eth.block_number
    with RpcClient(anvil_chain.rpc_url, transport=PrunedNode(keep_from=head)) as pruned:
        assert reconcile(store, pruned, chain_id=CHAIN).differences == []
        with pytest.raises(ArchiveNodeNeeded, match=f"no state for block {old} .*needs an archive node"):
            reconcile(store, pruned, chain_id=CHAIN, block=old)


def kogi_app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(indexer_app, name="indexer")
    app.command("reconcile")(reconcile_command)
    return app


def test_cli_reconcile_block_and_chain(
    stack: Stack, store: LedgerStore, rpc: RpcClient, database_url: str, anvil_chain: Any, tmp_path: Path
) -> None:
    a, b = stack.investors[:2]
    follower = make_follower(store, rpc, stack, confirmations=2)
    n1 = block_of(stack.send(stack.token.functions.mint(a, 9 * TOKEN)))
    stack.send(stack.token.functions.transfer(b, 4 * TOKEN), a)
    follower.sync(deadline_s=60)
    cursor = follower.state.cursor()
    assert cursor is not None
    runner, app = CliRunner(), kogi_app()
    common = ["reconcile", "--rpc-url", anvil_chain.rpc_url, "--database-url", database_url]

    ok = runner.invoke(app, [*common, "--block", str(n1), "--chain", str(CHAIN)])
    assert ok.exit_code == 0, ok.output
    assert f"chain {CHAIN} at block {n1}:" in ok.output and f"0 differences at block {n1}" in ok.output
    line = next(printed for printed in ok.output.splitlines() if printed.startswith(holder_account(CHAIN, a)))
    assert line.split()[2:] == [str(9 * TOKEN), str(9 * TOKEN), "0"]  # 5 at the head: as of n1 indeed

    as_json = runner.invoke(app, [*common, "--block", str(n1), "--json"])
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.output)
    assert document["block"] == n1 and document["differences"] == 0

    head = runner.invoke(app, common)
    assert head.exit_code == 0 and f"at block {cursor.last_block}" in head.output

    above = runner.invoke(app, [*common, "--block", str(cursor.last_block + 5)])
    assert above.exit_code == 1
    assert f"kogi: error: block {cursor.last_block + 5} is not indexed yet" in above.output

    other = runner.invoke(app, [*common, "--chain", "1"])
    assert other.exit_code == 1 and "kogi: error: the RPC serves chain 31337, not chain 1" in other.output

    asset = token_asset(CHAIN, stack.token.address)
    bogus_legs = transfer_legs(mint_account(CHAIN), holder_account(CHAIN, b), asset, 2)
    store.post("main", EntryRequest("bogus-cli", "mint", bogus_legs))
    bad = runner.invoke(app, common)
    assert bad.exit_code == 1
    assert f"kogi: error: 2 difference(s) at block {cursor.last_block}" in bad.output
