"""Rules a `LedgerStore` is given rather than knows: the chart's account-code rules.

The ledger core is chain-agnostic: it checks the generic code alphabet (ledger.model) and
applies whatever `AccountCodeRule`s its chart brings. The platform's chart (ledger.scheme)
brings the one rule that knows about chains — holder codes carry an EVM address.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Sequence

from ledger.errors import ValidationFailed
from ledger.model import check_code


@dataclass(frozen=True)
class AccountCodeRule:
    """Account codes starting with `prefix` must fullmatch `pattern` (else ValidationFailed, 422);
    with `lower_case` they are stored and looked up in lower case, so every spelling of one
    code (e.g. a checksummed and a lower-case address) names the same account."""

    prefix: str
    pattern: str
    shape: str
    """The rule in words, for the error message (e.g. `holder:<chain id>:0x<40 hex digits>`)."""
    lower_case: bool = False
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", re.compile(self.pattern))

    def apply(self, code: str) -> str:
        if not self._compiled.fullmatch(code):
            raise ValidationFailed(f"account code {code!r} must have the form {self.shape}")
        return code.lower() if self.lower_case else code


def account_code_normalizer(rules: Sequence[AccountCodeRule]) -> Callable[[str], str]:
    """A cached function: a valid account code in its stored form (generic alphabet first, then
    the first rule whose prefix the code starts with); ValidationFailed otherwise."""
    rules = tuple(rules)

    @lru_cache(maxsize=65_536)
    def normalize(code: str) -> str:
        check_code(code, "account code")
        for rule in rules:
            if code.startswith(rule.prefix):
                return rule.apply(code)
        return code

    def checked(code: str) -> str:
        if not isinstance(code, str):
            check_code(code, "account code")  # raises ValidationFailed: not a string
        return normalize(code)

    return checked
