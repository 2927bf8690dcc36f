"""`kogi demo`: drive a realistic story on the RUNNING embedded stack (`make run`), then show that
the ledger mirrors it exactly.

It reads the same `KOGI_` settings as the server (database, deployments directory, admin key),
talks to the chain over JSON-RPC with anvil's unlocked dev accounts, and to the ledger over the HTTP
API (health, trial balance, statement) and the database (reconcile). The chain's RPC URL is
`--rpc-url`, else KOGI_RPC_URL, else the one the server's `GET /health` reports for the anvil it
started (so `--api-url` alone is enough), else the embedded anvil on KOGI_CHAIN_PORT. A chain or API
that goes away during the story is one error line (exit 1), never a traceback.

Cast (dev accounts of the dev mnemonic; the keys are public, development only):
  0 platform (compliance agent, portfolio creation), 1 creator (admin, issuer, treasury),
  2-5 investors Alice, Bob, Carol, Dave, 7 a fan without KYC, and the core's own accounts:
  arbiter (factory setting), fee recipient, compliance signer (signs the investment permits).
Story: KYC the investors (four countries) → create a portfolio set (token with revenue share,
round, rights token) → investors invest with EIP-712 permits (Dave: $1) → the window ends, the
round succeeded → investors claim their tokens → milestone 1 approved by issuer and arbiter and
released (platform fee) → the creator deposits revenue → Alice and Bob claim → Alice pays Carol
(allowed) and then her friend without KYC (blocked: restriction code + message) → the fan donates
with a message → wait for the indexer → trial balance, Alice's statement, reconciliation.
Exit 1 if reconciliation finds any difference. Safe to run again: each run creates a new portfolio.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from api.cli.chain import connect_web3
from api.cli.errors import database_or_fail, fail

USDC = 10**6
TOKEN = 10**18
PRICE_UNITS = 2_500_000  # $2.50 per token (stablecoin base units per 1e18 token units)
ROUND_WINDOW_S = 3_600
FEE_BPS = 250
INVESTMENTS = (("Alice", 2, 2_500 * USDC, 840), ("Bob", 3, 1_500 * USDC, 276),
               ("Carol", 4, 750 * USDC, 250), ("Dave", 5, 1 * USDC, 392))
"""(name, dev account, investment, ISO 3166-1 numeric country: US, DE, FR, JP). Dave's is the $1 one."""
CREATOR, PLATFORM, FAN = 1, 0, 7
REVENUE_UNITS = 480 * USDC
DONATION_UNITS = 25 * USDC
DONATION_MESSAGE = "Loved the first EP. Keep going!"
POLL_S = 0.2


def _units(amount: int, scale: int) -> str:
    whole, frac = divmod(amount, 10**scale)
    return f"{whole:,}" + (f".{frac:0{scale}d}".rstrip("0").rstrip(".") if frac else "")


@dataclass
class _Chain:
    w3: Any
    chain_id: int
    core: Any
    stablecoin: Any
    accounts: list[str]
    signer_key: bytes


def _connect(rpc_url: str, manifest_path: Path | None, deployments_dir: Path) -> _Chain:
    from eth_account import Account

    from contracts.core import core_from_addresses
    from contracts.funding import dev_private_key
    from contracts.manifest import ManifestError, manifest_addresses, read_manifest
    from contracts.manifest import manifest_path as default_path

    w3, chain_id = connect_web3(rpc_url, hint=": is `make run` running?")
    try:
        manifest = read_manifest(manifest_path or default_path(chain_id, deployments_dir))
    except ManifestError as exc:
        fail(f"{exc} (the embedded stack writes it on start)")
    core = core_from_addresses(w3, manifest_addresses(manifest), manifest["deployer"])
    if core.stablecoin is None:
        fail("the manifest has no dev stablecoin: the demo runs on the embedded dev chain only")
    accounts = list(w3.eth.accounts)
    if len(accounts) < 10:
        fail(f"the node at {rpc_url} has {len(accounts)} unlocked accounts; the demo needs anvil's 10 dev accounts")
    signer = core.factory.functions.complianceSigner().call()
    keys = [dev_private_key(i) for i in range(10)]
    signer_key = next((k for k in keys if Account.from_key(k).address.lower() == signer.lower()), None)
    if signer_key is None:
        fail(f"the compliance signer {signer} is not a dev account: cannot sign investment permits")
    return _Chain(w3, chain_id, core, core.stablecoin, accounts, signer_key)


