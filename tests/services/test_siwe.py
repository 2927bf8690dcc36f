"""The EIP-4361 parser (services/siwe.py): the specification's own examples parse, and hostile text
is refused quickly and without recursion."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from services.siwe import MAX_MESSAGE_BYTES, MalformedMessage, parse_message

SPEC_EXAMPLE = """service.invalid wants you to sign in with your Ethereum account:
0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

I accept the ServiceOrg Terms of Service: https://service.invalid/tos

URI: https://service.invalid/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json"""


def test_the_specification_example_parses() -> None:
    message = parse_message(SPEC_EXAMPLE)
    assert message.domain == "service.invalid" and message.scheme is None
    assert message.address == "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
    assert message.statement == "I accept the ServiceOrg Terms of Service: https://service.invalid/tos"
    assert message.uri == "https://service.invalid/login" and message.chain_id == 1 and message.nonce == "32891756"
    assert message.issued_at == datetime(2021, 9, 30, 16, 25, 24, tzinfo=UTC)
    assert len(message.resources) == 2


def test_optional_fields_scheme_and_letter_case() -> None:
    text = SPEC_EXAMPLE.replace("service.invalid wants", "https://service.invalid:8443 wants")
    text = text.replace("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2")
    text = text.replace(
        "Issued At: 2021-09-30T16:25:24Z",
        "Issued At: 2021-09-30T16:25:24.123456789+02:00\nExpiration Time: 2021-10-01T00:00:00Z\n"
        "Not Before: 2021-09-30T14:00:00.5Z\nRequest ID: abc-123",
    )
    message = parse_message(text)
    assert message.scheme == "https" and message.domain == "service.invalid:8443"
    assert message.address == "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"  # normalised to EIP-55
    assert message.expiration_time == datetime(2021, 10, 1, tzinfo=UTC)
    assert message.request_id == "abc-123"


@pytest.mark.parametrize(
    ("change", "into"),
    [
        ("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756cc2"),  # bad checksum
        ("Version: 1", "Version: 2"),
        ("Chain ID: 1", "Chain ID: 01"),
        ("Nonce: 32891756", "Nonce: 1234"),
        ("Nonce: 32891756", "Nonce: 1234-5678"),
        ("Issued At: 2021-09-30T16:25:24Z", "Issued At: 2021-09-30 16:25:24"),
        ("Issued At: 2021-09-30T16:25:24Z", "Issued At: 2021-02-30T16:25:24Z"),
        ("URI: https://service.invalid/login\n", ""),
        ("Version: 1\nChain ID: 1", "Chain ID: 1\nVersion: 1"),
        ("\n- https://example.com/my-web2-claim.json", "\n- https://example.com/my-web2-claim.json\nextra"),
        ("\n", "\r\n"),
        ("Nonce: 32891756", "Nonce: 32891756\x00"),
    ],
)
def test_deviations_are_malformed(change: str, into: str) -> None:
    assert change in SPEC_EXAMPLE
    with pytest.raises(MalformedMessage):
        parse_message(SPEC_EXAMPLE.replace(change, into))


@pytest.mark.parametrize(
    "text",
    [
        "x" * (MAX_MESSAGE_BYTES + 1),
        "é" * (MAX_MESSAGE_BYTES // 2 + 1),  # the cap counts UTF-8 bytes
        "\n" * 100_000,
        "[" * 100_000,
        SPEC_EXAMPLE + "\n- https://a.example" * 20,
    ],
    ids=["long", "multibyte", "lines", "brackets", "resources"],
)
def test_hostile_text_is_refused_quickly(text: str) -> None:
    started = time.perf_counter()
    with pytest.raises(MalformedMessage):
        parse_message(text)
    assert time.perf_counter() - started < 0.05
