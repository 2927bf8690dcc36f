"""The chain state file is written atomically by Kogi (anvil_dumpState → temp file + fsync + rename,
previous copy kept as `.prev`; anvil's own exit dump goes to `.exit`), and a corrupt copy (empty or
truncated: what an in-place write cut by a kill leaves) is reported as such and replaced by the last
good copy, or named in a clear error when none is left."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from api.embedded_chain import EmbeddedChain
from api.settings import ApiSettings
from contracts.anvil import (
    ANVIL,
    AnvilProcess,
    StateFileCorrupt,
    choose_state,
    read_state,
    state_copies,
    write_state,
)
from contracts.artifacts import REPO_ROOT
from tests.servers import free_port, require_binary


@pytest.fixture(autouse=True)
def _anvil_installed() -> None:
    require_binary("anvil", [str(ANVIL)])


def _mine(anvil: AnvilProcess, blocks: int) -> str:
    w3 = anvil.web3()
    for _ in range(blocks):
        w3.provider.make_request("evm_mine", [])
    return "0x" + bytes(w3.eth.get_block("latest")["hash"]).hex()


def _run_chain(state: Path, blocks: int) -> tuple[int, str]:
    """Start anvil on `state`, mine, stop cleanly; the head (number, hash)."""
    anvil = AnvilProcess(port=free_port(), state_file=state, state_interval_s=0.2).start()
    try:
        head_hash = _mine(anvil, blocks)
        head = int(anvil.web3().eth.block_number)
    finally:
        anvil.stop()
    return head, head_hash


def _head(anvil: AnvilProcess) -> tuple[int, str]:
    w3 = anvil.web3()
    return int(w3.eth.block_number), "0x" + bytes(w3.eth.get_block("latest")["hash"]).hex()


def test_state_is_saved_whole_and_the_chain_continues_after_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "anvil-state.json"
    head = _run_chain(state, 3)
    main, exit_dump, prev = state_copies(state)
    assert read_state(main).block == head[0] == 3
    assert read_state(exit_dump).block == 3  # anvil's own dump on SIGTERM
    assert read_state(prev).block <= 3  # the copy before the last save
    assert not list(tmp_path.glob(".*.tmp")), "no temp file is left behind"

    anvil = AnvilProcess(port=free_port(), state_file=state).start()
    try:
        assert anvil.loaded_state is not None and anvil.loaded_state.path == main
        assert _head(anvil) == head
    finally:
        anvil.stop()


def test_write_state_keeps_the_previous_copy(tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    write_state(state, b'{"block": {"number": "0x1"}, "accounts": {}}')
    write_state(state, b'{"block": {"number": "0x2"}, "accounts": {}}')
    assert read_state(state).block == 2
    assert read_state(state_copies(state)[2]).block == 1


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_a_corrupt_state_file_is_reported_and_the_last_good_copy_used(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "anvil-state.json"
    _run_chain(state, 2)
    main, exit_dump, prev = state_copies(state)
    exit_dump.unlink()  # only the state file and the previous copy: the case a kill -9 of both leaves
    good = read_state(prev)
    text = main.read_bytes()
    main.write_bytes(b"" if damage == "empty" else text[: len(text) // 2])
    size = main.stat().st_size

    with caplog.at_level(logging.WARNING, logger="kogi.anvil"):
        anvil = AnvilProcess(port=free_port(), state_file=state).start()
    try:
        assert anvil.loaded_state is not None and anvil.loaded_state.path == prev
        assert int(anvil.web3().eth.block_number) == good.block
    finally:
        anvil.stop()
    expected = f"chain state file {main} is corrupt ({size} bytes" + (")" if damage == "empty" else ", not valid JSON")
    assert any(
        expected in record.getMessage() and f"the last good copy {prev}" in record.getMessage()
        for record in caplog.records
    ), [r.getMessage() for r in caplog.records]
    (kept,) = tmp_path.glob("anvil-state.json.corrupt-*")
    assert kept.stat().st_size == size
    assert read_state(main).block == good.block  # saved whole again


def test_no_good_copy_left_is_a_clear_error_naming_the_recovery(tmp_path: Path) -> None:
    state = tmp_path / "anvil-state.json"
    state.write_bytes(b"")
    with pytest.raises(StateFileCorrupt) as corrupt:
        AnvilProcess(port=free_port(), state_file=state).start()
    assert str(corrupt.value).startswith(f"chain state file {state} is corrupt (0 bytes)")
    assert choose_state(state)[0] is None and state.exists(), "nothing is moved when nothing can be loaded"

    settings = ApiSettings(
        chain_state_file=state,
        chain_port=free_port(),
        deployments_dir=tmp_path / "d",
        database_url=f"sqlite:///{tmp_path}/k.db",
        rpc_url=None,
    )
    with pytest.raises(RuntimeError) as failed:
        EmbeddedChain(settings, database=None).start()  # type: ignore[arg-type]
    message = str(failed.value)
    assert message.startswith(f"chain state file {state} is corrupt (0 bytes)")
    assert "`kogi chain recover`" in message and "cannot start anvil" not in message


OWNER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from contracts.anvil import AnvilProcess

    anvil = AnvilProcess(port=int(sys.argv[1]), state_file=Path(sys.argv[2]), state_interval_s=60, own_session=True)
    anvil.start()
    w3 = anvil.web3()
    for _ in range(4):
        w3.provider.make_request("evm_mine", [])
    print("0x" + bytes(w3.eth.get_block("latest")["hash"]).hex(), flush=True)
    time.sleep(120)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_a_hard_killed_owner_loses_no_block(tmp_path: Path) -> None:
    """kill -9 of the owner between two saves: anvil (SIGTERM from the kernel) dumps `.exit`, and the
    next start loads that newest good copy."""
    state = tmp_path / "anvil-state.json"
    port = free_port()
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(port), str(state)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        head_hash = owner.stdout.readline().strip()
        assert read_state(state).block == 0  # saved at start only (the interval is 60 s)
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(timeout=10)
    exit_dump = state_copies(state)[1]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if read_state(exit_dump).block == 4:
                break
        except StateFileCorrupt:
            pass
        time.sleep(0.1)
    anvil = AnvilProcess(port=free_port(), state_file=state).start()
    try:
        assert anvil.loaded_state is not None and anvil.loaded_state.path == exit_dump
        assert _head(anvil) == (4, head_hash)
    finally:
        anvil.stop()
    assert json.loads(state.read_text())["best_block_number"] == 4
    assert os.path.exists(state_copies(state)[2])
