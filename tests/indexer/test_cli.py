"""`kogi indexer run --once` and `kogi reconcile`: zero differences, then a tampered ledger is named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from api.cli.indexer import indexer_app, reconcile
from indexer.mapping import holder_account, mint_account, token_asset
from ledger import EntryRequest, transfer_legs
from ledger.chart import platform_store
from tests.indexer.conftest import TOKEN, Stack, migrated


def kogi_app() -> typer.Typer:
    """The two commands as api/cli.py registers them."""
    app = typer.Typer()
    app.add_typer(indexer_app, name="indexer")
    app.command("reconcile")(reconcile)
    return app


def test_run_once_then_reconcile_then_tamper(stack: Stack, sqlite_url: str, anvil_chain: Any, tmp_path: Path) -> None:
    a, b = stack.investors[0], stack.investors[1]
    stack.send(stack.token.functions.mint(a, 9 * TOKEN))
    stack.send(stack.token.functions.transfer(b, 4 * TOKEN), a)
    manifest = tmp_path / "31337.json"
    manifest.write_text(json.dumps(stack.manifest.to_json()))
    migrated(sqlite_url).dispose()
    runner, app = CliRunner(), kogi_app()
    common = ["--rpc-url", anvil_chain.rpc_url, "--database-url", sqlite_url]

    ran = runner.invoke(app, ["indexer", "run", *common, "--manifest", str(manifest), "--confirmations", "0", "--once"])
    assert ran.exit_code == 0, ran.output
    assert "lag 0" in ran.output

    ok = runner.invoke(app, ["reconcile", *common])
    assert ok.exit_code == 0, ok.output
    assert "0 differences" in ok.output and holder_account(31337, b) in ok.output

    database = migrated(sqlite_url)
    try:
        asset = token_asset(31337, stack.token.address)
        platform_store(database).post(
            "main",
            EntryRequest("bogus-1", "mint", transfer_legs(mint_account(31337), holder_account(31337, a), asset, 1)),
        )
    finally:
        database.dispose()
    bad = runner.invoke(app, ["reconcile", *common])
    assert bad.exit_code == 1
    assert f"{holder_account(31337, a)} {asset} diff 1" in bad.output

    wrong_block = runner.invoke(app, ["reconcile", *common, "--block", str(10**9)])
    assert wrong_block.exit_code == 1 and f"block {10**9} is not indexed yet" in wrong_block.output
