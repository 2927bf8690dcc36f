"""Run anvil (npm @foundry-rs/anvil) as a child process on a dedicated port.

Never 8545: the default port is 18545 and tests pick a free one.

Lifetime: anvil must not outlive its owner. A clean stop sends SIGTERM (`stop`), but a hard-killed
owner (SIGKILL, OOM) cannot, and an anvil in its own session (`own_session`) does not get the
terminal's Ctrl-C either: it would keep the port and the next `make run` would fail. On Linux the
child therefore asks the kernel for SIGTERM when its parent dies (`PR_SET_PDEATHSIG`, set between
fork and exec) — SIGTERM, not SIGKILL, so anvil still writes its exit dump (see below).

The kernel sends that signal when the *thread* that forked the child exits, not the process. Callers
may start anvil from short-lived threads (the API lifespan runs `EmbeddedChain.start` through
`anyio.to_thread`, whose idle workers exit after 10 s), so every anvil is forked either by the main
thread or by one spawner thread that lives as long as the process (`_spawn`). Elsewhere (macOS) the
setting does not exist: there a hard-killed owner still leaves anvil running, and `start` says which
process holds the port.

Persistence (`state_file`): anvil's own `--state` rewrites the file in place, so a kill at the wrong
moment leaves it empty or truncated (seen: 4 of 4,628 hard kills). Instead anvil only loads a saved
state (`--load-state`) and this process saves it: every `state_interval_s` seconds and on `stop`
(before SIGTERM) it asks for the state (`anvil_dumpState`) and writes it atomically (temp file +
fsync + rename), keeping the previous good copy as `<file>.prev`. anvil itself dumps to
`<file>.exit` when it exits (`--dump-state`), so a hard-killed owner (anvil gets SIGTERM, see
above) loses nothing. On start every copy is checked (`read_state`) and the newest good one
(highest block) is loaded; a corrupt copy is renamed `<file>.corrupt-<time>` and reported, and
when no good copy is left `StateFileCorrupt` says so (`kogi chain recover` starts afresh).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gzip
import json
import logging
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
from itertools import pairwise
from pathlib import Path
from typing import Any

from web3 import HTTPProvider, Web3

from contracts.artifacts import REPO_ROOT

log = logging.getLogger("kogi.anvil")

ANVIL = REPO_ROOT / "node_modules" / ".bin" / "anvil"
"""The npm wrapper (a node script). It forwards SIGTERM to the real binary but exits at once,
before anvil has closed its port or dumped `--state`; `start` runs the binary itself when found."""
DEFAULT_PORT = 18545
DEFAULT_CHAIN_ID = 31337
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNT_COUNT = 10
START_TIMEOUT_S = 30.0
STATE_INTERVAL_S = 2.0
"""Default seconds between state saves: what a kill -9 of anvil itself can lose at most."""
DUMP_TIMEOUT_S = 60.0
PREV_SUFFIX = ".prev"
EXIT_SUFFIX = ".exit"


def _binary() -> Path:
    """The platform binary the wrapper would spawn (node_modules/@foundry-rs/anvil-<os>-<arch>/bin/anvil)."""
    for candidate in sorted((REPO_ROOT / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil")):
        if candidate.is_file():
            return candidate
    return ANVIL


def port_open(port: int) -> bool:
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


_spawn_requests: queue.SimpleQueue[tuple[Callable[[], subprocess.Popen[bytes]], Future[subprocess.Popen[bytes]]]] = (
    queue.SimpleQueue()
)
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
        """The chain state file it keeps: `--state`, or the file whose exit dump (`--dump-state
        <file>.exit`) it writes, as AnvilProcess starts it."""
        for flag, value in pairwise(self.argv):
            if flag == "--state":
                return value
            if flag == "--dump-state":
                return value.removesuffix(EXIT_SUFFIX)
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


# ----------------------------------------------------------------- the chain state file


class StateFileCorrupt(RuntimeError):
    """No usable copy of a chain state file (or anvil cannot load the one chosen)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class SavedState:
    path: Path
    block: int
    """The chain's head block in that copy."""


def state_copies(path: Path) -> tuple[Path, Path, Path]:
    """The state file, anvil's exit dump and the previous good copy, in order of preference."""
    return path, path.with_name(path.name + EXIT_SUFFIX), path.with_name(path.name + PREV_SUFFIX)


