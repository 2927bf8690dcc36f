"""`kogi demo`: drive a realistic story on the RUNNING embedded stack (`make run`), then show that
the ledger mirrors it exactly.

It reads the same `KOGI_` settings as the server (database, deployments directory, admin key),
talks to the chain over JSON-RPC with anvil's unlocked dev accounts, and to the ledger over the HTTP
API (health, trial balance, statement) and the database (reconcile). The chain's RPC URL is
`--rpc-url`, else KOGI_RPC_URL, else the one the server's `GET /health` reports for the anvil it
started (so `--api-url` alone is enough), else the embedded anvil on KOGI_CHAIN_PORT. A chain or API
that goes away during the story is one error line (exit 1), never a traceback.

The story itself (cast, round terms, chapters) is the use case in services/demo.py; this command
finds the stack, prints what the story narrates, waits for the indexer through the API, prints the
trial balance and a holder's statement, and the reconciliation. Exit 1 if reconciliation finds any
difference.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from api.cli.chain import connect_web3
from api.cli.errors import database_or_fail, fail

if TYPE_CHECKING:
    from indexer.reconcile import ReconcileReport

POLL_S = 0.2


class _Api:
    """The running API as the demo reads it: GET with the admin key, one error line on anything but 200."""

    def __init__(self, base_url: str, key: str) -> None:
        import httpx

        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=30, headers={"Authorization": f"Bearer {key}"})

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        if response.status_code != 200:
            fail(f"GET {path}: HTTP {response.status_code}: {response.text[:300]}")
        return response.json()

    def wait_indexed(self, chain_id: int, block: int, timeout_s: float) -> dict[str, Any]:
        """Poll /health until the indexer's cursor reached `block` (deadline `timeout_s`)."""
        deadline = time.monotonic() + timeout_s
        row: dict[str, Any] = {}
        while True:
            rows = [c for c in self.get("/health").get("chains", []) if c["chain_id"] == chain_id]
            row = rows[0] if rows else {}
            if row.get("error"):
                fail(f"the indexer stopped: {row['error']}")
            if (row.get("indexed_block") or -1) >= block:
                return row
            if time.monotonic() > deadline:
                fail(f"the indexer did not reach block {block} within {timeout_s:.0f}s (at {row.get('indexed_block')})")
            time.sleep(POLL_S)


def _step(text: str) -> None:
    typer.echo(f"\n== {text}")


class _Narrator:
    """Prints the story as services.demo tells it (chapter headings through `_step`)."""

    def step(self, text: str) -> None:
        _step(text)

    def line(self, text: str) -> None:
        typer.echo(text)


def _print_trial_balance(api: _Api, ledger: str) -> bool:
    body = api.get(f"/v1/ledger/{ledger}/trial-balance")
    _step(f"Trial balance of ledger {ledger!r} (as of sequence {body['as_of_sequence']})")
    rows = [(r["asset"], r["accounting_type"], r["debits"], r["credits"]) for r in body["rows"]]
    header = ("asset", "type", "debits", "credits")
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(header)]
    for row in [header, *rows]:
        typer.echo(
            "  "
            + "  ".join(
                cell.rjust(w) if i > 1 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=False))
            )
        )
    typer.echo(f"  balanced: {body['balanced']}")
    return bool(body["balanced"])


def _print_statement(api: _Api, ledger: str, account: str, asset: str) -> None:
    body = api.get(f"/v1/ledger/{ledger}/accounts/{account}/statement", asset=asset, limit=50)
    _step(f"Statement of {account} in {asset}")
    for line in body["lines"]:
        sign = "+" if line["side"] == "credit" else "-"  # holder accounts are liabilities: credit = more
        typer.echo(
            f"  #{line['sequence']:<5} {line['kind']:18} {sign}{line['amount']:>12}  "
            f"balance {line['balance_after']:>12}  {line['external_ref'] or ''}"
        )


