"""A real `kogi serve` process (uvicorn, no embedded chain) for tests that must hit the server as an
outside client does: the hostile-input module (a crash must not kill it) and the schemathesis run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.servers import free_port, wait_for_port

LIVE_ADMIN_KEY = "live-admin-key-" + "q" * 24
LIVE_JWT_KEYS = "live:" + "j" * 40
KOGI = Path(sys.executable).with_name("kogi")


@dataclass
class LiveServer:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {LIVE_ADMIN_KEY}"}

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30, **kwargs)  # type: ignore[arg-type]

    def alive(self) -> bool:
        """The process runs and answers /health."""
        if self.process.poll() is not None:
            return False
        try:
            return httpx.get(f"{self.base_url}/health", timeout=10).status_code == 200
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def live_server(database_url: str, workdir: Path) -> Iterator[LiveServer]:
    port = free_port()
    env = {
        **os.environ,
        "KOGI_DATABASE_URL": database_url,
        "KOGI_EMBEDDED_CHAIN": "false",
        "KOGI_ADMIN_API_KEY": LIVE_ADMIN_KEY,
        "KOGI_JWT_KEYS": LIVE_JWT_KEYS,  # PostgreSQL (distributed mode) generates none: sign-in needs them
    }
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(KOGI), "serve", "--port", str(port)], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = LiveServer(process, f"http://127.0.0.1:{port}", log_path)
    try:
        wait_for_port(port)
        deadline = time.monotonic() + 60
        while not server.alive():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"kogi serve did not start:\n{server.log()}")
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