class _Api:
    def __init__(self, base_url: str, key: str) -> None:
        import httpx

        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=30,
                                 headers={"Authorization": f"Bearer {key}"})

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


def _story(c: _Chain) -> dict[str, Any]:
    """Everything on chain; returns what the report needs."""
    from web3 import Web3
    from web3.logs import DISCARD

    from contracts.core import PortfolioSpec, RoundSpec, deploy_portfolio, restriction_code, restriction_message
    from contracts.deploy import TransactionFailed, transact
    from contracts.funding import RoundState, invest_with_permit

    w3, core, usdc, acc = c.w3, c.core, c.stablecoin, c.accounts
    platform, creator, fan = acc[PLATFORM], acc[CREATOR], acc[FAN]
    investors = {name: acc[index] for name, index, _, _ in INVESTMENTS}
    arbiter = Web3.to_checksum_address(core.factory.functions.arbiter().call())
    if arbiter == creator:
        fail("the factory's arbiter is the demo's creator account: the milestone needs two different approvers")

    _step("Compliance: KYC for four investors (ComplianceRegistry.batchSetInvestors)")
    kyc_until = int(w3.eth.get_block("latest")["timestamp"]) + 365 * 86_400
    names = [name for name, _, _, _ in INVESTMENTS]
    transact(core.registry.functions.batchSetInvestors(
        [investors[n] for n in names], [kyc_until] * len(names), [country for _, _, _, country in INVESTMENTS],
        [True] * len(names)), platform)
    for name, _, _, country in INVESTMENTS:
        typer.echo(f"  {name:6} {investors[name]}  verified, country {country}")

    _step("Issuance: the platform creates a portfolio set for the creator (PortfolioFactory)")
    start = int(w3.eth.get_block("latest")["timestamp"])
    portfolio = deploy_portfolio(w3, core, PortfolioSpec(
        admin=creator, issuer=creator, treasury=creator, name="Kogi Demo Album", symbol="KDA",
        revenue_token=usdc.address, with_rights=True, royalty_receiver=creator, royalty_bps=500,
        round=RoundSpec(usdc.address, PRICE_UNITS, soft_cap_units=1_000 * USDC, hard_cap_units=10_000 * USDC,
                        min_investment_units=1 * USDC, max_investment_units=5_000 * USDC,
                        start_time_s=start, end_time_s=start + ROUND_WINDOW_S, fee_bps=FEE_BPS,
                        milestone_bps=(5_000, 5_000)),
    ), sender=platform)
    token, round_ = portfolio.token, portfolio.round
    assert round_ is not None
    typer.echo(f"  portfolio {portfolio.portfolio_id}: token {token.address}, round {round_.address}, "
               f"rights {portfolio.rights_token.address if portfolio.rights_token else '-'}")
    typer.echo(f"  round: $2.50 per token, soft cap $1,000, hard cap $10,000, fee {FEE_BPS / 100}%, "
               "milestones 50% + 50%")

    _step("Funding: investors invest with EIP-712 compliance permits")
    for nonce, (name, _, amount, _) in enumerate(INVESTMENTS, start=1):
        investor = investors[name]
        transact(usdc.functions.mint(investor, amount), platform)  # dev stablecoin: anyone may mint
        transact(usdc.functions.approve(round_.address, amount), investor)
        invest_with_permit(w3, round_, investor=investor, amount_units=amount, signer_key=c.signer_key, nonce=nonce)
        typer.echo(f"  {name:6} invests ${_units(amount, 6):>8} → {_units(amount * TOKEN // PRICE_UNITS, 18)} KDA")

    _step("The window ends (evm_increaseTime + evm_mine): the round succeeded")
    ahead = start + ROUND_WINDOW_S + 1 - int(w3.eth.get_block("latest")["timestamp"])
    w3.provider.make_request("evm_increaseTime", [max(ahead, 1)])
    w3.provider.make_request("evm_mine", [])
    state = RoundState(round_.functions.state().call())
    if state != RoundState.SUCCEEDED:
        fail(f"the round is {state.name}, expected SUCCEEDED")
    transact(round_.functions.finalize(), platform)
    typer.echo(f"  state {state.name}, raised ${_units(round_.functions.totalRaised().call(), 6)}")

    _step("Investors claim their tokens (minted through the compliance check)")
    for name in names:
        transact(round_.functions.claimTokens(), investors[name])
        typer.echo(f"  {name:6} holds {_units(token.functions.balanceOf(investors[name]).call(), 18)} KDA")

    _step("Milestone 1: approved by the issuer and the arbiter, released to the treasury")
    transact(round_.functions.approveMilestoneAsIssuer(0), creator)
    transact(round_.functions.approveMilestoneAsArbiter(0), arbiter)
    receipt = transact(round_.functions.releaseMilestone(0), creator)
    (released,) = round_.events.MilestoneReleased().process_receipt(receipt, errors=DISCARD)
    typer.echo(f"  gross ${_units(released['args']['gross'], 6)}: treasury ${_units(released['args']['net'], 6)}, "
               f"platform fee ${_units(released['args']['fee'], 6)}")

    _step("Revenue: the creator deposits sales revenue; holders claim their share")
    transact(usdc.functions.mint(creator, REVENUE_UNITS), platform)
    transact(usdc.functions.approve(token.address, REVENUE_UNITS), creator)
    transact(token.functions.deposit(REVENUE_UNITS), creator)
    typer.echo(f"  deposited ${_units(REVENUE_UNITS, 6)}")
    for name in ("Alice", "Bob"):
        before = usdc.functions.balanceOf(investors[name]).call()
        transact(token.functions.claim(), investors[name])
        typer.echo(f"  {name:6} claims ${_units(usdc.functions.balanceOf(investors[name]).call() - before, 6)}")

    _step("Transfers: one allowed, one blocked by compliance")
    alice, carol = investors["Alice"], investors["Carol"]
    transact(token.functions.transfer(carol, 100 * TOKEN), alice)
    typer.echo("  Alice → Carol 100 KDA: ok")
    code = restriction_code(token, alice, fan, 50 * TOKEN)
    message = restriction_message(core, code)
    try:
        transact(token.functions.transfer(fan, 50 * TOKEN), alice)
    except TransactionFailed as exc:
        typer.echo(f"  Alice → {fan} (no KYC) 50 KDA: BLOCKED, restriction code {code}: {message}")
        typer.echo(f"    ({exc})")
    else:
        fail("the transfer to an account without KYC went through: compliance is not enforced")
    if code == 0:
        fail("detectTransferRestriction reported no restriction for an account without KYC")

    _step("Donation with a message (DonationRouter, 2.5% platform fee)")
    transact(usdc.functions.mint(fan, DONATION_UNITS), platform)
    transact(usdc.functions.approve(core.donation_router.address, DONATION_UNITS), fan)
    transact(core.donation_router.functions.donate(portfolio.portfolio_id, 0, usdc.address, DONATION_UNITS,
                                                   DONATION_MESSAGE, False), fan)
    typer.echo(f"  the fan donates ${_units(DONATION_UNITS, 6)}: \"{DONATION_MESSAGE}\"")
    return {"token": token.address, "alice": alice, "block": int(w3.eth.block_number)}


