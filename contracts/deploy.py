"""Deploy any compiled artifact through web3.py and wait for its receipt; transact and decode reverts."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.types import TxReceipt

from contracts.artifacts import ARTIFACTS_DIR, load_artifact

RECEIPT_TIMEOUT_S = 120


class TransactionFailed(RuntimeError):
    """A transaction was mined but reverted, or would revert (estimate failed)."""


def deploy_contract_with_receipt(
    w3: Web3, contract_name: str, *constructor_args: Any, sender: str | None = None
) -> tuple[Contract, TxReceipt]:
    """Deploy `contract_name`; return the handle and the receipt (block number for manifests)."""
    artifact = load_artifact(contract_name)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx_hash = factory.constructor(*constructor_args).transact({"from": sender or w3.eth.accounts[0]})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
    if receipt["status"] != 1:
        raise TransactionFailed(f"deploying {contract_name} reverted (tx {tx_hash.hex()})")
    address = receipt["contractAddress"]
    if address is None:
        raise TransactionFailed(f"deploying {contract_name}: the receipt has no contract address (tx {tx_hash.hex()})")
    return w3.eth.contract(address=address, abi=artifact.abi), receipt


def deploy_contract(w3: Web3, contract_name: str, *constructor_args: Any, sender: str | None = None) -> Contract:
    return deploy_contract_with_receipt(w3, contract_name, *constructor_args, sender=sender)[0]


def at(w3: Web3, contract_name: str, address: str) -> Contract:
    """A handle on an already deployed contract (e.g. a clone made by the factory)."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(contract_name).abi)


def transact(fn: Any, sender: str, value_wei: int = 0, gas: int | None = None) -> TxReceipt:
    """Send a bound contract call from an unlocked account and wait; raise TransactionFailed on revert."""
    tx: dict[str, Any] = {"from": sender}
    if value_wei:
        tx["value"] = value_wei
    if gas is not None:
        tx["gas"] = gas
    try:
        tx_hash = fn.transact(tx)
    except (ContractCustomError, ContractLogicError) as exc:
        raise TransactionFailed(f"{fn.fn_name} would revert: {describe_revert(fn.contract_abi, exc)}") from exc
    receipt: TxReceipt = fn.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
    if receipt["status"] != 1:
        raise TransactionFailed(f"{fn.fn_name} reverted (tx {tx_hash.hex()})")
    return receipt


def error_selectors(abi: list[dict[str, Any]]) -> dict[str, tuple[str, list[str]]]:
    """Custom errors of an ABI: 4-byte selector hex -> (name, argument types)."""
    table: dict[str, tuple[str, list[str]]] = {}
    for item in abi:
        if item.get("type") == "error":
            types = [arg["type"] for arg in item["inputs"]]
            signature = f"{item['name']}({','.join(types)})"
            table["0x" + keccak(text=signature)[:4].hex()] = (item["name"], types)
    return table


def decode_custom_error(abi: list[dict[str, Any]], data: str) -> tuple[str, tuple[Any, ...]]:
    """Decode revert data (0x + selector + args) against an ABI's custom errors -> (name, args)."""
    from eth_abi.abi import decode

    data = data if data.startswith("0x") else "0x" + data
    name, types = error_selectors(abi).get(data[:10].lower(), (None, []))
    if name is None:  # raised by a contract called by this one: look in every artifact
        name, types = _all_error_selectors().get(data[:10].lower(), (None, []))
    if name is None:
        raise LookupError(f"unknown custom error selector {data[:10]}")
    return name, tuple(decode(types, bytes.fromhex(data[10:])))


@lru_cache(maxsize=1)
def _all_error_selectors() -> dict[str, tuple[str, list[str]]]:
    table: dict[str, tuple[str, list[str]]] = {}
    for path in sorted((ARTIFACTS_DIR / "contracts").rglob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("abi"), list):
            table.update(error_selectors(data["abi"]))
    return table


def describe_revert(abi: list[dict[str, Any]], exc: Exception) -> str:
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        try:
            name, args = decode_custom_error(abi, data)
            return f"{name}{args}"
        except LookupError:
            return data
    return str(exc)
