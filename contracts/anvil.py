"""Run anvil (npm @foundry-rs/anvil) as a child process on a dedicated port.

Never 8545: the default port is 18545 and tests pick a free one.

Lifetime: anvil must not outlive its owner. A clean stop sends SIGTERM (`stop`), but a hard-killed
owner (SIGKILL, OOM) cannot, and an anvil in its own session (`own_session`) does not get the
terminal's Ctrl-C either: it would keep the port and the next `make run` would fail. On Linux the
child therefore asks the kernel for SIGTERM when its parent dies (`PR_SET_PDEATHSIG`, set between
fork and exec) — SIGTERM, not SIGKILL, so anvil still writes its `--state` file.

The kernel sends that signal when the *thread* that forked the child exits, not the process. Callers
may start anvil from short-lived threads (the API lifespan runs `EmbeddedChain.start` through
`anyio.to_thread`, whose idle workers exit after 10 s), so every anvil is forked either by the main
thread or by one spawner thread that lives as long as the process (`_spawn`). Elsewhere (macOS) the
setting does not exist: there a hard-killed owner still leaves anvil running, and `start` says which
process holds the port.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


# ----------------------------------------------------------------- dying with the parent

PR_SET_PDEATHSIG = 1


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child get SIGTERM when its parent (thread) dies; None off Linux.

    libc and `prctl` are resolved here, before the fork: the child only makes the call (no import,
    no lock). If the parent died before the call took effect, the child is already reparented and
    exits at once instead of running orphaned."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    prctl = libc.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()
    sigterm = int(signal.SIGTERM)

    def preexec() -> None:
        if prctl(PR_SET_PDEATHSIG, sigterm, 0, 0, 0) != 0:
            os._exit(126)
        if os.getppid() != parent:
            os._exit(0)

    return preexec


_spawn_requests: queue.SimpleQueue[tuple[Callable[[], subprocess.Popen[bytes]], Future[subprocess.Popen[bytes]]]] = \
    queue.SimpleQueue()
_spawner_lock = threading.Lock()
_spawner: threading.Thread | None = None


def _spawner_main() -> None:
    while True:
        popen, result = _spawn_requests.get()
        try:
            result.set_result(popen())
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            result.set_exception(exc)


def _spawn(popen: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """Run `popen` on a thread that lives as long as the process (PDEATHSIG follows the forking thread)."""
    global _spawner
    if threading.current_thread() is threading.main_thread():
        return popen()
    with _spawner_lock:
        if _spawner is None or not _spawner.is_alive():
            _spawner = threading.Thread(target=_spawner_main, name="kogi-anvil-spawner", daemon=True)
            _spawner.start()
    result: Future[subprocess.Popen[bytes]] = Future()
    _spawn_requests.put((popen, result))
    return result.result()


# ----------------------------------------------------------------- who holds a port

@dataclass(frozen=True)
class PortHolder:
    pid: int
    argv: list[str]

    @property
    def is_anvil(self) -> bool:
        return bool(self.argv) and Path(self.argv[0]).name == "anvil"

    @property
    def state_file(self) -> str | None:
        """anvil's `--state` argument, if any."""
        for flag, value in zip(self.argv, self.argv[1:]):
            if flag == "--state":
                return value
        return None


def port_holder(port: int) -> PortHolder | None:
    """The process listening on a local TCP port, from /proc (Linux; same user only). Best effort:
    None when unknown, so callers can only say more, never less."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                argv = (proc / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
                return PortHolder(int(proc.name), [arg.decode(errors="replace") for arg in argv])
        except OSError:
            continue
    return None


class PortBusy(RuntimeError):
    """The port is taken; `holder` names the process when /proc tells."""

    def __init__(self, port: int, holder: PortHolder | None) -> None:
        self.port = port
        self.holder = holder
        who = ""
        if holder is not None:
            name = "anvil" if holder.is_anvil else Path(holder.argv[0]).name if holder.argv else "?"
            state = f" --state {holder.state_file}" if holder.state_file else ""
            who = f" by pid {holder.pid} ({name}{state})"
        super().__init__(f"port {port} is already in use{who}")


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
    die_with_parent: bool = True
    """Linux: anvil gets SIGTERM when this process dies, even by SIGKILL (see the module docstring)."""

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "AnvilProcess":
        if not ANVIL.exists():
            raise FileNotFoundError(f"{ANVIL} missing: run `npm install` (make does it)")
        if _port_open(self.port):
            raise PortBusy(self.port, port_holder(self.port))
        argv = [
            str(_binary()), "--port", str(self.port), "--host", "127.0.0.1",
            "--chain-id", str(self.chain_id), "--accounts", str(self.accounts),
            "--mnemonic", DEV_MNEMONIC, "--hardfork", "prague", *self.extra_args,
        ]
        if self.block_time_s is not None:
            argv += ["--block-time", str(self.block_time_s)]
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        preexec = _die_with_parent_hook() if self.die_with_parent else None
        kwargs: dict[str, Any] = {"stdout": log, "stderr": subprocess.STDOUT,
                                  "start_new_session": self.own_session, "preexec_fn": preexec}
        try:
            self.process = _spawn(lambda: subprocess.Popen(argv, **kwargs))
        finally:
            if self.log_path:
                log.close()  # the child has its own copy of the descriptor
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
