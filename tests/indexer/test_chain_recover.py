"""`kogi chain recover` on a ledger holding off-chain entries and entries mirrored from a chain that is
lost: the mirrored ones are reversed (never deleted), the off-chain ones stay, the journal still
verifies, the indexer's state for the chain is reset, and mirroring starts over cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from indexer.reconcile import reconcile
from indexer.rpc import RpcClient
from indexer.state import IndexerState
from ledger import EntryRequest, LedgerStore, Leg, Side
from ledger.chart import bootstrap_ledger
from services.chain_recovery import mirrored_entries
from tests.indexer.conftest import TOKEN, USDC, Stack, make_follower
from tests.servers import free_port

OFF_CHAIN_HOLDER = "holder:31337:0xa11ce00000000000000000000000000000000000"


def _off_chain_entries(store: LedgerStore) -> None:
    """What a client posts through the API: a fiat deposit to a chain holder's account and a payment."""
    store.create_asset("main", "USD", 2, "fiat")
    store.create_account("main", "external:bank", "asset")
    store.post(
        "main",
        EntryRequest(
            "dep-1",
            "deposit",
            (Leg("external:bank", "USD", Side.DEBIT, 12_500), Leg(OFF_CHAIN_HOLDER, "USD", Side.CREDIT, 12_500)),
        ),
    )
    store.post(
        "main",
        EntryRequest(
            "pay-1",
            "payment",
            (Leg(OFF_CHAIN_HOLDER, "USD", Side.DEBIT, 2_500), Leg("external:bank", "USD", Side.CREDIT, 2_500)),
        ),
    )


def _balances(store: LedgerStore, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    return {pair: store.get_balance("main", *pair).posted_units for pair in pairs}


def _env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **extra: str) -> dict[str, str]:
    for name in ("KOGI_RPC_URL", "KOGI_EMBEDDED_CHAIN", "KOGI_DEFAULT_LEDGER"):
        monkeypatch.delenv(name, raising=False)
    return {
        "KOGI_DATABASE_URL": database_url,
        "KOGI_CHAIN_STATE_FILE": str(tmp_path / "anvil-state.json"),
        "KOGI_DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
        "KOGI_CHAIN_PORT": str(free_port()),
        **extra,
    }


