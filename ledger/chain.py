"""Tamper evidence: each journal entry is a link in a per-ledger SHA-256 hash chain.

Canonical serialisation (version 1), for outside auditors:

1. body = JSON object with exactly these keys, serialised with keys sorted, no
   whitespace (separators "," and ":"), UTF-8, non-ASCII characters unescaped:
   {"v": 1, "ledger": <ledger code>, "idempotency_key": <str>, "kind": <str>,
    "effective_at_us": <int, microseconds since 1970-01-01T00:00:00Z>,
    "external_ref": <str or null>, "reverses": <entry id or null>,
    "metadata": <object; only strings, integers, booleans, null, arrays, objects>,
    "postings": [[<account code>, <asset code>, "D" or "C", "<amount in base units, decimal digits>"], ...]}
   with postings in leg order.
2. body_digest = SHA-256(body)                                   (32 bytes)
3. hash_n = SHA-256(hash_{n-1} ‖ uint64_be(sequence_n) ‖ int64_be(recorded_at_us_n)
                    ‖ ascii(entry_id_n) ‖ body_digest_n)
   with hash_0 = 32 zero bytes, sequence numbers 1, 2, 3, … without gaps.
Hex-encoded (lowercase) digests and hashes are stored on each entry.

The body digest is computed before the writer takes the ledger's head lock; inside
the lock only step 3 (one SHA-256 over 112 bytes) remains per entry.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from ledger.errors import ValidationFailed
from ledger.limits import MAX_METADATA_BYTES

CANONICAL_VERSION = 1
FLAT_JSON_TYPES = frozenset({str, int, bool, type(None)})
"""Exact types a flat metadata object may hold without the recursive check (`type(x) is float`
never matches, so floats still take the walk and are rejected there)."""
GENESIS_HASH = "00" * 32


def canonical_metadata(metadata: dict[str, Any]) -> str:
    """Validate metadata (no floats: their text form is not canonical) and serialise it."""
    if not isinstance(metadata, dict):
        raise ValidationFailed("metadata must be a JSON object")
    if not all(type(key) is str and type(item) in FLAT_JSON_TYPES for key, item in metadata.items()):
        _check_json_value(metadata, depth=0)  # nested or unusual values: the full walk
    text = json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode("utf-8")) > MAX_METADATA_BYTES:
        raise ValidationFailed(f"metadata exceeds {MAX_METADATA_BYTES} bytes")
    return text


def _check_json_value(value: Any, depth: int) -> None:
    if depth > 16:
        raise ValidationFailed("metadata nests deeper than 16 levels")
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        raise ValidationFailed("metadata may not contain floating-point numbers; use strings")
    if isinstance(value, list):
        for item in value:
            _check_json_value(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationFailed("metadata keys must be strings")
            _check_json_value(item, depth + 1)
        return
    raise ValidationFailed(f"metadata value of type {type(value).__name__} is not JSON")


def body_digest(
    *,
    ledger: str,
    idempotency_key: str,
    kind: str,
    effective_at_us: int,
    external_ref: str | None,
    reverses_entry_id: str | None,
    metadata_json: str,
    postings: Sequence[tuple[str, str, str, int]],
) -> str:
    body = (
        '{"effective_at_us":%d,"external_ref":%s,"idempotency_key":%s,"kind":%s,"ledger":%s,'
        '"metadata":%s,"postings":%s,"reverses":%s,"v":%d}'
        % (
            effective_at_us,
            _json(external_ref),
            _json(idempotency_key),
            _json_repeated(kind),
            _json_repeated(ledger),
            metadata_json,
            "["
            + ",".join(_leg_prefix(account, asset, side) + '%d"]' % amount for account, asset, side, amount in postings)
            + "]",
            _json(reverses_entry_id),
            CANONICAL_VERSION,
        )
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


_PLAIN = re.compile(r'[^"\\\x00-\x1f\x7f-\U0010ffff]*')


def _json(value: str | None) -> str:
    """json.dumps(value, ensure_ascii=False), with a fast path for plain ASCII strings."""
    if value is None:
        return "null"
    if _PLAIN.fullmatch(value):
        return '"' + value + '"'
    return json.dumps(value, ensure_ascii=False)


@lru_cache(maxsize=65_536)
def _leg_prefix(account: str, asset: str, side: str) -> str:
    """`[<account>,<asset>,<side>,"` of a posting in the body: legs repeat across entries."""
    return '[%s,%s,%s,"' % (_json(account), _json(asset), _json(side))


_json_repeated = lru_cache(maxsize=65_536)(_json)
"""`_json` for strings that recur in every body (ledger, kind): cached."""


def link_hash(prev_hash: str, sequence: int, recorded_at_us: int, entry_id: str, digest: str) -> str:
    return hashlib.sha256(
        bytes.fromhex(prev_hash)
        + sequence.to_bytes(8, "big")
        + recorded_at_us.to_bytes(8, "big", signed=True)
        + entry_id.encode("ascii")
        + bytes.fromhex(digest)
    ).hexdigest()
