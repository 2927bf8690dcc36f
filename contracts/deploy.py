"""Deploy any compiled artifact through web3.py and wait for its receipt."""
from __future__ import annotations

from typing import Any

from web3 import Web3
from web3.contract import Contract

from contracts.artifacts import load_artifact

RECEIPT_TIMEOUT_S = 120


class TransactionFailed(RuntimeError):
    """A transaction was mined but reverted."""


def deploy_contract(w3: Web3, contract_name: str, *constructor_args: Any, sender: str | None = None) -> Contract:
    artifact = load_artifact(contract_name)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx_hash = factory.constructor(*constructor_args).transact({"from": sender or w3.eth.accounts[0]})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
    if receipt["status"] != 1:
        raise TransactionFailed(f"deploying {contract_name} reverted (tx {tx_hash.hex()})")
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)


def at(w3: Web3, contract_name: str, address: str) -> Contract:
    """A handle on an already deployed contract (e.g. a clone made by the factory)."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(contract_name).abi)
