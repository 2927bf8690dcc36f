"""`kogi bench indexer`: Kogi's follower vs Ponder 0.16.10 on one anvil chain, same run.

Chain (one fresh anvil on a free port): the Kogi core, one portfolio through the factory (a
PortfolioToken without revenue share), `holders` addresses verified in the compliance registry
(`batchSetInvestors`), and the bench-only contract `BenchTransferFanout` (contracts/src/bench/)
holding the minted supply. Each `fanOut` transaction sends one token `transfer` per recipient,
so with automine each transaction is one block of `events / blocks` Transfer events; then 30
empty blocks are mined (Ponder treats the last 30 blocks of an unknown chain as unfinalized and
only reports them through its realtime sync; both contenders must reach the head).

Contenders, run one after the other against the same chain:
  kogi    `Follower` in a child process (spawn), from an empty database (migrations included)
          until the cursor is at the head; SQLite in a temporary folder by default, or a fresh
          database on the PostgreSQL server of `--database-url`. Confirmations as for anvil.
          Checked afterwards: one `transfer` entry per Transfer event (+ the mint), trial
          balance, `kogi reconcile` zero differences.
  ponder  `npm install ponder@0.16.10` into a temporary folder (registry package), a generated
          minimal project (one `transfer` table, one insert per Transfer, `disableCache: true`),
          PGlite (or the same PostgreSQL server as Kogi, own database), run with the project's
          Node 22; timed from process start until `GET /status` reports the head block; the
          row count is read from a bench route of the generated API.

Kogi reads ahead in a second process (indexer.reader, as `kogi indexer run` does): while one
range is posted, the next is fetched, decoded, mapped and digested. Its peak RSS is reported
too, and `kogi_peak_rss_mib` is the sum of both processes.

Kogi's memory: the child's peak RSS (VmHWM), and after each step its current RSS and its
high-water mark so far, reported at 25/50/75/100 % of the events posted: a high-water mark that
stops rising after the first steps means memory does not grow with the number of events: it is set
by the largest step (`largest_step_entries`). The follower adapts its step to ~20,000 events (the
first step is 10 blocks; a step doubles only while twice its events still fit) and posts in
ledger batches of up to 10,000 entries. Compare runs with different --events.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils.crypto import keccak

if TYPE_CHECKING:
    from contracts.manifest import Manifest

PONDER_VERSION = "0.16.10"
PONDER_PEERS = {"viem": "2.57.20", "hono": "4.13.19"}
"""Ponder's peer dependencies, pinned so that runs are comparable."""
TAIL_BLOCKS = 30
TOKEN = 10**18
MAX_HOLDERS = 1_000
GAS_MARGIN = 1.3
ANVIL_GAS_LIMIT = 2_000_000_000
LEDGER = "main"
NPM_TIMEOUT_S = 600
DEFAULT_TIMEOUT_S = 3_600
POLL_S = 0.1


