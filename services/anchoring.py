"""Anchor the journal on chain: publish the Merkle root of the next unanchored range on LedgerAnchor.

The ledger computes the commitment (`ledger.anchoring`: leaves, tree, ledger id); this use case
reads where the chain's anchors stop, commits the range from there to the ledger's head and sends
`LedgerAnchor.anchor(ledgerId, from, to, root)`. The indexer then records the `LedgerAnchored`
event and `kogi indexer anchors` recomputes every anchored root from the journal.

Ranges are contiguous by contract: the next range starts at `nextSequence(ledgerId)`, which is 0
before the first anchor — the journal starts at sequence 1, so the first anchor covers 1..head.
One call publishes at most `max_range` entries (MAX_ANCHOR_RANGE); `remaining` says how many are
left for the next call.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.logs import DISCARD

from contracts.anvil import DEV_ACCOUNT_COUNT
from contracts.deploy import RECEIPT_TIMEOUT_S, TransactionFailed, at, describe_revert, transact
from contracts.funding import dev_private_key
from ledger.anchoring import MAX_ANCHOR_RANGE, journal_merkle_root, ledger_key
from ledger.store import LedgerStore


class AnchorPublishError(RuntimeError):
    """The anchor could not be sent: no ANCHOR_ROLE, or the contract refused it (e.g. a concurrent
    publisher anchored the same range first: NotContiguous)."""


@dataclass(frozen=True)
class AnchorPublished:
    """What `publish_anchor` did. `tx_hash` is None when there was nothing to anchor (`reason`)."""

    ledger: str
    ledger_key: str
    """bytes32 hex of keccak256(ledger code): the ledger's id on LedgerAnchor."""
    from_sequence: int
    to_sequence: int
    head_sequence: int
    merkle_root: str | None = None
    anchor_index: int | None = None
    tx_hash: str | None = None
    block_number: int | None = None
    remaining: int = 0
    """Entries after `to_sequence` still unanchored (the range was capped at `max_range`)."""
    reason: str | None = None

    @property
    def published(self) -> bool:
        return self.tx_hash is not None


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def publish_anchor(
    store: LedgerStore,
    w3: Web3,
    anchor_address: str,
    ledger: str,
    *,
    private_key: bytes | str | None = None,
    sender: str | None = None,
    max_range: int = MAX_ANCHOR_RANGE,
) -> AnchorPublished:
    """Anchor [nextSequence, min(head, nextSequence + max_range - 1)] of `ledger`.

    Signs with `private_key` (sent raw: works on any node), else sends from the node's unlocked
    account `sender`. The account needs ANCHOR_ROLE (deploy_core grants it to the deployer); it is
    checked first so the error names the account instead of a revert selector.
    """
    if not 1 <= max_range <= MAX_ANCHOR_RANGE:
        raise ValueError(f"max_range must be between 1 and {MAX_ANCHOR_RANGE}")
    account = Account.from_key(private_key) if private_key is not None else None
    address = account.address if account is not None else sender
    if address is None:
        raise ValueError("publish_anchor needs a private key or an unlocked sender")
    contract = at(w3, "LedgerAnchor", anchor_address)
    key = ledger_key(ledger)
    role = contract.functions.ANCHOR_ROLE().call()
    if not contract.functions.hasRole(role, Web3.to_checksum_address(address)).call():
        raise AnchorPublishError(f"{address} lacks ANCHOR_ROLE on LedgerAnchor {contract.address}")

    head = store.head(ledger)[0]
    from_sequence = max(1, int(contract.functions.nextSequence(key).call()))
    if from_sequence > head:
        reason = (
            f"sequences up to {head} are already anchored"
            if from_sequence == head + 1
            else f"the chain has anchored up to sequence {from_sequence - 1} but the ledger ends at {head} "
            "(ledger behind the chain: another database?)"
        )
        return AnchorPublished(ledger, _hex(key), from_sequence, from_sequence - 1, head, reason=reason)
    to_sequence = min(head, from_sequence + max_range - 1)
    root = journal_merkle_root(store, ledger, from_sequence, to_sequence)

    call = contract.functions.anchor(key, from_sequence, to_sequence, root)
    receipt = _send(w3, call, account, address)
    events = contract.events.LedgerAnchored().process_receipt(receipt, errors=DISCARD)
    if len(events) != 1:
        raise AnchorPublishError(
            f"expected one LedgerAnchored event in {_hex(receipt['transactionHash'])}, got {len(events)}"
        )
    return AnchorPublished(
        ledger=ledger,
        ledger_key=_hex(key),
        from_sequence=from_sequence,
        to_sequence=to_sequence,
        head_sequence=head,
        merkle_root=_hex(root),
        anchor_index=int(events[0]["args"]["anchorIndex"]),
        tx_hash=_hex(receipt["transactionHash"]),
        block_number=int(receipt["blockNumber"]),
        remaining=head - to_sequence,
    )


def publish_anchors(
    store: LedgerStore,
    w3: Web3,
    anchor_address: str,
    ledger: str,
    *,
    private_key: bytes | str | None = None,
    sender: str | None = None,
) -> Iterator[AnchorPublished]:
    """Anchor everything unanchored of `ledger`, one `publish_anchor` (at most MAX_ANCHOR_RANGE entries)
    after the other until none remain; yields each result as it is published (the first one says why
    when there is nothing to anchor)."""
    while True:
        result = publish_anchor(store, w3, anchor_address, ledger, private_key=private_key, sender=sender)
        yield result
        if not result.published or result.remaining == 0:
            return


def dev_key_of(deployer: str) -> bytes | None:
    """The dev mnemonic's key of the core's deployer (deploy_core grants it ANCHOR_ROLE), if it is one
    of the dev accounts: on a dev chain the anchor needs no key from the operator."""
    for index in range(DEV_ACCOUNT_COUNT):
        key = dev_private_key(index)
        if Account.from_key(key).address.lower() == deployer.lower():
            return key
    return None


def _send(w3: Web3, call: Any, account: Any, address: str) -> Any:
    """Send `call` signed locally by `account`, or from the unlocked `address`; the receipt."""
    try:
        if account is None:
            return transact(call, address)
        tx = call.build_transaction(
            {
                "from": account.address,
                "chainId": int(w3.eth.chain_id),
                "nonce": w3.eth.get_transaction_count(account.address, "pending"),
            }
        )
        signed = account.sign_transaction(tx)
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
    except (ContractCustomError, ContractLogicError) as exc:
        reason = describe_revert(call.contract_abi, exc)
        raise AnchorPublishError(f"LedgerAnchor.anchor would revert: {reason}") from exc
    except TransactionFailed as exc:
        raise AnchorPublishError(str(exc)) from exc
    if receipt["status"] != 1:
        raise AnchorPublishError(f"LedgerAnchor.anchor reverted (tx {_hex(receipt['transactionHash'])})")
    return receipt
