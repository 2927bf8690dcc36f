"""Rules a `LedgerStore` is given rather than knows: the chart's account-code rules and the
effective-time policy.

The ledger core is chain-agnostic: it checks the generic code alphabet (ledger.model) and
applies whatever `AccountCodeRule`s its chart brings. The platform's chart (ledger.chart)
brings the one rule that knows about chains — holder codes carry an EVM address.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, ClassVar

from ledger.errors import EffectiveAtOutOfRange, ValidationFailed
from ledger.limits import MAX_EFFECTIVE_AHEAD_S
from ledger.model import check_code, from_us

if TYPE_CHECKING:
    from ledger.config import LedgerSettings


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


@dataclass(frozen=True)
class EffectiveTimePolicy:
    """Which `effective_at` a store accepts on the entries and reversals it is asked to post.

    Bounded (the default, `from_settings`): from the ledger's creation minus `backdating_window`
    (KOGI_BACKDATING_WINDOW_DAYS, default 400 days: a year's books plus a closing month) up to the
    entry's recorded time plus `max_ahead` (5 minutes of clock skew); outside it the post is an
    EffectiveAtOutOfRange (422) naming the range. An entry without `effective_at` takes its
    recorded time and is always in range. A replay of an accepted entry stays in range (the
    lower bound is fixed, the upper one only grows).

    `UNBOUNDED` accepts any time. It is for writers whose clock is not ours: the chain indexer
    posts each event at its block's timestamp, which is the chain's fact, not a caller's claim —
    a dev chain moves its time forward at will (anvil `evm_increaseTime`), and a backfill replays
    blocks older than the ledger. The indexer's Follower therefore posts through
    `store.with_effective_time_policy(EffectiveTimePolicy.UNBOUNDED)`.
    """

    backdating_window: timedelta | None = timedelta(days=400)
    """None: no lower bound."""
    max_ahead: timedelta | None = timedelta(seconds=MAX_EFFECTIVE_AHEAD_S)
    """None: no upper bound."""

    UNBOUNDED: ClassVar[EffectiveTimePolicy]

    @classmethod
    def from_settings(cls, settings: LedgerSettings | None = None) -> EffectiveTimePolicy:
        if settings is None:
            from ledger.config import LedgerSettings

            settings = LedgerSettings()
        return cls(backdating_window=timedelta(days=settings.backdating_window_days))

    def allowed_range_us(self, ledger_created_us: int, recorded_us: int) -> tuple[int | None, int | None]:
        """(earliest, latest) effective time in microseconds; None where unbounded."""
        earliest = None if self.backdating_window is None else ledger_created_us - _us(self.backdating_window)
        latest = None if self.max_ahead is None else recorded_us + _us(self.max_ahead)
        return earliest, latest

    def check(self, effective_us: int, *, ledger: str, ledger_created_us: int, recorded_us: int) -> None:
        earliest, latest = self.allowed_range_us(ledger_created_us, recorded_us)
        if (earliest is None or effective_us >= earliest) and (latest is None or effective_us <= latest):
            return
        low = "any time" if earliest is None else _iso(earliest)
        high = "any time" if latest is None else _iso(latest)
        rules = []
        if self.backdating_window is not None:
            rules.append(f"from its creation ({_iso(ledger_created_us)}) minus {self.backdating_window.days} days")
        if self.max_ahead is not None:
            rules.append(f"up to {self.max_ahead.total_seconds():g} s after the recorded time")
        raise EffectiveAtOutOfRange(
            f"effective_at {_iso(effective_us)} is outside {low} .. {high}: ledger {ledger} accepts effective "
            f"times {' and '.join(rules)}",
            earliest=None if earliest is None else _iso(earliest),
            latest=None if latest is None else _iso(latest),
        )


EffectiveTimePolicy.UNBOUNDED = EffectiveTimePolicy(backdating_window=None, max_ahead=None)


def _us(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _iso(moment_us: int) -> str:
    try:
        return from_us(moment_us).isoformat().replace("+00:00", "Z")
    except OverflowError:  # outside datetime's years 1-9999
        return f"{moment_us} µs since 1970"
