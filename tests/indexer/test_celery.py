"""The indexer as a Celery task on a real worker and a real Redis: two tasks for one chain at
once — one follows, the other stands by — and the mirror reconciles to zero."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from indexer.reconcile import reconcile
from indexer.rpc import RpcClient
from ledger import LedgerStore
from tests.indexer.conftest import TOKEN, Stack
from tests.indexer.test_reorg_restart import all_entries
from tests.servers import RedisServer

REPO = Path(__file__).resolve().parents[2]
WORKER_START_S = 60.0
TASK_TIMEOUT_S = 120.0


def test_two_follow_tasks_on_a_real_worker_one_writes(
    stack: Stack,
    store: LedgerStore,
    rpc: RpcClient,
    redis_server: RedisServer,
    anvil_chain: Any,
    tmp_path: Path,
) -> None:
    from indexer.tasks import app, follow

    for i in range(5):
        stack.send(stack.token.functions.mint(stack.investors[i % 3], (i + 1) * TOKEN))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(stack.manifest.to_json()))

    app.conf.broker_url = app.conf.result_backend = redis_server.url
    env = {**os.environ, "KOGI_REDIS_URL": redis_server.url, "KOGI_DATABASE_URL": store.db.url}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "indexer.tasks",
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            "--loglevel=warning",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + WORKER_START_S
        while not app.control.ping(timeout=0.5):
            assert worker.poll() is None, "the Celery worker exited"
            assert time.monotonic() < deadline, "the Celery worker did not answer"
        kwargs = dict(database_url=store.db.url, confirmations=0, budget_s=30.0)
        results = [follow.delay(anvil_chain.rpc_url, str(manifest), **kwargs) for _ in range(2)]
        outcomes = [result.get(timeout=TASK_TIMEOUT_S) for result in results]
        # a later tick (any worker) resumes from the cursor
        stack.send(stack.token.functions.mint(stack.investors[0], 9 * TOKEN))
        later = follow.delay(anvil_chain.rpc_url, str(manifest), **kwargs).get(timeout=TASK_TIMEOUT_S)
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    writers = [o for o in outcomes if o["entries_posted"] > 0]
    assert len(writers) == 1, outcomes  # the lease let exactly one task write the chain
    assert later["standby"] is False and later["cursor"] == rpc.head()
    entries = all_entries(store)
    assert [e.kind for e in entries].count("mint") == 6
    assert len({e.external_ref for e in entries}) == len(entries)
    assert reconcile(store, rpc, chain_id=stack.w3.eth.chain_id).differences == []
