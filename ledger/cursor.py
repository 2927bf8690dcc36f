"""Opaque page cursors: one codec for the ledger's statements and the API's lists.

A cursor is URL-safe base64 (padding stripped) of a short text that says where the next page
starts. Clients must pass a `next_cursor` back unchanged; anything else is an InvalidCursor
(422). The wire formats are fixed, so that a cursor issued before an upgrade still decodes:
- statement pages: `p<posting_seq>` (`encode_posting_cursor`);
- API lists: `<kind>:<value>`, e.g. `sequence:42` or `account:holder:1:0xab…` (`encode_cursor`).
"""

from __future__ import annotations

import base64
import binascii

from ledger.errors import InvalidCursor
from ledger.limits import MAX_INT64

INVALID = "cursor is not valid: pass back a next_cursor unchanged"


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    """The cursor's text; ValueError (binascii.Error) or UnicodeDecodeError when it has none."""
    padded = cursor + "=" * (-len(cursor) % 4)
    return base64.urlsafe_b64decode(padded.encode()).decode()


def encode_cursor(kind: str, value: str) -> str:
    """A cursor of `kind` (e.g. "sequence", "account") resuming after `value`."""
    return _encode(f"{kind}:{value}")


def decode_cursor(kind: str, cursor: str, *, digits: bool = False) -> str:
    """The value of a cursor of `kind`; with `digits` it must be a decimal integer up to 2^63-1."""
    try:
        found_kind, _, value = _decode(cursor).partition(":")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        found_kind, value = "", ""
    if digits and not (value.isascii() and value.isdigit() and int(value) <= MAX_INT64):
        value = ""
    if found_kind != kind or not value:
        raise InvalidCursor(INVALID)
    return value


def encode_posting_cursor(posting_seq: int) -> str:
    """A statement cursor resuming after the posting `posting_seq`."""
    return _encode(f"p{posting_seq}")


def decode_posting_cursor(cursor: str) -> int:
    """The posting a statement cursor resumes after (0 to 2^63-1)."""
    try:
        text = _decode(cursor)
        if not text.startswith("p"):
            raise ValueError(text)
        posting_seq = int(text[1:])
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor(INVALID) from exc
    if not 0 <= posting_seq <= MAX_INT64:
        raise InvalidCursor(INVALID)
    return posting_seq
