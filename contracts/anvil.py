"""Run anvil (npm @foundry-rs/anvil) as a child process on a dedicated port.

Never 8545: the default port is 18545 and tests pick a free one.
"""
from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from web3 import HTTPProvider, Web3

from contracts.artifacts import REPO_ROOT

ANVIL = REPO_ROOT / "node_modules" / ".bin" / "anvil"
"""The npm wrapper (a node script). It forwards SIGTERM to the real binary but exits at once,
before anvil has closed its port or dumped `--state`; `start` runs the binary itself when found."""
DEFAULT_PORT = 18545
DEFAULT_CHAIN_ID = 31337
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNT_COUNT = 10
START_TIMEOUT_S = 30.0


def _binary() -> Path:
    """The platform binary the wrapper would spawn (node_modules/@foundry-rs/anvil-<os>-<arch>/bin/anvil)."""
    for candidate in sorted((REPO_ROOT / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil")):
        if candidate.is_file():
            return candidate
    return ANVIL


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class AnvilProcess:
    port: int = DEFAULT_PORT
    chain_id: int = DEFAULT_CHAIN_ID
    block_time_s: float | None = None
    accounts: int = DEV_ACCOUNT_COUNT
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    own_session: bool = False
    """Start anvil in its own session/process group, so a terminal's Ctrl-C does not reach it and its
    owner decides the shutdown order (the embedded API stops its indexer first)."""

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "AnvilProcess":
        if not ANVIL.exists():
            raise FileNotFoundError(f"{ANVIL} missing: run `npm install` (make does it)")
        if _port_open(self.port):
            raise RuntimeError(f"port {self.port} is already in use")
        argv = [
            str(_binary()), "--port", str(self.port), "--host", "127.0.0.1",
            "--chain-id", str(self.chain_id), "--accounts", str(self.accounts),
            "--mnemonic", DEV_MNEMONIC, "--hardfork", "prague", *self.extra_args,
        ]
        if self.block_time_s is not None:
            argv += ["--block-time", str(self.block_time_s)]
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=self.own_session)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _port_open(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"anvil exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"anvil did not listen on {self.port} in {START_TIMEOUT_S}s")
            time.sleep(0.05)
        return self

    def web3(self) -> Web3:
        return Web3(HTTPProvider(self.rpc_url, request_kwargs={"timeout": 60}))

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None
