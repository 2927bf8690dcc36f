"""kill -9 the indexer process in the middle of a backfill; the restart resumes from the cursor:
every event posted exactly once, and the ledger reconciles with the chain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from indexer.reconcile import reconcile
from indexer.rpc import RpcClient
from indexer.state import IndexerState
from ledger.chart import platform_store
from tests.indexer.conftest import TOKEN, Stack, migrated
from tests.indexer.test_reorg_restart import all_entries

REPO = Path(__file__).resolve().parents[2]
MINTS = 40
EMPTY_BLOCKS_PER_MINT = 3
DEADLINE_S = 60.0
RUN_INDEXER = (
    "import typer; from api.cli.indexer import indexer_app; app = typer.Typer(); "
    "app.add_typer(indexer_app, name='indexer'); app()"
)


def indexer_process(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", RUN_INDEXER, "indexer", "run", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_kill_9_mid_backfill_then_restart(
    stack: Stack, database_url: str, anvil_chain: Any, rpc: RpcClient, tmp_path: Path
) -> None:
    for i in range(MINTS):
        stack.send(stack.token.functions.mint(stack.investors[i % 5], (i + 1) * TOKEN))
        stack.w3.provider.make_request("anvil_mine", [EMPTY_BLOCKS_PER_MINT])
    head = stack.w3.eth.block_number
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(stack.manifest.to_json()))
    database = migrated(database_url)
    state = IndexerState(database, stack.w3.eth.chain_id)
    args = [
        "--rpc-url",
        anvil_chain.rpc_url,
        "--database-url",
        database_url,
        "--manifest",
        str(manifest),
        "--confirmations",
        "2",
        "--max-blocks-per-step",
        "2",
        "--owner",
        "crash-test",
    ]
    try:
        process = indexer_process(args)
        start_block = stack.manifest.start_block
        deadline = time.monotonic() + DEADLINE_S
        while True:  # wait until the backfill is well under way, then kill -9
            cursor = state.cursor()
            if cursor is not None and cursor.last_block >= start_block + (head - start_block) // 2:
                break
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "the indexer made no progress"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        killed_at = state.cursor()
        assert killed_at is not None and killed_at.last_block < head

        restarted = subprocess.run(
            [sys.executable, "-c", RUN_INDEXER, "indexer", "run", *args, "--once"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
        )
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr

        store = platform_store(database)
        entries = all_entries(store)
        assert [e.kind for e in entries].count("mint") == MINTS
        refs = [e.external_ref for e in entries]
        assert len(refs) == len(set(refs))
        assert state.cursor().last_block == head  # type: ignore[union-attr]
        assert reconcile(store, rpc, chain_id=stack.w3.eth.chain_id).differences == []
    finally:
        if process.poll() is None:
            process.kill()
        database.dispose()