def read_state(path: Path) -> SavedState:
    """Check one copy: a JSON object with anvil's state keys. StateFileCorrupt says what is wrong."""
    try:
        size = path.stat().st_size
        if size == 0:
            raise StateFileCorrupt(path, f"chain state file {path} is corrupt (0 bytes)")
        with open(path, "rb") as handle:
            data = json.load(handle)
    except StateFileCorrupt:
        raise
    except OSError as exc:
        raise StateFileCorrupt(path, f"chain state file {path} cannot be read ({exc.strerror or exc})") from exc
    except (ValueError, RecursionError) as exc:  # truncated or garbled JSON
        raise StateFileCorrupt(
            path, f"chain state file {path} is corrupt ({size} bytes, not valid JSON: {exc})"
        ) from exc
    if not isinstance(data, dict) or not {"block", "accounts"} <= data.keys():
        raise StateFileCorrupt(path, f"chain state file {path} is corrupt ({size} bytes, not an anvil state)")
    try:
        block = data.get("best_block_number")
        block = int(block) if block is not None else int(str(data["block"]["number"]), 0)
    except (TypeError, ValueError, KeyError) as exc:
        raise StateFileCorrupt(path, f"chain state file {path} is corrupt ({size} bytes, no block number)") from exc
    return SavedState(path, block)


def choose_state(path: Path) -> tuple[SavedState | None, list[StateFileCorrupt]]:
    """The newest good copy of `path` (highest block; on a tie the earlier in `state_copies`) and
    the copies found corrupt. (None, []) when there is no copy at all: a new chain."""
    good: list[SavedState] = []
    bad: list[StateFileCorrupt] = []
    for copy in state_copies(path):
        if not copy.exists():
            continue
        try:
            good.append(read_state(copy))
        except StateFileCorrupt as exc:
            bad.append(exc)
    best = max(good, key=lambda saved: saved.block, default=None)  # max keeps the first of equals
    return best, bad


def set_aside(path: Path, label: str) -> Path:
    """Rename `path` to `<path>.<label>-<UTC time>` (kept for inspection, never read again)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.{label}-{stamp}")
    counter = 1
    while target.exists():
        target = path.with_name(f"{path.name}.{label}-{stamp}-{counter}")
        counter += 1
    os.replace(path, target)
    return target


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_state(path: Path, data: bytes) -> None:
    """Write a state atomically: temp file + fsync, the current file becomes `<file>.prev` (a hard
    link, so `path` itself never disappears), then rename over `path`. A crash at any point
    leaves `path` (and `.prev`) either the old or the new complete state."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    prev = state_copies(path)[2]
    if path.exists():
        prev_tmp = path.with_name(f".{prev.name}.{os.getpid()}.tmp")
        try:
            if prev_tmp.exists():
                prev_tmp.unlink()
            os.link(path, prev_tmp)
        except OSError:  # no hard links here: copy
            with open(path, "rb") as source, open(prev_tmp, "wb") as target:
                target.write(source.read())
                target.flush()
                os.fsync(target.fileno())
        os.replace(prev_tmp, prev)
    os.replace(tmp, path)
    _fsync_dir(directory)


def dump_state(rpc_url: str, timeout_s: float = DUMP_TIMEOUT_S) -> bytes:
    """anvil's state as JSON bytes (`anvil_dumpState` answers gzip-compressed hex), the format
    `--load-state` reads."""
    import requests

    response = requests.post(
        rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "anvil_dumpState", "params": []}, timeout=timeout_s
    )
    response.raise_for_status()
    body = response.json()
    if "error" in body:
        raise RuntimeError(f"anvil_dumpState: {body['error']}")
    raw = bytes.fromhex(str(body["result"]).removeprefix("0x"))
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


