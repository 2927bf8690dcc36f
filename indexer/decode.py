"""Decode raw logs with the compiled ABIs (contracts.load_artifact), one table per contract kind.

Plain eth_abi over the event signature: no web3 contract objects on the hot path, and
only the events listed in indexer.mapping are decoded (everything else is not fetched).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from contracts.artifacts import load_artifact
from indexer.mapping import followed_events

ARTIFACT_OF_KIND = {
    "factory": "PortfolioFactory",
    "donation_router": "DonationRouter",
    "token": "PortfolioToken",
    "round": "FundingRound",
    "rights_token": "RightsToken",
    "anchor": "LedgerAnchor",
    "splitter": "PayoutSplitter",
}
"""Contract kinds whose events are followed (see indexer.mapping.NOT_YET_MAPPED for the rest)."""


@dataclass(frozen=True)
class EventAbi:
    name: str
    topic0: str
    indexed: tuple[tuple[str, str], ...]
    """(name, type) of indexed inputs, in topic order."""
    data: tuple[tuple[str, str], ...]
    """(name, type) of non-indexed inputs, in data order."""


def _type_of(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(_type_of(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return str(item["type"])


def _event_abi(item: dict[str, Any]) -> EventAbi:
    signature = f"{item['name']}({','.join(_type_of(i) for i in item['inputs'])})"
    return EventAbi(
        name=item["name"],
        topic0="0x" + keccak(text=signature).hex(),
        indexed=tuple((i["name"], _type_of(i)) for i in item["inputs"] if i["indexed"]),
        data=tuple((i["name"], _type_of(i)) for i in item["inputs"] if not i["indexed"]),
    )


@cache
def events_of_kind(kind: str) -> dict[str, EventAbi]:
    """topic0 → event ABI for the followed events of one contract kind."""
    wanted = {name for k, name in followed_events() if k == kind}
    table: dict[str, EventAbi] = {}
    for item in load_artifact(ARTIFACT_OF_KIND[kind]).abi:
        if item.get("type") == "event" and item["name"] in wanted and not item.get("anonymous"):
            event = _event_abi(item)
            table[event.topic0] = event
    missing = wanted - {e.name for e in table.values()}
    if missing:
        raise RuntimeError(f"{ARTIFACT_OF_KIND[kind]} ABI lacks mapped events {sorted(missing)}")
    return table


def followed_topics() -> list[str]:
    """Every topic0 the follower asks eth_getLogs for (one OR-list)."""
    return sorted({topic for kind in ARTIFACT_OF_KIND for topic in events_of_kind(kind)})


ERC20_TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
"""topic0 of an ERC-20 Transfer; an ERC-721 Transfer has the same topic0 but 4 topics."""


def address_topic(address: str) -> str:
    """An address as a 32-byte indexed topic (for eth_getLogs filters)."""
    return "0x" + address.lower()[2:].rjust(64, "0")


def decode_erc20_transfer(log: dict[str, Any]) -> dict[str, Any] | None:
    """Arguments (token, from, to, value) of any ERC-20's Transfer log, or None if it is not one.

    Decoded straight from topics and data, with no ABI: the emitter is an arbitrary token, not a
    Kogi contract (see indexer.mapping.SPLITTER_TOKEN_TRANSFER)."""
    topics = log.get("topics") or []
    data = log.get("data") or "0x"
    if len(topics) != 3 or topics[0].lower() != ERC20_TRANSFER_TOPIC or len(data) != 66:
        return None
    return {
        "token": log["address"].lower(),
        "from": "0x" + topics[1][-40:].lower(),
        "to": "0x" + topics[2][-40:].lower(),
        "value": int(data, 16),
    }


def decode_log(kind: str, log: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(event name, arguments) of a raw JSON-RPC log, or None if it is not a followed event."""
    topics = log.get("topics") or []
    if not topics:
        return None
    event = events_of_kind(kind).get(topics[0].lower())
    if event is None or len(topics) != 1 + len(event.indexed):
        return None  # same topic0 with another indexing (e.g. ERC-721 Transfer): not ours
    fast = _decode_static_words(event, topics, log["data"])
    if fast is not None:
        return event.name, fast
    args: dict[str, Any] = {}
    for (name, type_), topic in zip(event.indexed, topics[1:], strict=True):
        args[name] = abi_decode([type_], bytes.fromhex(topic[2:]))[0]
    values = abi_decode([t for _, t in event.data], bytes.fromhex(log["data"][2:])) if event.data else ()
    for (name, _), value in zip(event.data, values, strict=True):
        args[name] = value
    return event.name, args


_ZERO_PAD_ADDRESS = "0" * 24


def _word(type_: str, word: str) -> Any:
    """One 32-byte ABI word (64 hex digits) of a static type, or raises ValueError to fall back."""
    if type_ == "address":
        if word[:24] != _ZERO_PAD_ADDRESS:
            raise ValueError("dirty address padding")
        return "0x" + word[24:].lower()
    if type_.startswith("uint"):
        value = int(word, 16)
        if value >> int(type_[4:] or 256):
            raise ValueError("uint out of range")
        return value
    if type_ == "bool":
        value = int(word, 16)
        if value > 1:
            raise ValueError("not a bool")
        return bool(value)
    raise ValueError(type_)


@cache
def _all_static_words(event: EventAbi) -> bool:
    return all(
        t == "address" or t == "bool" or (t.startswith("uint") and "[" not in t)
        for _, t in (*event.indexed, *event.data)
    )


def _decode_static_words(event: EventAbi, topics: list[str], data: str) -> dict[str, Any] | None:
    """The hot path (a dense backfill is mostly token Transfers): events made only of addresses,
    uints and bools are sliced from the hex words directly, ~20x faster than eth_abi. Anything
    unusual (other types, short data, dirty padding) returns None and takes eth_abi's strict path.
    Addresses come back lower-case (the mapping lower-cases them anyway)."""
    if not _all_static_words(event) or len(data) != 2 + 64 * len(event.data):
        return None
    args: dict[str, Any] = {}
    try:
        for (name, type_), topic in zip(event.indexed, topics[1:], strict=True):
            if len(topic) != 66:
                return None
            args[name] = _word(type_, topic[2:])
        for position, (name, type_) in enumerate(event.data):
            args[name] = _word(type_, data[2 + 64 * position : 66 + 64 * position])
    except ValueError:
        return None
    return args
