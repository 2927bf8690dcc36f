"""anvil does not outlive a hard-killed owner (Linux PR_SET_PDEATHSIG), even when a short-lived
thread started it (the API lifespan starts the chain on an anyio worker thread); a taken port names
the anvil holding it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from api.embedded_chain import busy_port_message
from contracts.anvil import ANVIL, AnvilProcess, PortBusy, port_open
from contracts.artifacts import REPO_ROOT
from tests.servers import free_port, require_binary

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")

OWNER = textwrap.dedent("""
    import sys, threading, time
    from contracts.anvil import AnvilProcess

    anvil = AnvilProcess(port=int(sys.argv[1]), own_session=True)
    if sys.argv[2] == "thread":  # like anyio.to_thread: the starting thread ends right after
        worker = threading.Thread(target=anvil.start)
        worker.start()
        worker.join()
    else:
        anvil.start()
    print(anvil.process.pid, flush=True)
    time.sleep(120)
""")


def _gone(pid: int) -> bool:
    """Exited (a zombie not reaped yet by whoever adopted it counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


@pytest.fixture(autouse=True)
def _anvil_installed() -> None:
    require_binary("anvil", [str(ANVIL)])


@pytest.mark.parametrize("started_on", ["main", "thread"])
def test_anvil_dies_when_its_owner_is_sigkilled(started_on: str) -> None:
    port = free_port()
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(port), started_on], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    anvil_pid = None
    try:
        assert owner.stdout is not None
        anvil_pid = int(owner.stdout.readline())
        time.sleep(1.0)  # the starting thread has ended: anvil must still be serving
        assert port_open(port) and not _gone(anvil_pid)

        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)
        deadline = time.monotonic() + 10
        while (port_open(port) or not _gone(anvil_pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not port_open(port), "anvil kept the port after its owner was killed"
        assert _gone(anvil_pid)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(timeout=10)
        if anvil_pid is not None and not _gone(anvil_pid):
            os.kill(anvil_pid, signal.SIGKILL)


def test_a_taken_port_names_the_leftover_anvil(tmp_path: Path) -> None:
    port = free_port()
    state = tmp_path / "anvil-state.json"
    first = AnvilProcess(port=port, extra_args=["--state", str(state)]).start()
    try:
        assert first.process is not None
        with pytest.raises(PortBusy) as busy:
            AnvilProcess(port=port).start()
        holder = busy.value.holder
        assert holder is not None and holder.pid == first.process.pid
        assert holder.is_anvil and holder.state_file == str(state)
        assert f"port {port} is already in use by pid {holder.pid} (anvil --state {state})" == str(busy.value)

        message = busy_port_message(busy.value, state)
        assert f"held by anvil pid {holder.pid} using the same state file" in message
        assert f"`kill {holder.pid}`" in message
        other = busy_port_message(busy.value, tmp_path / "elsewhere.json")
        assert "same state file" not in other and f"pid {holder.pid}" in other and "KOGI_CHAIN_PORT" in other
    finally:
        first.stop()