def _print_trial_balance(api: _Api, ledger: str) -> bool:
    body = api.get(f"/v1/ledger/{ledger}/trial-balance")
    _step(f"Trial balance of ledger {ledger!r} (as of sequence {body['as_of_sequence']})")
    rows = [(r["asset"], r["accounting_type"], r["debits"], r["credits"]) for r in body["rows"]]
    header = ("asset", "type", "debits", "credits")
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(header)]
    for row in [header, *rows]:
        typer.echo("  " + "  ".join(cell.rjust(w) if i > 1 else cell.ljust(w) for i, (cell, w) in
                                    enumerate(zip(row, widths))))
    typer.echo(f"  balanced: {body['balanced']}")
    return bool(body["balanced"])


def _print_statement(api: _Api, ledger: str, account: str, asset: str) -> None:
    body = api.get(f"/v1/ledger/{ledger}/accounts/{account}/statement", asset=asset, limit=50)
    _step(f"Statement of {account} in {asset}")
    for line in body["lines"]:
        sign = "+" if line["side"] == "credit" else "-"  # holder accounts are liabilities: credit = more
        typer.echo(f"  #{line['sequence']:<5} {line['kind']:18} {sign}{line['amount']:>12}  "
                   f"balance {line['balance_after']:>12}  {line['external_ref'] or ''}")


