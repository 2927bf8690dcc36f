"""Ledger anchoring end to end on anvil, SQLite and PostgreSQL: the journal's Merkle root is published
on LedgerAnchor (services.anchoring), the LedgerAnchored event is indexed into indexer_anchors, and
`verify_anchors` / `kogi indexer anchors` recompute it from the journal: verified, then a tampered
seal or another ledger's content is a mismatch (exit 1), and an anchor past the head is
"ledger behind"."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli.indexer import indexer_app
from api.cli.ledger import app as ledger_app
from contracts.funding import dev_private_key
from indexer.anchors import (
    LEDGER_BEHIND,
    MISMATCH,
    VERIFIED,
    anchor_records,
    delete_anchors_after,
    list_anchors,
    verify_anchors,
    write_anchors,
)
from indexer.decode import decode_log, events_of_kind
from indexer.mapping import RECORDED_EVENTS, followed_events
from indexer.rpc import RpcClient
from ledger import EntryRequest, LedgerStore, transfer_legs
from ledger.anchoring import journal_merkle_root, ledger_key, merkle_proof
from ledger.chart import platform_store
from services.anchoring import AnchorPublishError, publish_anchor
from tests.indexer.conftest import TOKEN, Stack, make_follower, migrated

CHAIN = 31337
SYNC_DEADLINE_S = 60.0


def mirror_activity(stack: Stack, store: LedgerStore, rpc: RpcClient, mints: int) -> None:
    """Chain activity mirrored into the ledger 'main' (entries to anchor)."""
    for i in range(mints):
        stack.send(stack.token.functions.mint(stack.investors[i % len(stack.investors)], (i + 1) * TOKEN))
    make_follower(store, rpc, stack, confirmations=0).sync()


def index_anchors(store: LedgerStore, rpc: RpcClient, stack: Stack) -> list[Any]:
    """What the follower does per step: decode the anchor contract's logs, record them in one transaction."""
    address = stack.core.anchor.address.lower()
    logs = rpc.get_logs(0, rpc.head(), [address], [list(events_of_kind("anchor"))])
    events = []
    for log in logs:
        decoded = decode_log("anchor", log)
        assert decoded is not None
        events.append((int(log["blockNumber"], 16), log["blockHash"].lower(), address, (log, *decoded)))
    records = anchor_records(CHAIN, events)
    with store.db.write() as conn:
        write_anchors(conn, CHAIN, records)
    return records


def tamper_seal_hash(store: LedgerStore, sequence: int, new_hash: str) -> None:
    """Rewrite a seal's chain hash the way a superuser could: with the append-only triggers bypassed."""
    with store.db.write() as conn:
        if store.db.dialect == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text("UPDATE entry_seals SET hash = :h WHERE sequence = :s"), {"h": new_hash, "s": sequence})
        else:
            conn.execute(text("DROP TRIGGER entry_seals_no_update"))
            conn.execute(text("UPDATE entry_seals SET hash = :h WHERE sequence = :s"), {"h": new_hash, "s": sequence})
            conn.execute(
                text(
                    "CREATE TRIGGER entry_seals_no_update BEFORE UPDATE ON entry_seals "
                    "BEGIN SELECT RAISE(ABORT, 'kogi: journal is append-only (UPDATE on entry_seals rejected)'); END"
                )
            )


def test_anchor_is_a_recorded_event_of_a_core_contract() -> None:
    assert ("anchor", "LedgerAnchored") in RECORDED_EVENTS
    assert ("anchor", "LedgerAnchored") in followed_events()
    assert [e.name for e in events_of_kind("anchor").values()] == ["LedgerAnchored"]


