"""The static-word fast path of decode_log equals eth_abi's decoding (property test), and
anything unusual falls back to eth_abi's strict path."""

from __future__ import annotations

from eth_abi import encode as abi_encode
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.decode import EventAbi, _decode_static_words, decode_log, events_of_kind

TRANSFER = next(e for e in events_of_kind("token").values() if e.name == "Transfer")
addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
uint256 = st.integers(min_value=0, max_value=2**256 - 1)


def transfer_log(sender: str, receiver: str, value: int) -> dict[str, object]:
    return {
        "topics": [
            TRANSFER.topic0,
            "0x" + abi_encode(["address"], [sender]).hex(),
            "0x" + abi_encode(["address"], [receiver]).hex(),
        ],
        "data": "0x" + abi_encode(["uint256"], [value]).hex(),
    }


@settings(max_examples=200, deadline=None)
@given(addresses, addresses, uint256)
def test_fast_path_equals_eth_abi(sender: str, receiver: str, value: int) -> None:
    log = transfer_log(sender, receiver, value)
    fast = _decode_static_words(TRANSFER, log["topics"], log["data"])  # type: ignore[arg-type]
    assert fast == {"from": sender, "to": receiver, "value": value}
    assert decode_log("token", log) == ("Transfer", fast)


def test_dirty_padding_and_short_data_fall_back_to_eth_abi() -> None:
    log = transfer_log("0x" + "11" * 20, "0x" + "22" * 20, 5)
    dirty = dict(log, topics=[log["topics"][0], "0x" + "ff" * 12 + "11" * 20, log["topics"][2]])  # type: ignore[index]
    assert _decode_static_words(TRANSFER, dirty["topics"], dirty["data"]) is None  # type: ignore[arg-type]
    assert _decode_static_words(TRANSFER, log["topics"], "0x" + "00" * 31) is None  # type: ignore[arg-type]


def test_non_static_events_are_not_sliced() -> None:
    event = EventAbi("Donated", "0x00", (("donor", "address"),), (("message", "string"),))
    assert _decode_static_words(event, ["0x00", "0x" + "00" * 32], "0x" + "00" * 64) is None