def demo(
    api_url: str = typer.Option("http://127.0.0.1:8000", "--api-url", envvar="KOGI_API_URL",
                                help="The running API (`make run`)."),
    rpc_url: str | None = typer.Option(
        None, "--rpc-url", help="Chain JSON-RPC URL (default: KOGI_RPC_URL, else the chain the server at --api-url "
                                "reports in /health, else the embedded anvil on KOGI_CHAIN_PORT)."),
    manifest: Path | None = typer.Option(None, help="Deployment manifest (default KOGI_DEPLOYMENTS_DIR/<chain id>.json)."),
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

    settings = ApiSettings()
    if settings.admin_api_key is None and not settings.admin_api_key_file.exists():
        fail(f"no admin API key (KOGI_ADMIN_API_KEY unset, {settings.admin_api_key_file} missing): "
             "run the demo where `make run` runs, with the same settings")
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
    except (RequestException, OSError, httpx.HTTPError, Web3Exception, TransactionFailed, RpcError) as exc:
        fail(f"the demo stopped: {exc.__class__.__name__}: {_first_line(exc)} (chain {url}, API {api_url}: "
             "is `make run` still running?)")


def served_rpc_url(health: Any) -> str | None:
    """The RPC URL of the one chain the server's /health reports an anvil for (None: none or several)."""
    chains = health.get("chains", []) if isinstance(health, dict) else []
    urls = [row["rpc_url"] for row in chains if isinstance(row, dict) and row.get("rpc_url")]
    return urls[0] if len(urls) == 1 else None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else "(no message)"


def _run(api: _Api, api_url: str, url: str, manifest: Path | None, settings: Any, timeout_s: float) -> None:
    from indexer.mapping import holder_account, token_asset
    from indexer.reconcile import NotIndexed, reconcile
    from indexer.rpc import RpcClient
    from ledger import LedgerStore

    chain = _connect(url, manifest, settings.deployments_dir)
    typer.echo(f"Kogi demo on chain {chain.chain_id} ({url}), API {api_url}")
    story = _story(chain)

    _step(f"Waiting for the indexer to reach block {story['block']}")
    row = api.wait_indexed(chain.chain_id, story["block"], timeout_s)
    typer.echo(f"  indexed block {row['indexed_block']}, head {row['head_block']}, lag {row['lag_blocks']}")

    ledger = settings.default_ledger
    balanced = _print_trial_balance(api, ledger)
    _print_statement(api, ledger, holder_account(chain.chain_id, story["alice"]),
                     token_asset(chain.chain_id, story["token"]))

    database = database_or_fail(settings.database_url)
    rpc = RpcClient(url)
    try:
        report = reconcile(LedgerStore(database), rpc, chain_id=chain.chain_id, ledger=ledger)
    except NotIndexed as exc:
        fail(str(exc))
    finally:
        rpc.close()
        database.dispose()
    differences = report.differences
    _step(f"Reconciliation: ledger vs chain at block {report.block}")
    typer.echo(f"  {len(report.rows)} balances compared, {len(differences)} differences")
    for diff in differences:
        typer.echo(f"  DIFF {diff.account} {diff.asset}: ledger {diff.ledger_units}, chain {diff.chain_units}, "
                   f"diff {diff.diff_units}")
    if differences:
        fail(f"{len(differences)} difference(s) between the ledger and the chain")
    if not balanced:
        fail("the trial balance is not balanced")
    typer.echo("\nThe ledger mirrors the chain exactly: 0 differences.")