def test_publish_index_verify_then_tamper(stack: Stack, store: LedgerStore, rpc: RpcClient) -> None:
    w3, anchor = stack.w3, stack.core.anchor.address
    key = dev_private_key(0)  # the deployer: deploy_core grants it ANCHOR_ROLE
    mirror_activity(stack, store, rpc, 3)
    head = store.head("main")[0]
    assert head >= 3

    first = publish_anchor(store, w3, anchor, "main", private_key=key)
    assert first.published and (first.from_sequence, first.to_sequence, first.anchor_index) == (1, head, 0)
    assert first.merkle_root == "0x" + journal_merkle_root(store, "main", 1, head).hex()
    assert first.ledger_key == "0x" + ledger_key("main").hex() and first.remaining == 0
    again = publish_anchor(store, w3, anchor, "main", private_key=key)
    assert not again.published and "already anchored" in (again.reason or "")

    mirror_activity(stack, store, rpc, 2)  # more entries: the next anchor continues the range
    second = publish_anchor(store, w3, anchor, "main", sender=stack.admin, max_range=1)  # unlocked account, capped
    assert (second.from_sequence, second.to_sequence, second.anchor_index) == (head + 1, head + 1, 1)
    assert second.remaining == store.head("main")[0] - head - 1
    third = publish_anchor(store, w3, anchor, "main", private_key=key)
    assert (third.from_sequence, third.to_sequence, third.remaining) == (head + 2, store.head("main")[0], 0)

    records = index_anchors(store, rpc, stack)
    index_anchors(store, rpc, stack)  # a replayed step: insert-or-ignore
    assert [(r.anchor_index, r.from_sequence, r.to_sequence) for r in list_anchors(store.db, CHAIN)] == [
        (0, 1, head),
        (1, head + 1, head + 1),
        (2, head + 2, store.head("main")[0]),
    ]
    assert records[0].merkle_root == first.merkle_root and records[0].tx_hash == first.tx_hash
    assert records[0].submitter == stack.admin.lower() and records[0].block_number == first.block_number
    assert [c.status for c in verify_anchors(store, store.db, CHAIN, "main")] == [VERIFIED] * 3
    assert verify_anchors(store, store.db, CHAIN, "other") == []

    # an entry's proof against the on-chain root
    proof = merkle_proof(store, "main", 1, head, 2)
    assert stack.core.anchor.functions.verify(ledger_key("main"), 0, proof.leaf, list(proof.proof)).call() is True

    tamper_seal_hash(store, head + 1, "ee" * 32)
    checks = verify_anchors(store, store.db, CHAIN, "main")
    assert [c.status for c in checks] == [VERIFIED, MISMATCH, VERIFIED]
    assert checks[1].computed_root != checks[1].anchor.merkle_root and "anchored" in checks[1].detail


def test_ledger_behind_other_content_and_reorg_delete(
    stack: Stack, store: LedgerStore, rpc: RpcClient, tmp_path: Path
) -> None:
    mirror_activity(stack, store, rpc, 2)
    head = store.head("main")[0]
    published = publish_anchor(store, stack.w3, stack.core.anchor.address, "main", private_key=dev_private_key(0))
    (record,) = index_anchors(store, rpc, stack)
    beyond = replace(
        record, anchor_index=1, from_sequence=head + 1, to_sequence=head + 5, block_number=record.block_number + 1
    )
    with store.db.write() as conn:
        write_anchors(conn, CHAIN, [beyond])
    checks = verify_anchors(store, store.db, CHAIN, "main")
    assert [c.status for c in checks] == [VERIFIED, LEDGER_BEHIND] and "ends at sequence" in checks[1].detail

    with store.db.write() as conn:  # a reorg rewinding to the anchor's block forgets the later one
        delete_anchors_after(conn, CHAIN, record.block_number)
    assert list_anchors(store.db, CHAIN) == [record]

    # the same anchors against another database whose ledger holds other entries: mismatch
    other = platform_store(migrated(f"sqlite:///{tmp_path}/other.db"))
    try:
        other.create_ledger("main")
        other.create_asset("main", "USD", 2, "fiat")
        other.create_account("main", "external:bank", "asset")
        holder = f"holder:{CHAIN}:0x{'11' * 20}"  # the default chart: holder codes carry an address
        other.create_account("main", holder, "liability")
        other.post_many(
            "main",
            [EntryRequest(f"o{i}", "deposit", transfer_legs("external:bank", holder, "USD", 1)) for i in range(head)],
        )
        with other.db.write() as conn:
            write_anchors(conn, CHAIN, [record])
        (check,) = verify_anchors(other, other.db, CHAIN, "main")
        assert check.status == MISMATCH and published.merkle_root == record.merkle_root
    finally:
        other.db.dispose()


def test_publish_needs_anchor_role(stack: Stack, store: LedgerStore, rpc: RpcClient) -> None:
    mirror_activity(stack, store, rpc, 1)
    with pytest.raises(AnchorPublishError, match="lacks ANCHOR_ROLE"):
        publish_anchor(store, stack.w3, stack.core.anchor.address, "main", private_key=dev_private_key(3))


