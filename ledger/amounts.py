"""Exact money: integer base units everywhere; Decimal strings only at the edges.

The column type stores base units exactly on both backends: PostgreSQL NUMERIC(78,0)
(78 digits hold 2^256-1) and, on SQLite, the decimal text of the integer (never REAL).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from ledger.errors import InvalidAmount
from ledger.limits import MAX_AMOUNT_UNITS

_DECIMAL_RE = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]+)?$")
_UNITS_RE = re.compile(r"^(0|[1-9][0-9]*)$")


def check_amount_units(amount_units: int) -> int:
    """A posting amount: a positive integer of at most 2^256-1 base units."""
    if isinstance(amount_units, bool) or not isinstance(amount_units, int):
        raise InvalidAmount(f"amount must be an integer number of base units, got {amount_units!r}")
    if amount_units <= 0:
        raise InvalidAmount(f"amount must be positive, got {amount_units}")
    if amount_units > MAX_AMOUNT_UNITS:
        raise InvalidAmount("amount exceeds 2^256-1 base units")
    return amount_units


def parse_units(text: str) -> int:
    """Parse a base-unit integer string ("1250") strictly: digits only, no sign, no exponent."""
    if not isinstance(text, str) or not _UNITS_RE.fullmatch(text):
        raise InvalidAmount(f"amount_units must be a string of digits, got {text!r}")
    return int(text)


def parse_decimal(text: str, scale: int) -> int:
    """Parse "12.50" at `scale` decimals into base units; more decimals than the scale is an error."""
    if not isinstance(text, str) or not _DECIMAL_RE.fullmatch(text):
        raise InvalidAmount(f'amount must be a plain decimal string like "12.50", got {text!r}')
    whole, _, fraction = text.partition(".")
    if len(fraction) > scale:
        raise InvalidAmount(f"amount {text} has more than {scale} decimal places")
    base: int = 10**scale
    return int(whole) * base + int((fraction or "0").ljust(scale, "0") or "0")


def format_decimal(amount_units: int, scale: int) -> str:
    """Base units to a decimal string with exactly `scale` decimals (negative allowed)."""
    sign = "-" if amount_units < 0 else ""
    digits = str(abs(amount_units))
    if scale == 0:
        return sign + digits
    digits = digits.rjust(scale + 1, "0")
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"


def to_decimal(amount_units: int, scale: int) -> Decimal:
    try:
        return Decimal(format_decimal(amount_units, scale))
    except InvalidOperation as exc:  # pragma: no cover - format_decimal always yields a number
        raise InvalidAmount(str(exc)) from exc


class AmountUnits(TypeDecorator[int]):
    """Column type for base units: NUMERIC(78,0) on PostgreSQL, decimal TEXT elsewhere."""

    impl = String(80)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(78, 0, asdecimal=True))
        return dialect.type_descriptor(String(80))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return Decimal(value)
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return int(value)
