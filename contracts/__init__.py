"""Solidity sources (contracts/src) and their Python bindings.

`load_artifact` reads the Hardhat 3 build output; `deploy_contract` deploys any
artifact through web3.py; `AnvilProcess` runs a local chain for development and tests.
"""
from contracts.artifacts import Artifact, build_contracts, load_artifact
from contracts.anvil import AnvilProcess, DEV_MNEMONIC
from contracts.deploy import deploy_contract

__all__ = [
    "AnvilProcess",
    "Artifact",
    "DEV_MNEMONIC",
    "build_contracts",
    "deploy_contract",
    "load_artifact",
]
