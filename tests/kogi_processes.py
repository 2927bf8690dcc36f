"""Real `kogi` processes for end-to-end tests: a `kogi serve` on free ports in a temporary working
directory (its own .kogi/), and a command that must fail with one readable line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.servers import free_port

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
FAIL_TIMEOUT_S = 60.0


def kogi_env(chain_port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("KOGI_")}
    env.update(KOGI_CHAIN_PORT=str(chain_port), COLUMNS="200")
    return env


class KogiServer:
    def __init__(self, cwd: Path, port: int, chain_port: int) -> None:
        self.cwd, self.port, self.chain_port = cwd, port, chain_port
        self.url = f"http://127.0.0.1:{port}"
        self.log = cwd / f"serve-{time.monotonic_ns()}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> KogiServer:
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port)],
                cwd=self.cwd,
                env=kogi_env(self.chain_port),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self.process.poll() is None, f"kogi serve exited: {self.log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (
                f"kogi serve not up in {START_TIMEOUT_S}s: {self.log.read_text()[-3000:]}"
            )
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
        """Exit 0 after the graceful shutdown (-15 if the signal were raised again, as plain uvicorn does);
        the application's shutdown (indexer, last state save, anvil) must have finished."""
        return self.stop() in (0, -signal.SIGTERM) and "Application shutdown complete." in self.log.read_text()


def kogi(argv: list[str], cwd: Path, env: dict[str, str], timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s
    )


def one_error_line(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run `kogi <argv>`; assert exit 1 and exactly one non-empty stderr line `kogi: error: …` (no
    traceback anywhere); return that line."""
    started = time.monotonic()
    result = kogi(argv, cwd, env if env is not None else kogi_env(free_port()), timeout_s=FAIL_TIMEOUT_S)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, (result.returncode, result.stdout[-2000:], result.stderr[-3000:])
    assert len(lines) == 1 and lines[0].startswith("kogi: error: "), result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr
    one_error_line.seconds = time.monotonic() - started  # type: ignore[attr-defined]
    return lines[0]
