"""Named limits of the ledger (TigerBeetle style: every bound explicit and in one place)."""

from __future__ import annotations

MAX_AMOUNT_UNITS = 2**256 - 1
"""Largest amount of one posting, and largest running total per (account, asset) and side."""

MAX_SCALE = 36
MAX_POSTINGS_PER_ENTRY = 64
MAX_ENTRIES_PER_BATCH = 10_000
MAX_CODE_LENGTH = 256
MAX_ASSET_CODE_LENGTH = 128
MAX_IDEMPOTENCY_KEY_LENGTH = 128
MAX_EXTERNAL_REF_LENGTH = 256
MAX_KIND_LENGTH = 32
MAX_METADATA_BYTES = 16 * 1024
MAX_PAGE_SIZE = 1_000
DEFAULT_PAGE_SIZE = 100
MAX_EFFECTIVE_AHEAD_S = 300
"""An entry's `effective_at` may lie at most this far after its recorded time (clock skew)."""
WRITE_RETRY_LIMIT = 20
"""Transient conflicts (deadlock, serialization, concurrent duplicate key) retried this often."""
MAX_INT64 = 2**63 - 1
"""Largest id, sequence number or chain id a request may name (the database's BIGINT)."""
MAX_LEDGER_CODE_LENGTH = 64
MAX_CONTRACT_ADDRESS_LENGTH = 64
MAX_TEMPLATE_PATTERN_LENGTH = 256
MAX_SEALS_PAGE = 10_000
"""Seals per `list_seals` call (two short columns each: a page stays well under a few MB)."""
VERIFY_CHUNK_ENTRIES = 2_000
"""Entries (with their postings) `verify` holds in memory at a time."""
IN_CLAUSE_CHUNK = 1_000
"""Codes per `IN (...)` lookup and rows per bulk insert when opening accounts."""
DEFAULT_EXPIRE_LIMIT = 1_000
"""Holds one `expire_holds` call releases at most."""

# Caches of committed, immutable rows (a miss reads the database again; see ledger.cache).
MAX_CACHED_LEDGERS = 10_000
MAX_CACHED_ASSETS = 100_000
MAX_CACHED_ACCOUNTS = 250_000
"""Accounts cached by code and by id (a few hundred bytes each: tens of MB at the bound)."""
MAX_CACHED_BALANCE_ROWS = 500_000
"""(account, asset) pairs known to have a balance row."""
