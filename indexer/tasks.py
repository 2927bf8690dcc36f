"""The indexer as a Celery task (distributed mode).

Run workers with `celery -A indexer.tasks worker` and `celery -A indexer.tasks beat` (or
`worker -B`); the beat schedule sends `kogi.indexer.follow` for each chain listed in
KOGI_INDEXER_CHAINS every `follow_interval_s`. Each task follows its chain for at most
`budget_s` and then releases the chain's lease, so whichever worker takes the next tick
resumes from the stored cursor. Any number of workers is safe: the lease (with fencing
inside every ledger write) lets exactly one of them write a chain at a time; the others
return `standby`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from typing import Any

from celery import Celery
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.manifest import read_manifest
from indexer.follower import Follower
from indexer.rpc import RpcClient
from ledger.chart import DEFAULT_ACCOUNT_CODE_RULES
from ledger.config import LedgerSettings
from ledger.database import Database
from ledger.store import LedgerStore

log = logging.getLogger("kogi.indexer")

DEFAULT_BUDGET_S = 20.0


class IndexerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOGI_", env_file=".env", extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    """Celery broker and result backend (distributed mode)."""
    indexer_chains: str = "[]"
    """JSON list of {"rpc_url": …, "manifest": path, "confirmations": n?} for the beat schedule."""
    follow_interval_s: float = 30.0


settings = IndexerSettings()
app = Celery("kogi", broker=settings.redis_url, backend=settings.redis_url)
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=1, task_serializer="json", result_serializer="json")


def _worker_owner() -> str:
    return f"celery:{socket.gethostname()}:{os.getpid()}"


@app.task(name="kogi.indexer.follow")  # type: ignore[untyped-decorator]  # celery ships no type hints
def follow(
    rpc_url: str,
    manifest_path: str,
    *,
    database_url: str | None = None,
    ledger: str = "main",
    confirmations: int | None = None,
    budget_s: float = DEFAULT_BUDGET_S,
) -> dict[str, Any]:
    """Follow one chain for at most `budget_s` seconds; return where it stands."""
    database = Database(database_url or LedgerSettings().database_url)
    rpc = RpcClient(rpc_url)
    store = LedgerStore(database, account_code_rules=DEFAULT_ACCOUNT_CODE_RULES)
    follower = Follower(
        store, rpc, read_manifest(manifest_path), ledger=ledger, confirmations=confirmations, owner=_worker_owner()
    )
    started = time.monotonic()
    posted, standby = 0, False
    try:
        while time.monotonic() - started < budget_s:
            result = follower.step()
            posted += result.entries_posted
            standby = result.standby
            if standby:
                break
            if result.backing_off is not None:  # a flapping chain (alert written): the next tick looks again
                log.warning("chain %s: %s", follower.chain_id, result.backing_off)
                break
            cursor = follower.state.cursor()
            if result.reorg_depth == 0 and cursor is not None and cursor.last_block >= rpc.head():
                break
        cursor = follower.state.cursor()
        return {
            "chain_id": follower.chain_id,
            "standby": standby,
            "entries_posted": posted,
            "cursor": cursor.last_block if cursor else None,
            "owner": follower.owner,
        }
    finally:
        if not standby:
            follower.close()  # hand the lease over at once: the next tick may run anywhere
        rpc.close()
        database.dispose()


@app.on_after_configure.connect  # type: ignore[untyped-decorator]  # celery ships no type hints
def _schedule(sender: Celery, **_: Any) -> None:
    for chain in json.loads(settings.indexer_chains):
        sender.add_periodic_task(
            settings.follow_interval_s,
            follow.s(chain["rpc_url"], chain["manifest"], confirmations=chain.get("confirmations")),
            name=f"follow {chain['rpc_url']}",
        )