@dataclass(frozen=True)
class Workload:
    events: int = 100_000
    blocks: int = 1_000
    holders: int = MAX_HOLDERS

    @property
    def per_block(self) -> int:
        return max(1, -(-self.events // max(1, self.blocks)))


def holder_address(index: int) -> str:
    from web3 import Web3

    return Web3.to_checksum_address(keccak(b"kogi-bench-holder:" + index.to_bytes(8, "big"))[12:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mib() -> float:
    """This process's RSS high-water mark. VmHWM, not ru_maxrss: Linux carries ru_maxrss over
    exec, so a spawned child would report the parent's RSS at fork time as its own peak."""
    return _vm_hwm_mib(os.getpid()) or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ------------------------------------------------------------------------ chain


@dataclass
class BenchChain:
    rpc_url: str
    chain_id: int
    manifest: Manifest
    token: str
    token_block: int
    head: int
    transfer_events: int  # Transfer logs of the token: the fan-out transfers + the mint
    seed_seconds: float


def seed_chain(anvil: Any, workload: Workload) -> BenchChain:
    """Deploy core + portfolio + fan-out contract and emit `workload.events` Transfers."""
    from web3 import Web3

    from contracts.core import PortfolioSpec, deploy_dev_core, deploy_portfolio, verify_investors
    from contracts.deploy import RECEIPT_TIMEOUT_S, deploy_contract, transact
    from contracts.manifest import Manifest

    started = time.perf_counter()
    w3 = anvil.web3()
    accounts = w3.eth.accounts
    admin, treasury = accounts[0], accounts[7]
    core = deploy_dev_core(w3)  # admin (accounts[0]) is the creator here
    portfolio = deploy_portfolio(
        w3, core, PortfolioSpec(admin=admin, treasury=treasury, name="Bench Indexer", symbol="BIDX", issuer=admin)
    )
    token = portfolio.token
    fanout = deploy_contract(w3, "BenchTransferFanout", sender=admin)
    holder_count = max(1, min(workload.holders, workload.events))
    holders = [holder_address(i) for i in range(holder_count)]
    verify_investors(core, [fanout.address, *holders])
    transact(token.functions.mint(fanout.address, workload.events * TOKEN), admin)

    batches = [
        [holders[i % holder_count] for i in range(start, min(workload.events, start + workload.per_block))]
        for start in range(0, workload.events, workload.per_block)
    ]
    gas = int(fanout.functions.fanOut(token.address, batches[0], TOKEN).estimate_gas({"from": admin}) * GAS_MARGIN)
    nonce = w3.eth.get_transaction_count(admin)
    last = None
    for offset, batch in enumerate(batches):
        data = fanout.functions.fanOut(token.address, batch, TOKEN)._encode_transaction_data()
        last = w3.eth.send_transaction(
            {"from": admin, "to": fanout.address, "data": data, "gas": gas, "nonce": nonce + offset}
        )
    assert last is not None
    receipt = w3.eth.wait_for_transaction_receipt(last, timeout=RECEIPT_TIMEOUT_S)
    if receipt["status"] != 1:
        raise RuntimeError("the last fan-out transaction reverted")
    w3.provider.make_request("anvil_mine", [hex(TAIL_BLOCKS)])
    head = int(w3.eth.block_number)
    transfer_topic = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
    transfer_events = len(
        w3.eth.get_logs(
            {"address": token.address, "fromBlock": portfolio.block_number, "toBlock": head, "topics": [transfer_topic]}
        )
    )
    if transfer_events != workload.events + 1:
        raise RuntimeError(f"expected {workload.events + 1} Transfer logs on chain, found {transfer_events}")
    return BenchChain(
        rpc_url=anvil.rpc_url,
        chain_id=int(w3.eth.chain_id),
        manifest=Manifest.of(core),
        token=Web3.to_checksum_address(token.address),
        token_block=portfolio.block_number,
        head=head,
        transfer_events=transfer_events,
        seed_seconds=time.perf_counter() - started,
    )


# ------------------------------------------------------------------------- Kogi


def _kogi_child(
    database_url: str, rpc_url: str, manifest: Manifest, head: int, expected_events: int, conn: Any
) -> None:
    """Child process: migrate an empty database, follow to `head`, report timing and memory."""
    started = time.perf_counter()
    try:
        from indexer import migrate as indexer_migrate
        from indexer.follower import Follower
        from indexer.rpc import RpcClient
        from ledger import Database, LedgerStore
        from ledger.chart import DEFAULT_ACCOUNT_CODE_RULES
        from ledger.migrate import upgrade as ledger_upgrade

        database = Database(database_url)
        ledger_upgrade(database.write_engine)
        indexer_migrate.upgrade(database.write_engine)
        rpc = RpcClient(rpc_url)
        follower = Follower(
            LedgerStore(database, account_code_rules=DEFAULT_ACCOUNT_CODE_RULES),
            rpc,
            manifest,
            ledger=LEDGER,
            owner="kogi-bench",
            reader_process=True,
        )
        sync_started = time.perf_counter()
        posted, steps, largest_step, samples = 0, 0, 0, [(0, _rss_mib(), _peak_rss_mib())]
        while True:
            result = follower.step()
            steps += 1
            posted += result.entries_posted
            largest_step = max(largest_step, result.entries_posted)
            if result.entries_posted:
                samples.append((posted, _rss_mib(), _peak_rss_mib()))
            cursor = follower.state.cursor()
            assert cursor is not None
            if cursor.last_block >= head:
                break
        finished = time.perf_counter()
        reader_pid = follower.reader_pid
        reader_peak = (_vm_hwm_mib(reader_pid) or 0.0) if reader_pid is not None else 0.0
        follower.close()
        rpc.close()
        database.dispose()
        current, high_water = {}, {}
        for share in (25, 50, 75, 100):
            wanted = expected_events * share / 100
            _, rss, peak = next((sample for sample in samples if sample[0] >= wanted), samples[-1])
            current[f"{share}%"], high_water[f"{share}%"] = round(rss, 1), round(max(rss, peak), 1)
        conn.send(
            {
                "seconds": finished - started,
                "sync_seconds": finished - sync_started,
                "entries_posted": posted,
                "steps": steps,
                "largest_step_entries": largest_step,
                "last_block": cursor.last_block,
                "peak_rss_mib": round(max(_peak_rss_mib(), *(rss for _, rss, _ in samples)), 1),
                "reader_peak_rss_mib": round(reader_peak, 1),
                "rss_mib_by_events_posted": current,
                "peak_rss_mib_by_events_posted": high_water,
            }
        )
    except BaseException as exc:  # reported to the parent, which puts it in the JSON
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        conn.close()


def _check_kogi(database_url: str, chain: BenchChain) -> dict[str, Any]:
    """Every Transfer posted once (entry kinds), trial balance, and reconcile against the chain."""
    import sqlalchemy as sa

    from indexer.reconcile import reconcile
    from indexer.rpc import RpcClient
    from ledger import Database, LedgerStore
    from ledger.chart import DEFAULT_ACCOUNT_CODE_RULES

    database = Database(database_url)
    store = LedgerStore(database, account_code_rules=DEFAULT_ACCOUNT_CODE_RULES)
    rpc = RpcClient(chain.rpc_url)
    try:
        with database.write_engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT kind, count(*) FROM journal_entries GROUP BY kind")).all()
        kinds: dict[str, int] = {str(kind): int(count) for kind, count in rows}
        trial = store.trial_balance(LEDGER)
        report = reconcile(store, rpc, chain_id=chain.chain_id, ledger=LEDGER)
        token_entries = kinds.get("transfer", 0) + kinds.get("mint", 0)
        return {
            "entries_by_kind": kinds,
            "transfer_events_on_chain": chain.transfer_events,
            "all_events_posted": token_entries == chain.transfer_events,
            "trial_balance_ok": trial.balanced,
            "reconcile_differences": len(report.differences),
        }
    finally:
        rpc.close()
        database.dispose()


def run_kogi(database_url: str, chain: BenchChain, timeout_s: float) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(
        target=_kogi_child, args=(database_url, chain.rpc_url, chain.manifest, chain.head, chain.transfer_events, child)
    )
    started = time.perf_counter()
    process.start()
    child.close()
    try:
        if not parent.poll(timeout_s):
            process.kill()
            return {"error": f"Kogi did not reach block {chain.head} within {timeout_s:.0f} s"}
        result: dict[str, Any] = parent.recv()
    except EOFError:
        result = {"error": f"the Kogi process died (exit code {process.exitcode})"}
    wall = time.perf_counter() - started
    process.join(30)
    if "error" in result:
        return result
    blocks = chain.head - chain.manifest.start_block + 1
    seconds = result["seconds"]
    return {
        "seconds": round(seconds, 3),
        "seconds_incl_interpreter_start": round(wall, 3),
        "sync_seconds": round(result["sync_seconds"], 3),
        "events": chain.transfer_events,
        "blocks": blocks,
        "events_per_s": round(chain.transfer_events / seconds, 1),
        "blocks_per_s": round(blocks / seconds, 1),
        "entries_posted": result["entries_posted"],
        "steps": result["steps"],
        "largest_step_entries": result["largest_step_entries"],
        "peak_rss_mib": result["peak_rss_mib"],
        "reader_peak_rss_mib": result["reader_peak_rss_mib"],
        "peak_rss_mib_incl_reader": round(result["peak_rss_mib"] + result["reader_peak_rss_mib"], 1),
        "rss_mib_by_events_posted": result["rss_mib_by_events_posted"],
        "peak_rss_mib_by_events_posted": result["peak_rss_mib_by_events_posted"],
        "check": _check_kogi(database_url, chain),
    }


# ----------------------------------------------------------------------- Ponder

_TRANSFER_ABI = """[
  {
    type: "event",
    name: "Transfer",
    anonymous: false,
    inputs: [
      { indexed: true, name: "from", type: "address" },
      { indexed: true, name: "to", type: "address" },
      { indexed: false, name: "value", type: "uint256" },
    ],
  },
] as const"""

_PONDER_SCHEMA = """import { onchainTable } from "ponder";

export const transfer = onchainTable("transfer", (t) => ({
  id: t.text().primaryKey(),
  from: t.hex().notNull(),
  to: t.hex().notNull(),
  amount: t.bigint().notNull(),
  blockNumber: t.bigint().notNull(),
  transactionHash: t.hex().notNull(),
}));
"""

_PONDER_INDEX = """import { ponder } from "ponder:registry";
import { transfer } from "ponder:schema";

ponder.on("Token:Transfer", async ({ event, context }) => {
  await context.db.insert(transfer).values({
    id: event.id,
    from: event.args.from,
    to: event.args.to,
    amount: event.args.value,
    blockNumber: event.block.number,
    transactionHash: event.transaction.hash,
  });
});
"""

_PONDER_API = """import { db } from "ponder:api";
import { transfer } from "ponder:schema";
import { count } from "ponder";
import { Hono } from "hono";

const app = new Hono();

app.get("/bench/transfers", async (c) => {
  const rows = await db.select({ n: count() }).from(transfer);
  return c.json({ count: Number(rows[0]?.n ?? 0) });
});

export default app;
"""


def _ponder_config(chain: BenchChain, postgres_dsn: str | None) -> str:
    database = (
        '{ kind: "postgres", connectionString: process.env.KOGI_BENCH_PONDER_DATABASE_URL! }'
        if postgres_dsn
        else '{ kind: "pglite", directory: "./.ponder/pglite" }'
    )
    return f"""import {{ createConfig }} from "ponder";
import {{ TokenAbi }} from "./abis/TokenAbi";

export default createConfig({{
  database: {database},
  chains: {{
    anvil: {{ id: {chain.chain_id}, rpc: process.env.PONDER_RPC_URL_{chain.chain_id}!, disableCache: true }},
  }},
  contracts: {{
    Token: {{ chain: "anvil", abi: TokenAbi, address: "{chain.token}", startBlock: {chain.token_block} }},
  }},
}});
"""


def write_ponder_project(root: Path, chain: BenchChain, postgres_dsn: str | None) -> None:
    (root / "abis").mkdir(parents=True, exist_ok=True)
    (root / "src" / "api").mkdir(parents=True, exist_ok=True)
    package = {
        "name": "kogi-bench-ponder",
        "private": True,
        "type": "module",
        "dependencies": {"ponder": PONDER_VERSION, **PONDER_PEERS},
    }
    (root / "package.json").write_text(json.dumps(package, indent=2) + "\n")
    (root / "abis" / "TokenAbi.ts").write_text(f"export const TokenAbi = {_TRANSFER_ABI};\n")
    (root / "ponder.config.ts").write_text(_ponder_config(chain, postgres_dsn))
    (root / "ponder.schema.ts").write_text(_PONDER_SCHEMA)
    (root / "src" / "index.ts").write_text(_PONDER_INDEX)
    (root / "src" / "api" / "index.ts").write_text(_PONDER_API)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _vm_hwm_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _http_json(url: str) -> Any:
    import httpx

    response = httpx.get(url, timeout=5.0)
    response.raise_for_status()
    return response.json()


@dataclass(frozen=True)
class _PonderRun:
    """What one Ponder run to the head block measured."""

    seconds: float
    first_status: float | None
    peak_rss: float | None
    rows: int


def _npm_install_ponder(npm: str, workdir: Path) -> tuple[Path, float] | str:
    """`npm install` the generated project: (ponder's CLI, install seconds), or an error message."""
    install_log = workdir / "npm-install.log"
    installed = time.perf_counter()
    try:
        with open(install_log, "wb") as log:
            npm_run = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=NPM_TIMEOUT_S,
            )
    except subprocess.TimeoutExpired:
        return f"npm install ponder@{PONDER_VERSION} timed out after {NPM_TIMEOUT_S} s"
    if npm_run.returncode != 0:
        return f"npm install ponder@{PONDER_VERSION} failed: {_tail(install_log, 5)}"
    install_seconds = time.perf_counter() - installed
    cli = workdir / "node_modules" / "ponder" / "dist" / "esm" / "bin" / "ponder.js"
    if not cli.exists():
        return f"ponder@{PONDER_VERSION} installed without {cli.relative_to(workdir)}"
    return cli, install_seconds


def _ponder_command(
    node: Path, cli: Path, chain: BenchChain, port: int, postgres_dsn: str | None
) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) of `ponder start` on the chain, serving its API on `port`."""
    env = {
        **os.environ,
        f"PONDER_RPC_URL_{chain.chain_id}": chain.rpc_url,
        "PONDER_TELEMETRY_DISABLED": "true",
        "CI": "true",
        "NODE_ENV": "production",
    }
    env.pop("DATABASE_URL", None)
    argv = [
        str(node),
        str(cli),
        "--log-level",
        "warn",
        "start",
        "--port",
        str(port),
        "--hostname",
        "127.0.0.1",
        "--schema",
        "kogi_bench",
    ]
    if postgres_dsn:
        env["KOGI_BENCH_PONDER_DATABASE_URL"] = postgres_dsn
    return argv, env


def _run_ponder_to_head(
    argv: list[str], env: dict[str, str], workdir: Path, port: int, chain: BenchChain, timeout_s: float
) -> _PonderRun | str:
    """Start Ponder, poll `/status` until it reports the head block, count its rows, stop it;
    the measurements, or an error message."""
    run_log = workdir / "ponder.log"
    status_url = f"http://127.0.0.1:{port}/status"
    block = -1
    with open(run_log, "wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(argv, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        first_status: float | None = None
        peak_rss: float | None = None
        try:
            while True:
                elapsed = time.perf_counter() - started
                if process.poll() is not None:
                    return (
                        f"ponder exited with {process.returncode} before reaching block {chain.head}: {_tail(run_log)}"
                    )
                if elapsed > timeout_s:
                    return (
                        f"ponder did not report block {chain.head} within {timeout_s:.0f} s "
                        f"(last /status block {block})"
                    )
                hwm = _vm_hwm_mib(process.pid)
                peak_rss = max(peak_rss or 0.0, hwm or 0.0)
                try:
                    status = _http_json(status_url)
                except Exception:  # not listening yet, or still starting
                    time.sleep(POLL_S)
                    continue
                if first_status is None:
                    first_status = elapsed
                block = int(status.get("anvil", {}).get("block", {}).get("number", -1))
                if block >= chain.head:
                    seconds = time.perf_counter() - started
                    break
                time.sleep(POLL_S)
            try:
                rows = int(_http_json(f"http://127.0.0.1:{port}/bench/transfers")["count"])
            except Exception as exc:  # the timing stands; the count is a check
                rows = -1
                log.write(f"\nkogi bench: row count failed: {exc}\n".encode())
            peak_rss = max(peak_rss or 0.0, _vm_hwm_mib(process.pid) or 0.0)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return _PonderRun(seconds, first_status, peak_rss, rows)


def run_ponder(chain: BenchChain, workdir: Path, postgres_dsn: str | None, timeout_s: float) -> dict[str, Any]:
    """Install Ponder from npm into `workdir`, run it on the chain, time it to the head block."""
    from contracts.artifacts import NODE

    npm = shutil.which("npm")
    if npm is None:
        return {"error": "npm not found on PATH: Ponder cannot be installed"}
    if not NODE.exists():
        return {"error": f"{NODE} missing (npm install in the project): Ponder needs Node >= 18.14"}
    write_ponder_project(workdir, chain, postgres_dsn)
    installed = _npm_install_ponder(npm, workdir)
    if isinstance(installed, str):
        return {"error": installed}
    cli, install_seconds = installed
    port = _free_port()
    argv, env = _ponder_command(NODE, cli, chain, port, postgres_dsn)
    run = _run_ponder_to_head(argv, env, workdir, port, chain, timeout_s)
    if isinstance(run, str):
        return {"error": run}
    blocks = chain.head - chain.token_block + 1
    return {
        "version": PONDER_VERSION,
        "database": "postgresql" if postgres_dsn else "pglite",
        "seconds": round(run.seconds, 3),
        "seconds_to_first_status": round(run.first_status or 0.0, 3),
        "events": chain.transfer_events,
        "blocks": blocks,
        "events_per_s": round(chain.transfer_events / run.seconds, 1),
        "blocks_per_s": round(blocks / run.seconds, 1),
        "peak_rss_mib": round(run.peak_rss, 1) if run.peak_rss else None,
        "npm_install_seconds": round(install_seconds, 1),
        "check": {"rows": run.rows, "all_events_indexed": run.rows == chain.transfer_events},
    }


# ---------------------------------------------------------------------- harness


def _databases(database_url: str | None, tmp: Path, tag: str) -> tuple[str, str | None]:
    """(Kogi SQLAlchemy URL, Ponder libpq DSN or None for PGlite)."""
    if not database_url or database_url.startswith("sqlite"):
        return f"sqlite:///{tmp}/kogi-bench.db", None
    if not database_url.startswith("postgresql"):
        raise ValueError("--database-url must be a sqlite:/// or postgresql+psycopg:// URL")
    from ledger.bench import fresh_database

    kogi_url, _ = fresh_database(database_url, f"kogi_bench_indexer_{tag}")
    _, ponder_dsn = fresh_database(database_url, f"ponder_bench_indexer_{tag}")
    return kogi_url, ponder_dsn


def run_indexer_bench(
    workload: Workload,
    *,
    database_url: str | None = None,
    ponder: bool = True,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    keep_dir: Path | None = None,
) -> dict[str, Any]:
    """Seed one anvil chain, run Kogi then Ponder on it, return the JSON report."""
    from contracts.anvil import AnvilProcess

    if workload.events < 1 or workload.blocks < 1:
        raise ValueError("--events and --blocks must be at least 1")
    tag = f"{int(time.time())}_{os.getpid()}"
    tmp = Path(tempfile.mkdtemp(prefix="kogi-bench-indexer-")) if keep_dir is None else keep_dir
    tmp.mkdir(parents=True, exist_ok=True)
    anvil = AnvilProcess(port=_free_port(), extra_args=["--gas-limit", str(ANVIL_GAS_LIMIT)]).start()
    try:
        chain = seed_chain(anvil, workload)
        kogi_url, ponder_dsn = _databases(database_url, tmp, tag)
        report: dict[str, Any] = {
            "workload": {
                **asdict(workload),
                "holders": min(workload.holders, workload.events),
                "events_per_block": workload.per_block,
                "tail_blocks": TAIL_BLOCKS,
            },
            "chain": {
                "head": chain.head,
                "token": chain.token,
                "token_block": chain.token_block,
                "transfer_events": chain.transfer_events,
                "seed_seconds": round(chain.seed_seconds, 1),
            },
            "kogi": {"database": "postgresql" if ponder_dsn else "sqlite", **run_kogi(kogi_url, chain, timeout_s)},
        }
        if ponder:
            ponder_dir = tmp / "ponder"
            ponder_dir.mkdir(exist_ok=True)
            try:
                report["ponder"] = run_ponder(chain, ponder_dir, ponder_dsn, timeout_s)
            except Exception as exc:  # any failure to install/run is reported, not raised
                report["ponder"] = {"error": f"{type(exc).__name__}: {exc}"}
        else:
            report["ponder"] = {"skipped": True}
        kogi, peer = report["kogi"], report["ponder"]
        if "events_per_s" in kogi and "events_per_s" in peer:
            ratio = round(kogi["events_per_s"] / peer["events_per_s"], 2)
            report["ratio_kogi_vs_ponder"] = {
                "events_per_s": ratio,
                "blocks_per_s": round(kogi["blocks_per_s"] / peer["blocks_per_s"], 2),
                "target": 2.0,
                "target_met": ratio >= 2.0,
            }
        report["kogi_peak_rss_mib"] = kogi.get("peak_rss_mib_incl_reader", kogi.get("peak_rss_mib"))
        return report
    finally:
        anvil.stop()
        if keep_dir is None:
            shutil.rmtree(tmp, ignore_errors=True)
