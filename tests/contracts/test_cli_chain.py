"""`kogi contracts deploy` writes a manifest with the core's addresses; `kogi chain up` runs anvil."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from contracts.artifacts import REPO_ROOT
from contracts.manifest import Manifest, read_manifest
from tests.servers import free_port

CORE_KEYS = {
    "registry",
    "anchor",
    "donation_router",
    "factory",
    "stablecoin",
    "impl_token",
    "impl_round",
    "impl_splitter",
    "impl_rights_token",
}
START_TIMEOUT_S = 60


def test_contracts_deploy_writes_manifest(anvil_chain, w3, tmp_path: Path) -> None:
    manifest = tmp_path / "deployments" / "dev.json"
    result = CliRunner().invoke(
        app, ["contracts", "deploy", "--rpc-url", anvil_chain.rpc_url, "--manifest", str(manifest)]
    )
    assert result.exit_code == 0, result.output
    data = read_manifest(manifest)
    assert data.chain_id == 31337
    assert data.deployer == w3.eth.accounts[0]
    addresses = data.addresses()
    assert set(addresses) == CORE_KEYS
    for name, address in addresses.items():
        assert address in result.output
        assert len(w3.eth.get_code(address)) > 0, name
        assert data.contracts[name].block_number >= data.start_block
        tx_hash = data.contracts[name].tx_hash
        assert tx_hash.startswith("0x") and len(tx_hash) == 66
        assert w3.eth.get_transaction_receipt(tx_hash)["contractAddress"] == address
    artifact = REPO_ROOT / "contracts/build/artifacts/contracts/src/PortfolioFactory.sol/PortfolioFactory.json"
    factory = w3.eth.contract(address=addresses["factory"], abi=json.loads(artifact.read_text())["abi"])
    assert factory.functions.registry().call() == addresses["registry"]
    assert factory.functions.tokenImplementation().call() == addresses["impl_token"]


def test_contracts_deploy_refuses_to_overwrite_a_live_manifest(anvil_chain, w3, tmp_path: Path) -> None:
    """A running `kogi serve` (and its indexer) use the manifest: a second deploy on the same chain must
    not silently replace it; --manifest elsewhere or --force does."""
    manifest = tmp_path / "deployments" / "31337.json"
    argv = ["contracts", "deploy", "--rpc-url", anvil_chain.rpc_url, "--manifest", str(manifest)]
    assert CliRunner().invoke(app, argv).exit_code == 0
    before = manifest.read_text()

    refused = CliRunner().invoke(app, argv)
    assert refused.exit_code == 1
    assert refused.output.strip() == (
        f"kogi: error: {manifest} already describes live contracts on chain 31337 (a running `kogi serve` or "
        "indexer uses it): pass --manifest PATH to write the new deployment elsewhere, or --force to overwrite it"
    )
    assert manifest.read_text() == before

    forced = CliRunner().invoke(app, [*argv, "--force"])
    assert forced.exit_code == 0, forced.output
    assert read_manifest(manifest).addresses() != Manifest.from_json(json.loads(before)).addresses()


def test_contracts_deploy_unreachable_rpc_is_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["contracts", "deploy", "--rpc-url", f"http://127.0.0.1:{free_port()}", "--manifest", str(tmp_path / "m.json")],
    )
    assert result.exit_code == 1
    assert result.output.strip().startswith("kogi: error: cannot reach")
    assert not (tmp_path / "m.json").exists()


def test_chain_up_prints_accounts_and_stops_on_ctrl_c() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "chain", "up", "--port", str(port), "--accounts", "3"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C" in line:
                break
        text = "".join(lines)
        assert f"RPC URL: http://127.0.0.1:{port}" in text, text
        assert "(0) 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266" in text
        assert "key 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80" in text
        assert "(2) " in text and "(3) " not in text
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, rest
    assert "anvil stopped" in rest