def test_cli_anchor_then_check_then_tamper(
    stack: Stack, sqlite_url: str, anvil_chain: Any, rpc: RpcClient, tmp_path: Path
) -> None:
    manifest = tmp_path / "31337.json"
    manifest.write_text(json.dumps(stack.manifest.to_json()))
    database = migrated(sqlite_url)
    store = platform_store(database)
    try:
        mirror_activity(stack, store, rpc, 3)
        head = store.head("main")[0]
        app = typer.Typer()
        app.add_typer(ledger_app, name="ledger")
        app.add_typer(indexer_app, name="indexer")
        runner = CliRunner()
        common = ["--rpc-url", anvil_chain.rpc_url, "--database-url", sqlite_url]

        anchored = runner.invoke(app, ["ledger", "anchor", *common, "--manifest", str(manifest)])
        assert anchored.exit_code == 0, anchored.output
        assert f"anchored sequences 1..{head} as anchor #0" in anchored.output and "tx 0x" in anchored.output
        nothing = runner.invoke(app, ["ledger", "anchor", *common, "--manifest", str(manifest)])
        assert nothing.exit_code == 0 and "nothing to anchor" in nothing.output

        bad_key = runner.invoke(
            app,
            ["ledger", "anchor", *common, "--manifest", str(manifest), "--private-key-env", "KOGI_TEST_ANCHOR_KEY"],
            env={"KOGI_TEST_ANCHOR_KEY": "0xzz"},
        )
        assert bad_key.exit_code == 1
        assert bad_key.output.strip() == (
            "kogi: error: environment variable KOGI_TEST_ANCHOR_KEY does not hold a valid private key (32 bytes hex)"
        )

        index_anchors(store, rpc, stack)
        ok = runner.invoke(app, ["indexer", "anchors", *common])
        assert ok.exit_code == 0, ok.output
        assert f"#0 sequences 1..{head}" in ok.output and "verified" in ok.output
        as_json = runner.invoke(app, ["indexer", "anchors", *common, "--json"])
        assert json.loads(as_json.output)[0]["status"] == "verified"

        tamper_seal_hash(store, 2, "ee" * 32)
        bad = runner.invoke(app, ["indexer", "anchors", *common])
        assert bad.exit_code == 1
        assert "mismatch" in bad.output and f"do not match the journal of ledger main: #0 (1..{head})" in bad.output
    finally:
        database.dispose()


def test_the_follower_records_anchors_and_a_reorg_forgets_them(
    stack: Stack, store: LedgerStore, rpc: RpcClient
) -> None:
    w3 = stack.w3
    follower = make_follower(store, rpc, stack, confirmations=5)
    for i in range(3):
        stack.send(stack.token.functions.mint(stack.investors[i], TOKEN))
    follower.sync(deadline_s=SYNC_DEADLINE_S)
    before = w3.provider.make_request("evm_snapshot", [])["result"]
    stack.send(stack.token.functions.mint(stack.investors[3], TOKEN))  # orphaned below with the anchor
    follower.sync(deadline_s=SYNC_DEADLINE_S)
    published = publish_anchor(store, w3, stack.core.anchor.address, "main", private_key=dev_private_key(0))
    follower.sync(deadline_s=SYNC_DEADLINE_S)
    (record,) = list_anchors(store.db, CHAIN)
    assert (record.from_sequence, record.to_sequence, record.tx_hash) == (1, published.to_sequence, published.tx_hash)
    assert [c.status for c in verify_anchors(store, store.db, CHAIN, "main")] == [VERIFIED]

    assert w3.provider.make_request("evm_revert", [before])["result"] is True  # the anchor's block is orphaned
    for _ in range(3):
        w3.provider.make_request("evm_mine", [])
    follower.sync(deadline_s=SYNC_DEADLINE_S)
    assert list_anchors(store.db, CHAIN) == []

    again = publish_anchor(store, w3, stack.core.anchor.address, "main", private_key=dev_private_key(0))
    follower.sync(deadline_s=SYNC_DEADLINE_S)
    (record,) = list_anchors(store.db, CHAIN)
    assert record.tx_hash == again.tx_hash and record.to_sequence == store.head("main")[0]  # with the reversal
    assert [c.status for c in verify_anchors(store, store.db, CHAIN, "main")] == [VERIFIED]


def test_cli_anchors_on_an_unmigrated_database_is_one_error_line(anvil_chain: Any, tmp_path: Path) -> None:
    app = typer.Typer()
    app.add_typer(indexer_app, name="indexer")
    app.add_typer(ledger_app, name="ledger")
    ran = CliRunner().invoke(
        app,
        ["indexer", "anchors", "--rpc-url", anvil_chain.rpc_url, "--database-url", f"sqlite:///{tmp_path}/empty.db"],
    )
    assert ran.exit_code == 1
    assert "database error" in ran.output and "Traceback" not in ran.output
