"""Solidity sources (contracts/src) and their Python bindings.

`load_artifact` reads the Hardhat 3 build output; `deploy_contract` deploys any
artifact through web3.py; `AnvilProcess` runs a local chain for development and tests.

The names are loaded on first use (PEP 562): `contracts.artifacts` alone must not pull in
web3 (half a second), which the indexer's reader process and the CLI's start-up would pay.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Artifact": "contracts.artifacts",
    "build_contracts": "contracts.artifacts",
    "load_artifact": "contracts.artifacts",
    "AnvilProcess": "contracts.anvil",
    "DEV_MNEMONIC": "contracts.anvil",
    "deploy_contract": "contracts.deploy",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'contracts' has no attribute {name!r}")
    return getattr(import_module(module), name)
