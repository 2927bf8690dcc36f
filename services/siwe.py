"""EIP-4361 (Sign-In with Ethereum) messages: a bounded, line-by-line parser and the signature check.

Why not the `siwe` package: on this stack `pip install siwe` downgrades eth-account (0.14 -> 0.13),
and its ABNF mode parses recursively — untrusted text must never reach a recursive parser here,
because an imported dependency (py_ecc) raises Python's recursion limit to 100000 (a deep input
then overflows the C stack instead of raising RecursionError). This parser is linear: the message
is capped at `MAX_MESSAGE_BYTES` before anything looks at it, split into at most
`MAX_MESSAGE_LINES` lines, and each line matched by an anchored, non-nesting regular expression.

The accepted grammar is EIP-4361's, in its order:

    [scheme "://"] domain " wants you to sign in with your Ethereum account:"
    address
    (empty line)
    [statement
    ]
    (empty line)
    URI: uri
    Version: 1
    Chain ID: n
    Nonce: alphanumeric, at least 8
    Issued At: RFC 3339
    [Expiration Time: RFC 3339]
    [Not Before: RFC 3339]
    [Request ID: text]
    [Resources:
    - uri
    ...]

The address may be in any letter case (it is normalised to its EIP-55 checksum form); a
mixed-case address must be a valid checksum.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.address import is_checksum_address, to_checksum_address
from eth_utils.crypto import keccak

MAX_MESSAGE_BYTES = 4096
"""Longest EIP-4361 message accepted (UTF-8 bytes); a real one is 300-600 bytes."""
MAX_MESSAGE_LINES = 64
MAX_RESOURCES = 16
MAX_FIELD_CHARS = 1024
"""Longest statement, URI, request id or resource."""
SIGNATURE_HEX_CHARS = 130
"""r || s || v, 65 bytes: an EOA signature. Contract wallets (EIP-1271) may sign with other lengths."""
MAX_SIGNATURE_BYTES = 2048

HEADER_SUFFIX = " wants you to sign in with your Ethereum account:"
_HEADER = re.compile(r"^(?:(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]{0,15})://)?(?P<domain>[^\s/?#]{1,255})$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_NONCE = re.compile(r"^[A-Za-z0-9]{8,128}$")
_CHAIN_ID = re.compile(r"^[1-9][0-9]{0,18}$")
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]{1,1024}$")
_RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d{1,9}))?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})$"
)
_PRINTABLE_LINE = re.compile(r"^[^\x00-\x1f\x7f]*$")


class MalformedMessage(ValueError):
    """The text is not an EIP-4361 message this server accepts (the reason is the message)."""


@dataclass(frozen=True)
class SiweMessage:
    scheme: str | None
    domain: str
    address: str
    """EIP-55 checksummed."""
    statement: str | None
    uri: str
    version: str
    chain_id: int
    nonce: str
    issued_at: datetime
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = ()


def parse_rfc3339(text: str, field: str) -> datetime:
    match = _RFC3339.match(text)
    if match is None:
        raise MalformedMessage(f"{field} is not an RFC 3339 date-time")
    fraction = (match["fraction"] or "")[:6]
    offset = "+00:00" if match["offset"] in ("Z", "z") else match["offset"]
    iso = f"{match['date']}T{match['time']}{'.' + fraction.ljust(6, '0') if fraction else ''}{offset}"
    try:
        return datetime.fromisoformat(iso)
    except ValueError as exc:
        raise MalformedMessage(f"{field} is not a valid date-time") from exc


class _Lines:
    """The message's lines with a read position: the parser only ever moves forward."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.index = 0

    def peek(self) -> str | None:
        return self.lines[self.index] if self.index < len(self.lines) else None

    def take(self, what: str) -> str:
        line = self.peek()
        if line is None:
            raise MalformedMessage(f"the message ends before {what}")
        self.index += 1
        return line

    def field(self, tag: str, *, optional: bool = False) -> str | None:
        line = self.peek()
        prefix = f"{tag}: "
        if line is None or not line.startswith(prefix):
            if optional:
                return None
            raise MalformedMessage(f"expected the line '{tag}: …'")
        self.index += 1
        value = line[len(prefix) :]
        if not value or len(value) > MAX_FIELD_CHARS:
            raise MalformedMessage(f"'{tag}' is empty or longer than {MAX_FIELD_CHARS} characters")
        return value