def demo(
    api_url: str = typer.Option(
        "http://127.0.0.1:8000", "--api-url", envvar="KOGI_API_URL", help="The running API (`make run`)."
    ),
    rpc_url: str | None = typer.Option(
        None,
        "--rpc-url",
        help="Chain JSON-RPC URL (default: KOGI_RPC_URL, else the chain the server at --api-url "
        "reports in /health, else the embedded anvil on KOGI_CHAIN_PORT).",
    ),
    manifest: Path | None = typer.Option(
        None, help="Deployment manifest (default KOGI_DEPLOYMENTS_DIR/<chain id>.json)."
    ),
    timeout_s: float = typer.Option(60.0, min=1, help="How long to wait for the indexer to catch up."),
) -> None:
    """Drive a funding/revenue/donation story on the running embedded stack, then print the trial balance,
    a holder's statement and the reconciliation (exit 1 on any difference)."""
    import httpx
    from requests.exceptions import RequestException
    from web3.exceptions import Web3Exception

    from api.embedded_chain import rpc_url_of
    from api.settings import ApiSettings
    from contracts.deploy import TransactionFailed
    from indexer.rpc import RpcError
    from services.demo import DemoError

    settings = ApiSettings()
    if settings.admin_api_key is None and not settings.admin_api_key_file.exists():
        fail(
            f"no admin API key (KOGI_ADMIN_API_KEY unset, {settings.admin_api_key_file} missing): "
            "run the demo where `make run` runs, with the same settings"
        )
    api = _Api(api_url, settings.resolve_admin_api_key())
    try:
        response = api.http.get("/health")
        response.raise_for_status()
        health = response.json()
    except Exception as exc:  # noqa: BLE001 - one readable line
        fail(f"the API at {api_url} does not answer ({exc.__class__.__name__}): start it with `make run`")
    url = rpc_url or settings.rpc_url or served_rpc_url(health) or rpc_url_of(settings)
    try:
        _run(api, api_url, url, manifest, settings, timeout_s)
    except DemoError as exc:
        fail(str(exc))
    except (RequestException, OSError, httpx.HTTPError, Web3Exception, TransactionFailed, RpcError) as exc:
        fail(
            f"the demo stopped: {exc.__class__.__name__}: {_first_line(exc)} (chain {url}, API {api_url}: "
            "is `make run` still running?)"
        )


def served_rpc_url(health: Any) -> str | None:
    """The RPC URL of the one chain the server's /health reports an anvil for (None: none or several)."""
    chains = health.get("chains", []) if isinstance(health, dict) else []
    urls = [row["rpc_url"] for row in chains if isinstance(row, dict) and row.get("rpc_url")]
    return urls[0] if len(urls) == 1 else None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else "(no message)"


def _run(api: _Api, api_url: str, url: str, manifest: Path | None, settings: Any, timeout_s: float) -> None:
    """The story on chain (services.demo), then the ledger's side of it through the API and the database."""
    from indexer.reconcile import NotIndexed
    from ledger.chart import holder_account, token_asset
    from services.demo import open_demo_chain, play_story, reconcile_mirror

    w3, chain_id = connect_web3(url, hint=": is `make run` running?")
    chain = open_demo_chain(w3, chain_id, url, manifest, settings.deployments_dir)
    typer.echo(f"Kogi demo on chain {chain.chain_id} ({url}), API {api_url}")
    story = play_story(chain, _Narrator())

    _step(f"Waiting for the indexer to reach block {story.block}")
    row = api.wait_indexed(chain.chain_id, story.block, timeout_s)
    typer.echo(f"  indexed block {row['indexed_block']}, head {row['head_block']}, lag {row['lag_blocks']}")

    ledger = settings.default_ledger
    balanced = _print_trial_balance(api, ledger)
    _print_statement(api, ledger, holder_account(chain.chain_id, story.alice), token_asset(chain.chain_id, story.token))

    database = database_or_fail(settings.database_url)
    try:
        report = reconcile_mirror(database, url, chain_id=chain.chain_id, ledger=ledger)
    except NotIndexed as exc:
        fail(str(exc))
    finally:
        database.dispose()
    _print_reconciliation(report, balanced)


def _print_reconciliation(report: ReconcileReport, balanced: bool) -> None:
    """The comparison's table; exit 1 on any difference or an unbalanced trial balance."""
    differences = report.differences
    _step(f"Reconciliation: ledger vs chain at block {report.block}")
    typer.echo(f"  {len(report.rows)} balances compared, {len(differences)} differences")
    for diff in differences:
        typer.echo(
            f"  DIFF {diff.account} {diff.asset}: ledger {diff.ledger_units}, chain {diff.chain_units}, "
            f"diff {diff.diff_units}"
        )
    if differences:
        fail(f"{len(differences)} difference(s) between the ledger and the chain")
    if not balanced:
        fail("the trial balance is not balanced")
    typer.echo("\nThe ledger mirrors the chain exactly: 0 differences.")
