"""One embedded stack per chain state file.

`kogi serve` (when it starts anvil) and `kogi chain recover` hold an exclusive `flock` on
`<KOGI_CHAIN_STATE_FILE>.lock` for as long as they run. A second one on the same state fails at
once, before anything is started, naming the holder (pid, command, API URL, written into the lock
file). The kernel drops the lock when the holder exits, however it exits (kill -9 included), so a
stale lock file never blocks a start. anvil does not inherit the descriptor (close-on-exec).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock, the port checks remain
    fcntl = None  # type: ignore[assignment]

LOCK_SUFFIX = ".lock"


class InstanceRunning(RuntimeError):
    """Another process holds the lock; `holder` is what it wrote into the lock file."""

    def __init__(self, path: Path, holder: dict[str, Any]) -> None:
        self.path = path
        self.holder = holder
        super().__init__(describe_holder(holder))


def describe_holder(holder: dict[str, Any]) -> str:
    command = holder.get("command") or "a Kogi process"
    parts = [f"pid {holder['pid']}"] if holder.get("pid") else []
    if holder.get("api_url"):
        parts.append(f"API {holder['api_url']}")
    if holder.get("chain_port"):
        parts.append(f"chain port {holder['chain_port']}")
    return f"`{command}`" + (f" ({', '.join(parts)})" if parts else "")


def lock_path(state_file: Path) -> Path:
    return state_file.with_name(state_file.name + LOCK_SUFFIX)


@dataclass
class InstanceLock:
    path: Path
    fd: int | None

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None

    def __enter__(self) -> InstanceLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire(state_file: Path, **info: Any) -> InstanceLock:
    """Lock `<state_file>.lock` and write this process's `info` (command, api_url, …) into it.
    Raises InstanceRunning when another live process holds it."""
    path = lock_path(state_file)
    if fcntl is None:  # pragma: no cover
        return InstanceLock(path, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        try:
            raw = os.pread(fd, 4096, 0)
        finally:
            os.close(fd)
        try:
            holder = json.loads(raw.decode(errors="replace") or "{}")
        except ValueError:
            holder = {}
        raise InstanceRunning(path, holder if isinstance(holder, dict) else {}) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), **info}).encode(), 0)
    return InstanceLock(path, fd)