def parse_message(message: str) -> SiweMessage:
    """Parse an EIP-4361 message (bounded and linear; see the module docstring)."""
    if len(message.encode("utf-8", errors="replace")) > MAX_MESSAGE_BYTES:
        raise MalformedMessage(f"the message is longer than {MAX_MESSAGE_BYTES} bytes")
    if "\r" in message:
        raise MalformedMessage("lines end with LF, not CR LF")
    raw_lines = message.split("\n", MAX_MESSAGE_LINES)
    if len(raw_lines) > MAX_MESSAGE_LINES:
        raise MalformedMessage(f"the message has more than {MAX_MESSAGE_LINES} lines")
    if any(_PRINTABLE_LINE.match(line) is None for line in raw_lines):
        raise MalformedMessage("the message holds control characters")
    lines = _Lines(raw_lines)
    header = lines.take("the header")
    if not header.endswith(HEADER_SUFFIX):
        raise MalformedMessage("the first line is not '<domain> wants you to sign in with your Ethereum account:'")
    head = _HEADER.match(header[: -len(HEADER_SUFFIX)])
    if head is None:
        raise MalformedMessage("the domain is not valid")
    address = _address(lines.take("the address"))
    if lines.take("the empty line after the address") != "":
        raise MalformedMessage("an empty line must follow the address")
    statement: str | None = None
    line = lines.take("the URI")
    if line != "":
        statement = line
        if len(statement) > MAX_FIELD_CHARS:
            raise MalformedMessage(f"the statement is longer than {MAX_FIELD_CHARS} characters")
        if lines.take("the empty line after the statement") != "":
            raise MalformedMessage("an empty line must follow the statement (a statement is one line)")
    return _fields(lines, head["scheme"], head["domain"], address, statement)


def _fields(lines: _Lines, scheme: str | None, domain: str, address: str, statement: str | None) -> SiweMessage:
    uri = _required(lines, "URI")
    if _URI.match(uri) is None:
        raise MalformedMessage("'URI' is not an absolute URI")
    version = _required(lines, "Version")
    if version != "1":
        raise MalformedMessage("'Version' must be 1")
    chain_id = _required(lines, "Chain ID")
    if _CHAIN_ID.match(chain_id) is None:
        raise MalformedMessage("'Chain ID' is not a positive integer")
    nonce = _required(lines, "Nonce")
    if _NONCE.match(nonce) is None:
        raise MalformedMessage("'Nonce' must be at least 8 letters and digits")
    issued_at = parse_rfc3339(_required(lines, "Issued At"), "Issued At")
    expiration = lines.field("Expiration Time", optional=True)
    not_before = lines.field("Not Before", optional=True)
    request_id = lines.field("Request ID", optional=True)
    resources: list[str] = []
    if lines.peek() == "Resources:":
        lines.take("Resources")
        while (line := lines.peek()) is not None and line.startswith("- "):
            lines.take("a resource")
            if len(resources) == MAX_RESOURCES or _URI.match(line[2:]) is None:
                raise MalformedMessage(f"resources are at most {MAX_RESOURCES} absolute URIs")
            resources.append(line[2:])
    if lines.peek() is not None:
        raise MalformedMessage(f"unexpected line {lines.index + 1} after the message's fields")
    return SiweMessage(
        scheme=scheme,
        domain=domain,
        address=address,
        statement=statement,
        uri=uri,
        version=version,
        chain_id=int(chain_id),
        nonce=nonce,
        issued_at=issued_at,
        expiration_time=parse_rfc3339(expiration, "Expiration Time") if expiration else None,
        not_before=parse_rfc3339(not_before, "Not Before") if not_before else None,
        request_id=request_id,
        resources=tuple(resources),
    )


def _required(lines: _Lines, tag: str) -> str:
    value = lines.field(tag)
    assert value is not None
    return value


def _address(line: str) -> str:
    if _ADDRESS.match(line) is None:
        raise MalformedMessage("the second line is not a 0x-prefixed 20-byte hex address")
    digits = line[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(line):
        raise MalformedMessage("the address is mixed-case but not a valid EIP-55 checksum")
    return to_checksum_address(line)


def signature_bytes(signature: str) -> bytes:
    """The 0x-hex signature as bytes (MalformedMessage when it is not hex or too long)."""
    if not signature.startswith("0x") or len(signature) > 2 + 2 * MAX_SIGNATURE_BYTES or len(signature) % 2:
        raise MalformedMessage("the signature is not 0x-prefixed hex")
    try:
        return bytes.fromhex(signature[2:])
    except ValueError as exc:
        raise MalformedMessage("the signature is not 0x-prefixed hex") from exc


def eip191_hash(message: str) -> bytes:
    """The EIP-191 (personal_sign) digest of the message: what a wallet signs and EIP-1271 checks."""
    data = message.encode("utf-8")
    return bytes(keccak(b"\x19Ethereum Signed Message:\n" + str(len(data)).encode("ascii") + data))


def recover_signer(message: str, signature: bytes) -> str | None:
    """The checksummed address that personal_sign-ed `message`, or None if `signature` is not a
    valid 65-byte ECDSA signature (low-s, v in 0/1/27/28)."""
    if len(signature) != SIGNATURE_HEX_CHARS // 2:
        return None
    try:
        recovered: Any = Account.recover_message(encode_defunct(text=message), signature=signature)
    except Exception:  # eth-keys raises BadSignature/ValidationError for invalid r, s or v
        return None
    return str(recovered)