class StateSaver:
    """Saves anvil's state every `interval_s` seconds on a daemon thread (unchanged states are not
    rewritten); `stop()` ends the thread and saves once more."""

    def __init__(self, rpc_url: str, path: Path, interval_s: float) -> None:
        self.rpc_url = rpc_url
        self.path = path
        self.interval_s = interval_s
        self.saves = 0
        self._last: bytes | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="kogi-anvil-state", daemon=True)

    def start(self) -> StateSaver:
        self._thread.start()
        return self

    def save(self) -> bool:
        """One save now; True when written (False: unchanged)."""
        with self._lock:
            data = dump_state(self.rpc_url)
            if data == self._last:
                return False
            write_state(self.path, data)
            self._last = data
            self.saves += 1
            return True

    def _main(self) -> None:
        failed = False
        while not self._stop.wait(self.interval_s):
            try:
                self.save()
                failed = False
            except Exception as exc:  # noqa: BLE001 - logged once per outage; the next round retries
                if not failed:
                    log.warning("cannot save the chain state to %s: %s", self.path, exc)
                failed = True

    def stop(self, *, final_save: bool = True) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(DUMP_TIMEOUT_S)
        if final_save:
            try:
                self.save()
            except Exception as exc:  # noqa: BLE001 - anvil's own exit dump is the fallback
                log.warning("cannot save the chain state to %s on stop: %s", self.path, exc)


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
    state_file: Path | None = None
    """Keep the chain in this file across restarts (see "Persistence" in the module docstring)."""
    state_interval_s: float = STATE_INTERVAL_S
    loaded_state: SavedState | None = None
    """The copy this chain was loaded from (None: a new chain)."""
    saver: StateSaver | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AnvilProcess:
        if not ANVIL.exists():
            raise FileNotFoundError(f"{ANVIL} missing: run `npm install` (make does it)")
        if port_open(self.port):
            raise PortBusy(self.port, port_holder(self.port))
        argv = [
            str(_binary()),
            "--port",
            str(self.port),
            "--host",
            "127.0.0.1",
            "--chain-id",
            str(self.chain_id),
            "--accounts",
            str(self.accounts),
            "--mnemonic",
            DEV_MNEMONIC,
            "--hardfork",
            "prague",
            *self.extra_args,
        ]
        if self.block_time_s is not None:
            argv += ["--block-time", str(self.block_time_s)]
        if self.state_file is not None:
            self.loaded_state = self._state_to_load(self.state_file)
            if self.loaded_state is not None:
                argv += ["--load-state", str(self.loaded_state.path)]
            argv += ["--dump-state", str(state_copies(self.state_file)[1])]
        log_file = open(self.log_path, "wb") if self.log_path else None
        preexec = _die_with_parent_hook() if self.die_with_parent else None
        kwargs: dict[str, Any] = {
            "stdout": subprocess.DEVNULL if log_file is None else log_file,
            "stderr": subprocess.STDOUT,
            "start_new_session": self.own_session,
            "preexec_fn": preexec,
        }
        try:
            self.process = _spawn(lambda: subprocess.Popen(argv, **kwargs))
        finally:
            if log_file is not None:
                log_file.close()  # the child has its own copy of the descriptor
        deadline = time.monotonic() + START_TIMEOUT_S
        while not port_open(self.port):
            if self.process.poll() is not None:
                self._exited()
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"anvil did not listen on {self.port} in {START_TIMEOUT_S}s")
            time.sleep(0.05)
        if self.state_file is not None:
            self.saver = StateSaver(self.rpc_url, self.state_file, self.state_interval_s)
            try:
                self.saver.save()  # the file is whole from the start, even when a copy was loaded
            except Exception as exc:  # noqa: BLE001 - the periodic saves retry
                log.warning("cannot save the chain state to %s: %s", self.state_file, exc)
            self.saver.start()
        return self

    @staticmethod
    def _state_to_load(path: Path) -> SavedState | None:
        """The newest good copy of the state file; corrupt copies are set aside and reported. Raises
        StateFileCorrupt when copies exist but none is good (nothing is moved then)."""
        best, bad = choose_state(path)
        if best is None and bad:
            copies = "; ".join(exc.reason for exc in bad)
            missing = [str(copy) for copy in state_copies(path) if not copy.exists()]
            raise StateFileCorrupt(
                path,
                copies + (f"; no other copy ({', '.join(missing)} missing)" if missing else "; no good copy is left"),
            )
        assert best is not None or not bad
        for exc in bad:
            aside = set_aside(exc.path, "corrupt")
            log.warning(
                "%s; the last good copy %s (block %s) is used; the corrupt file is kept as %s",
                exc.reason,
                best.path if best else None,
                best.block if best else None,
                aside,
            )
        if best is not None and best.path != path:
            log.warning("chain state: loading %s (block %s), the newest good copy of %s", best.path, best.block, path)
        return best

    def _exited(self) -> None:
        assert self.process is not None
        code = self.process.returncode
        said = ""
        if self.log_path is not None:
            try:
                lines = [line for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
            except OSError:
                lines = []
            said = lines[0].strip() if lines else ""
        self.process = None
        if self.loaded_state is not None and "--load-state" in said:
            raise StateFileCorrupt(
                self.loaded_state.path, f"anvil cannot load the chain state file {self.loaded_state.path}: {said}"
            )
        raise RuntimeError(f"anvil exited with {code}" + (f": {said}" if said else ""))

    def web3(self) -> Web3:
        return Web3(HTTPProvider(self.rpc_url, request_kwargs={"timeout": 60}))

    def stop(self) -> None:
        if self.saver is not None:  # the last save happens while anvil still runs
            self.saver.stop(final_save=self.process is not None and self.process.poll() is None)
            self.saver = None
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None
