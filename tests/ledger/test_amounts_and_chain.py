"""Pure functions: money parsing/formatting and the canonical serialisation."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import chain
from ledger.amounts import check_amount_units, format_decimal, parse_decimal, parse_units
from ledger.errors import InvalidAmount, ValidationFailed
from ledger.limits import MAX_AMOUNT_UNITS
from ledger.model import check_code, check_key, check_kind


def test_decimal_strings_convert_exactly_at_the_asset_scale() -> None:
    assert parse_decimal("12.50", 2) == 1250
    assert parse_decimal("0.000000000000000001", 18) == 1
    assert format_decimal(1250, 2) == "12.50"
    assert format_decimal(-5, 2) == "-0.05"
    assert format_decimal(MAX_AMOUNT_UNITS, 0) == str(MAX_AMOUNT_UNITS)


@pytest.mark.parametrize("text", ["1.234", "-1", "1e3", "01", " 1", "1.", ".5", "", "NaN"])
def test_malformed_or_too_precise_decimals_are_rejected(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_decimal(text, 2)


@pytest.mark.parametrize("value", [0, -1, MAX_AMOUNT_UNITS + 1, 1.5, True, "5"])
def test_posting_amounts_must_be_positive_integers_within_2_256(value: object) -> None:
    with pytest.raises(InvalidAmount):
        check_amount_units(value)  # type: ignore[arg-type]


def test_units_strings_are_digits_only() -> None:
    assert parse_units(str(MAX_AMOUNT_UNITS)) == MAX_AMOUNT_UNITS
    for bad in ["-1", "1.0", "0x10", "1_000", ""]:
        with pytest.raises(InvalidAmount):
            parse_units(bad)


@given(units=st.integers(min_value=0, max_value=MAX_AMOUNT_UNITS), scale=st.integers(min_value=0, max_value=36))
def test_format_then_parse_round_trips(units: int, scale: int) -> None:
    assert parse_decimal(format_decimal(units, scale), scale) == units


text = st.text(min_size=1, max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


@given(
    key=text,
    kind=st.sampled_from(["transfer", "mint", "donation"]),
    effective=st.integers(0, 2**62),
    ref=st.none() | text,
    reverses=st.none() | text,
    metadata=st.dictionaries(st.text(max_size=5), json_values, max_size=4),
    postings=st.lists(
        st.tuples(text, text, st.sampled_from(["D", "C"]), st.integers(1, MAX_AMOUNT_UNITS)), min_size=2, max_size=5
    ),
)
def test_body_digest_matches_the_documented_canonical_json(
    key: str, kind: str, effective: int, ref: str | None, reverses: str | None, metadata: dict, postings: list
) -> None:
    """An auditor's re-implementation (json.dumps, sorted keys, no spaces) gives the same digest."""
    reference = json.dumps(
        {
            "v": 1,
            "ledger": "main",
            "idempotency_key": key,
            "kind": kind,
            "effective_at_us": effective,
            "external_ref": ref,
            "reverses": reverses,
            "metadata": metadata,
            "postings": [[a, s, side, str(amount)] for a, s, side, amount in postings],
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    digest = chain.body_digest(
        ledger="main",
        idempotency_key=key,
        kind=kind,
        effective_at_us=effective,
        external_ref=ref,
        reverses_entry_id=reverses,
        metadata_json=chain.canonical_metadata(metadata),
        postings=postings,
    )
    assert digest == hashlib.sha256(reference.encode("utf-8")).hexdigest()


def test_metadata_rejects_floats_and_oversize() -> None:
    with pytest.raises(ValidationFailed):
        chain.canonical_metadata({"price": 1.5})
    with pytest.raises(ValidationFailed):
        chain.canonical_metadata({"blob": "x" * 20_000})


def test_link_hash_depends_on_every_input() -> None:
    base = chain.link_hash(chain.GENESIS_HASH, 1, 10, "a" * 32, "b" * 64)
    assert base != chain.link_hash(chain.GENESIS_HASH, 2, 10, "a" * 32, "b" * 64)
    assert base != chain.link_hash(chain.GENESIS_HASH, 1, 11, "a" * 32, "b" * 64)
    assert base != chain.link_hash(chain.GENESIS_HASH, 1, 10, "c" * 32, "b" * 64)
    assert base != chain.link_hash("11" * 32, 1, 10, "a" * 32, "b" * 64)


@pytest.mark.parametrize(
    "check",
    [
        lambda: parse_units("12\n"),
        lambda: parse_decimal("12.50\n", 2),
        lambda: check_code("holder:alice\n", "account code"),
        lambda: check_kind("transfer\n"),
        lambda: check_key("key-1\n", "idempotency key", 128),
    ],
)
def test_a_trailing_newline_is_not_part_of_a_valid_value(check: object) -> None:
    """`$` matches before a final newline: every strict format is checked with fullmatch."""
    with pytest.raises((InvalidAmount, ValidationFailed)):
        check()  # type: ignore[operator]
