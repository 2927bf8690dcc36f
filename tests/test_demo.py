"""The embedded stack end to end: `kogi serve` brings up anvil + core contracts + indexer + API,
`kogi demo` drives the story against it and reconciles to zero differences; a restart keeps the
chain (anvil --state) and the ledger mirror in step. Real processes, free ports, a temp .kogi/."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from contracts.anvil import ANVIL
from tests.servers import free_port, require_binary

pytestmark = pytest.mark.chain

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def _env(chain_port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("KOGI_")}
    env.update(KOGI_CHAIN_PORT=str(chain_port), COLUMNS="200")
    return env


class _Server:
    def __init__(self, cwd: Path, port: int, chain_port: int) -> None:
        self.cwd, self.port, self.chain_port = cwd, port, chain_port
        self.url = f"http://127.0.0.1:{port}"
        self.log = cwd / f"serve-{time.monotonic_ns()}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "_Server":
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(self.port)],
                                            cwd=self.cwd, env=_env(self.chain_port), stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self.process.poll() is None, f"kogi serve exited: {self.log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"kogi serve not up in {START_TIMEOUT_S}s: {self.log.read_text()[-3000:]}"
            time.sleep(0.2)

    def health_chain(self) -> dict:
        (chain,) = httpx.get(f"{self.url}/health", timeout=10).json()["chains"]
        return chain

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def stopped_cleanly(self) -> bool:
        """uvicorn re-raises SIGTERM after its graceful shutdown (exit -15); the lifespan must have finished."""
        return self.stop() in (0, -signal.SIGTERM) and "Application shutdown complete." in self.log.read_text()


def test_make_run_stack_runs_the_demo_to_zero_differences(tmp_path: Path) -> None:
    require_binary("anvil", [str(ANVIL)])
    port, chain_port = free_port(), free_port()
    server = _Server(tmp_path, port, chain_port).start()
    try:
        chain = server.health_chain()
        assert chain["chain_id"] == 31337 and chain["indexer_running"] is True and chain["error"] is None
        assert (tmp_path / ".kogi" / "deployments" / "31337.json").exists()

        demo = subprocess.run([sys.executable, "-m", "api.cli", "demo", "--api-url", server.url, "--timeout-s", "60"],
                              cwd=tmp_path, env=_env(chain_port), capture_output=True, text=True, timeout=120)
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
    server = _Server(tmp_path, port, chain_port).start()
    try:
        again = server.health_chain()
        assert again["error"] is None and again["head_block"] >= indexed["head_block"]
        assert (tmp_path / ".kogi" / "deployments" / "31337.json").read_text() == manifest
        reconcile = subprocess.run([sys.executable, "-m", "api.cli", "reconcile",
                                    "--rpc-url", f"http://127.0.0.1:{chain_port}"],
                                   cwd=tmp_path, env=_env(chain_port), capture_output=True, text=True, timeout=60)
        assert reconcile.returncode == 0, reconcile.stdout[-2000:] + reconcile.stderr[-2000:]
    finally:
        assert server.stopped_cleanly(), server.log.read_text()[-3000:]
