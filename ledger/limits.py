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
