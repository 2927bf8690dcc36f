"""`kogi serve` checks everything that can stop a start before it starts anything, and every failure is
one line on stderr (`kogi: error: …`) with exit 1, never a traceback: a bad port, a second server on the
same chain state, a taken API or chain port, a ledger that mirrors a lost chain. The real command runs
in a subprocess, as a user runs it."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from contracts.anvil import ANVIL, port_open
from tests.kogi_processes import KogiServer, kogi, one_error_line
from tests.kogi_processes import kogi_env as _env
from tests.servers import free_port, require_binary


def test_an_invalid_port_is_one_line(tmp_path: Path) -> None:
    line = one_error_line(["serve", "--port", "99999"], tmp_path)
    assert line == "kogi: error: --port 99999 is not a TCP port (1-65535)"
    assert not (tmp_path / ".kogi").exists()


def test_db_upgrade_with_a_bogus_url_is_one_line(tmp_path: Path) -> None:
    line = one_error_line(["db", "upgrade", "--database-url", "bogus://x"], tmp_path)
    assert line.startswith("kogi: error: cannot open the database bogus://x: ")


def test_a_taken_chain_port_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    require_binary("anvil", [str(ANVIL)])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        chain_port = taken.getsockname()[1]
        api_port = free_port()
        line = one_error_line(["serve", "--port", str(api_port)], tmp_path, _env(chain_port))
    assert line.startswith(f"kogi: error: cannot start anvil: port {chain_port} is already in use by pid {os.getpid()}")
    assert "KOGI_CHAIN_PORT" in line
    assert not (tmp_path / ".kogi" / "kogi.db").exists(), "nothing is started before the ports are checked"
    assert not port_open(api_port)


@pytest.mark.chain
def test_a_second_server_is_refused_before_it_starts_anything(tmp_path: Path) -> None:
    """Same state (same working directory): the running server is named, no second anvil starts, the
    running server's anvil log and state stay its own. Only the API port taken (another state): the
    port's holder is named, again before any anvil starts."""
    require_binary("anvil", [str(ANVIL)])
    first = tmp_path / "first"
    first.mkdir()
    port, chain_port = free_port(), free_port()
    server = KogiServer(first, port, chain_port).start()
    try:
        assert server.process is not None
        anvil_log = first / ".kogi" / "anvil.log"
        log_before = anvil_log.read_bytes()

        other_port, other_chain_port = free_port(), free_port()
        line = one_error_line(["serve", "--port", str(other_port)], first, _env(other_chain_port))
        assert line.startswith(
            f"kogi: error: `kogi serve` (pid {server.process.pid}, API http://127.0.0.1:{port}, "
            f"chain port {chain_port}) is running with the chain state file .kogi/anvil-state.json: "
            f"stop it first"
        )
        assert "kill" in line and f"kill {server.process.pid}" in line
        assert one_error_line.seconds < 15  # type: ignore[attr-defined]
        assert not port_open(other_chain_port) and not port_open(other_port)
        assert anvil_log.read_bytes()[: len(log_before)] == log_before, "the running server's anvil log was rewritten"

        second = tmp_path / "second"
        second.mkdir()
        line = one_error_line(["serve", "--port", str(port)], second, _env(other_chain_port))
        assert line.startswith(
            f"kogi: error: cannot serve the API on 127.0.0.1:{port}: the port is already in use by "
            f"pid {server.process.pid} ("
        )
        assert not (second / ".kogi" / "anvil.log").exists() and not port_open(other_chain_port)

        assert server.health_chain()["indexer_running"] is True  # the first server never noticed
    finally:
        assert server.stopped_cleanly(), server.log.read_text()[-3000:]


@pytest.mark.chain
def test_a_corrupt_chain_state_is_one_line_naming_the_recovery(tmp_path: Path) -> None:
    """A 0-byte state file and no other copy: not "cannot start anvil on port …" but what it is, and the
    way out; `kogi chain recover` then sets it aside (the database had no mirror yet: nothing to reverse)."""
    require_binary("anvil", [str(ANVIL)])
    state = tmp_path / ".kogi" / "anvil-state.json"
    state.parent.mkdir()
    state.write_bytes(b"")
    env = {**_env(free_port()), "KOGI_ADMIN_API_KEY": "k" * 32}
    line = one_error_line(["serve", "--port", str(free_port())], tmp_path, env)
    assert line.startswith("kogi: error: chain state file .kogi/anvil-state.json is corrupt (0 bytes); no other copy ")
    assert "`kogi chain recover`" in line and "cannot start anvil" not in line
    assert state.exists()

    recovered = kogi(["chain", "recover", "--yes"], tmp_path, env)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert not state.exists() and len(list(state.parent.glob("anvil-state.json.lost-*"))) == 1