def test_recover_reverses_the_mirrored_entries_and_keeps_the_off_chain_ones(
    stack: Stack, store: LedgerStore, rpc: RpcClient, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = stack.investors[0], stack.investors[1]
    bootstrap_ledger(store, "main")
    _off_chain_entries(store)
    stack.send(stack.token.functions.mint(a, 100 * TOKEN))
    stack.send(stack.token.functions.transfer(b, 30 * TOKEN), a)
    stack.invest(a, 200 * USDC, nonce=1)
    follower = make_follower(store, rpc, stack, confirmations=2)  # the last blocks' ids are kept (reorg window)
    follower.sync(deadline_s=60)
    follower.close()
    store.post(
        "main",
        EntryRequest(
            "pay-2",
            "payment",
            (  # an off-chain entry after the mirrored ones
                Leg(OFF_CHAIN_HOLDER, "USD", Side.DEBIT, 1_000),
                Leg("external:bank", "USD", Side.CREDIT, 1_000),
            ),
        ),
    )
    chain_id = stack.w3.eth.chain_id
    state = IndexerState(store.db, chain_id)
    assert state.entries_after(-1), "the reorg window should hold entries"

    mirrored = mirrored_entries(store.db, chain_id)["main"]
    entries = {e.id: e for e in store.list_entries("main", limit=1000)}
    assert len(entries) == len(mirrored) + 3 and {"dep-1", "pay-1", "pay-2"} == {
        e.idempotency_key for e in entries.values() if e.id not in mirrored
    }
    mirrored_pairs = {(leg.account, leg.asset) for entry_id in mirrored for leg in entries[entry_id].legs}
    off_chain_pairs = {(OFF_CHAIN_HOLDER, "USD"), ("external:bank", "USD")}
    assert any(_balances(store, mirrored_pairs).values())
    off_chain_before = _balances(store, off_chain_pairs)
    head_before = store.head("main")[0]

    state_file = tmp_path / "anvil-state.json"
    for copy in (state_file, tmp_path / "anvil-state.json.prev"):
        copy.write_text("")  # what a hard kill left behind
    (tmp_path / "deployments").mkdir()
    (tmp_path / "deployments" / f"{chain_id}.json").write_text("{}")

    result = CliRunner().invoke(app, ["chain", "recover", "--yes"], env=_env(database_url, tmp_path, monkeypatch))
    assert result.exit_code == 0, result.output
    assert f"{len(mirrored)} entries reversed" in result.output

    # mirrored balances are back to zero through reversals; nothing was deleted
    assert set(_balances(store, mirrored_pairs).values()) == {0}
    assert _balances(store, off_chain_pairs) == off_chain_before
    assert store.head("main")[0] == head_before + len(mirrored)
    for entry_id in mirrored:
        assert store.get_entry_by_key("main", f"reversal:{entry_id}").reverses_entry_id == entry_id
    assert store.verify("main").ok and store.trial_balance("main").balanced
    verify = CliRunner().invoke(app, ["ledger", "verify", "--database-url", database_url])
    assert verify.exit_code == 0, verify.output

    # the indexer's state for the chain is reset; the state files and manifest are set aside
    assert state.cursor() is None and state.contracts() == {} and state.entries_after(-1) == []
    assert state.checkpoint_at(10**9) is None
    assert not state_file.exists() and not (tmp_path / "anvil-state.json.prev").exists()
    assert len(list(tmp_path.glob("anvil-state.json.lost-*"))) == 1
    assert len(list(tmp_path.glob("anvil-state.json.prev.lost-*"))) == 1
    assert len(list((tmp_path / "deployments").glob(f"{chain_id}.json.lost-*"))) == 1

    # a second run has nothing left to reverse
    again = CliRunner().invoke(app, ["chain", "recover", "--yes"], env=_env(database_url, tmp_path, monkeypatch))
    assert again.exit_code == 0, again.output
    assert "0 entries reversed" in again.output and store.head("main")[0] == head_before + len(mirrored)

    # mirroring starts over: here the same chain is still there, so its blocks are mirrored anew
    make_follower(store, rpc, stack, confirmations=2).sync(deadline_s=60)
    assert reconcile(store, rpc, chain_id=chain_id).differences == []
    assert _balances(store, off_chain_pairs) == off_chain_before
    assert store.verify("main").ok


def test_recover_refuses_while_the_chain_still_answers_with_the_mirrored_block(
    stack: Stack,
    store: LedgerStore,
    rpc: RpcClient,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    anvil_chain,
) -> None:
    stack.send(stack.token.functions.mint(stack.investors[0], TOKEN))
    make_follower(store, rpc, stack, confirmations=0).sync(deadline_s=60)
    head = store.head("main")[0]
    env = _env(database_url, tmp_path, monkeypatch, KOGI_RPC_URL=anvil_chain.rpc_url)
    result = CliRunner().invoke(app, ["chain", "recover", "--yes"], env=env)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("kogi: error: chain 31337 at ")
    assert "it is not lost" in result.output and "Traceback" not in result.output
    assert store.head("main")[0] == head


def test_recover_without_yes_and_without_a_terminal_changes_nothing(
    stack: Stack, store: LedgerStore, rpc: RpcClient, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.send(stack.token.functions.mint(stack.investors[0], TOKEN))
    make_follower(store, rpc, stack, confirmations=0).sync(deadline_s=60)
    head = store.head("main")[0]
    result = CliRunner().invoke(app, ["chain", "recover"], env=_env(database_url, tmp_path, monkeypatch))
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == "kogi: error: confirmation needed: pass --yes to recover"
    assert store.head("main")[0] == head and IndexerState(store.db, 31337).cursor() is not None
