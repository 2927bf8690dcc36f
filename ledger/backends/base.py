"""What a backend does differently: the interface `ledger.backends.backend_for` returns.

Everything else in the ledger is one code path over SQLAlchemy Core. A backend owns only what
must differ for speed or exactness: how a write locks its balance rows, persists and seals its
entries (PostgreSQL: three pipelined round trips and `kogi_seal()`; SQLite: DB-API
`executemany` and the seal in Python), and how postings are summed exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import FromClause, Select
from sqlalchemy.engine import Connection

from ledger.balances import BalanceState, Pair

BeforeSeal = Callable[[Connection, list[str]], None]
"""Runs inside a write transaction after its entries are written, before they are sealed."""


@dataclass(frozen=True)
class PendingWrite:
    """A write transaction's rows, ready to persist and seal (see ledger.posting)."""

    ledger_id: int
    entry_rows: list[dict[str, Any]]
    posting_rows: list[dict[str, Any]]
    balances: dict[Pair, BalanceState]
    """Every locked balance row; the dirty ones are written back."""
    before_seal: BeforeSeal | None
    ids_in_order: list[str]
    """The ids `before_seal` is given: the whole batch's, replays included, in request order."""


@dataclass(frozen=True)
class Sealed:
    """What sealing gave the new entries: consecutive sequence numbers from `first_sequence`,
    one recorded time, one chain hash each."""

    first_sequence: int
    recorded_at_us: int
    hashes: list[str]


class Backend(Protocol):
    """The dialect-specific operations of the ledger (one instance per dialect, stateless)."""

    name: str

    def lock_for_write(self, conn: Connection, pairs: list[Pair]) -> dict[Pair, BalanceState]:
        """Begin the write: lock the balance rows of `pairs` (sorted) in order and read them."""
        ...

    def persist_and_seal(self, conn: Connection, write: PendingWrite) -> Sealed:
        """Insert entries and postings, write dirty balances back, run `before_seal`, seal the
        entries under the ledger head lock. On PostgreSQL the transaction is committed here."""
        ...

    def side_sums_select(self, source: FromClause, where: Sequence[Any], group_by: Sequence[Any]) -> Select[Any]:
        """Rows of (*group_by, side, amount) whose amounts, added up in Python per (key, side),
        give the exact sums of the postings of `source` matching `where`."""
        ...
