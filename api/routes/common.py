"""Shared route plumbing: the store dependency, asset scales, amounts, cursors, idempotency keys."""
from __future__ import annotations

import base64
import binascii
import re
import threading
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from api.problems import ApiProblem
from api.schemas import MAX_SEQUENCE, MAX_UNITS, MoneyIn
from ledger.amounts import parse_decimal
from ledger.errors import InvalidAmount
from ledger.store import LedgerStore

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

API_MAX_PAGE_SIZE = 500
"""Pages are fetched with one extra row to know whether another page follows."""
API_DEFAULT_PAGE_SIZE = 100


def reject_control_characters(request: Request) -> None:
    """Path and query values never legitimately hold control characters (NUL would also be
    refused by PostgreSQL but stored by SQLite): a 422 problem on both backends."""
    values = [*request.path_params.values(), *request.query_params.values()]
    if any(isinstance(value, str) and _CONTROL_RE.search(value) for value in values):
        raise ApiProblem(422, "request-validation", "Request validation failed",
                         "path and query parameters may not contain control characters")


def get_store(request: Request) -> LedgerStore:
    return request.app.state.store


Store = Annotated[LedgerStore, Depends(get_store)]


class AssetScales:
    """(ledger, asset code) -> scale. An asset's scale never changes once registered, so
    the cache is always right; a miss costs one read (`LedgerStore.get_asset`)."""

    def __init__(self, store: LedgerStore) -> None:
        self._store = store
        self._scales: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def of(self, ledger: str, asset: str) -> int:
        key = (ledger, asset)
        scale = self._scales.get(key)
        if scale is None:
            scale = self._store.get_asset(ledger, asset).scale
            with self._lock:
                self._scales[key] = scale
        return scale

    def for_ledger(self, ledger: str) -> Callable[[str], int]:
        return lambda asset: self.of(ledger, asset)


def get_scales(request: Request) -> AssetScales:
    return request.app.state.asset_scales


Scales = Annotated[AssetScales, Depends(get_scales)]


def amount_units_of(money: MoneyIn, scale_of: Callable[[str], int], asset: str) -> int:
    """Base units of a request amount given as `amount_units` or as a decimal `amount`."""
    if money.amount_units is not None:
        return int(money.amount_units)
    assert money.amount is not None
    return checked_decimal(money.amount, scale_of(asset))


def checked_decimal(amount: str, scale: int) -> int:
    units = parse_decimal(amount, scale)
    if not 0 < units <= MAX_UNITS:
        raise InvalidAmount(f"amount {amount} must be positive and at most 2^256-1 base units")
    return units


def required_idempotency_key(
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", description="Required. 1-128 printable ASCII characters, no spaces."),
    ] = None,
) -> str:
    if not idempotency_key:
        raise ApiProblem(
            400, "idempotency-key-required", "Idempotency-Key header required",
            "send an Idempotency-Key header so that a retried request cannot be applied twice",
        )
    return idempotency_key


IdempotencyKey = Annotated[str, Depends(required_idempotency_key)]
OptionalIdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Optional; a key derived from the resource id is used when absent."),
]


def encode_cursor(kind: str, value: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str, *, digits: bool = False) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        found_kind, _, value = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        found_kind, value = "", ""
    if digits and not (value.isascii() and value.isdigit() and int(value) <= MAX_SEQUENCE):
        value = ""
    if found_kind != kind or not value:
        raise ApiProblem(422, "invalid-cursor", "Invalid cursor", "pass back a next_cursor from this list unchanged")
    return value
