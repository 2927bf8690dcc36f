"""The embedded stack end to end: `kogi serve` brings up anvil + core contracts + indexer + API,
`kogi demo` drives the story against it and reconciles to zero differences; a restart keeps the
chain (the saved chain state) and the ledger mirror in step. Real processes, free ports, a temp .kogi/."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from contracts.anvil import ANVIL
from tests.kogi_processes import KogiServer, kogi_env
from tests.servers import free_port, require_binary

pytestmark = pytest.mark.chain


def test_make_run_stack_runs_the_demo_to_zero_differences(tmp_path: Path) -> None:
    require_binary("anvil", [str(ANVIL)])
    port, chain_port = free_port(), free_port()
    server = KogiServer(tmp_path, port, chain_port).start()
    try:
        chain = server.health_chain()
        assert chain["chain_id"] == 31337 and chain["indexer_running"] is True and chain["error"] is None
        assert (tmp_path / ".kogi" / "deployments" / "31337.json").exists()

        demo = subprocess.run([sys.executable, "-m", "api.cli", "demo", "--api-url", server.url, "--timeout-s", "60"],
                              cwd=tmp_path, env=kogi_env(chain_port), capture_output=True, text=True, timeout=120)
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        out = demo.stdout
        assert "balanced: True" in out
        assert "0 differences" in out and "DIFF" not in out
        assert "Dave   invests $       1" in out  # the micro-investment
        assert "BLOCKED, restriction code 2: RECIPIENT_NOT_VERIFIED" in out
        assert "Loved the first EP" in out
        indexed = server.health_chain()
        assert indexed["lag_blocks"] == 0 and indexed["indexed_block"] == indexed["head_block"] > 40
    finally:
        assert server.stopped_cleanly(), server.log.read_text()[-3000:]
    assert (tmp_path / ".kogi" / "anvil-state.json").exists()

    # A restart continues the same chain: the manifest is reused and the mirror still matches.
    manifest = (tmp_path / ".kogi" / "deployments" / "31337.json").read_text()
    server = KogiServer(tmp_path, port, chain_port).start()
    try:
        again = server.health_chain()
        assert again["error"] is None and again["head_block"] >= indexed["head_block"]
        assert (tmp_path / ".kogi" / "deployments" / "31337.json").read_text() == manifest
        reconcile = subprocess.run([sys.executable, "-m", "api.cli", "reconcile",
                                    "--rpc-url", f"http://127.0.0.1:{chain_port}"],
                                   cwd=tmp_path, env=kogi_env(chain_port), capture_output=True, text=True, timeout=60)
        assert reconcile.returncode == 0, reconcile.stdout[-2000:] + reconcile.stderr[-2000:]
    finally:
        assert server.stopped_cleanly(), server.log.read_text()[-3000:]

