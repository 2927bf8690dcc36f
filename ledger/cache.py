"""A bounded dict for the store's caches of committed rows.

The store caches what never changes once committed (ledger, asset and account rows by code and
by id, which balance rows exist) so that a write does not read them again. A long-running
indexer meets millions of holders; an unbounded cache would grow with them until the process
is killed. Forgetting is always safe: every reader of these caches falls back to the database
on a miss, and the write path resolves what it needs into its own snapshot first.
"""

from __future__ import annotations

import itertools
import threading
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(dict[K, V]):
    """A dict that forgets its older half once it holds more than `max_entries`.

    Eviction is first-in first-out (dicts keep insertion order) and by halves, so its cost is
    amortised O(1) per insert and a hot working set refills at once. Reads are plain dict
    reads (no lock, C speed); only inserts go through `__setitem__`. Insert with `cache[k] = v`
    (`update` and `setdefault` bypass the bound and are not used on these caches).
    """

    def __init__(self, max_entries: int) -> None:
        super().__init__()
        if max_entries < 2:
            raise ValueError("a bounded cache holds at least two entries")
        self.max_entries = max_entries
        self._evicting = threading.Lock()

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        if len(self) > self.max_entries:
            self._forget_older_half()

    def _forget_older_half(self) -> None:
        with self._evicting:
            excess = len(self) - self.max_entries // 2
            if excess <= 0:  # another thread evicted meanwhile
                return
            # Copying the keys runs in C under the GIL: concurrent inserts cannot interleave.
            for key in list(itertools.islice(self, excess)):
                self.pop(key, None)
