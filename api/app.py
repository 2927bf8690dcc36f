"""The FastAPI application: `create_app()` (uvicorn runs it with factory=True).

On start-up (lifespan) it opens the database, applies the Alembic migrations (ledger and
indexer) when `auto_migrate` is on (the embedded default), makes sure the default ledger exists
with the default account templates (ledger.chart), so that the indexer and services can post to
`holder:…`, `round:…` etc. without opening each account first, and in embedded mode
(`embedded_chain`, the default) starts anvil, the core contracts and the indexer
(api/embedded_chain.py; `app.state.chain`, stopped on shutdown). One `LedgerStore`
per application lives in `app.state.store`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import APIRouter, Depends, FastAPI

from api.auth import CallerResolver, authenticated, key_digest
from api.docs import install_docs
from api.embedded_chain import EmbeddedChain, rpc_url_of
from api.guard import RequestGuard
from api.problems import API_KEY_PROBLEM_RESPONSES, install_problem_handlers, send_problem
from api.route_table import route_entries
from api.routes import api_keys, audit, auth, entries, health, holds, ledgers, reports
from api.routes.common import AssetScales, reject_control_characters
from api.settings import ApiSettings
from indexer import migrate as indexer_migrate
from ledger import migrate
from ledger.chart import DEFAULT_ACCOUNT_CODE_RULES, bootstrap_ledger
from ledger.database import Database
from ledger.policy import EffectiveTimePolicy
from ledger.store import LedgerStore
from services import migrate as services_migrate
from services.access import missing_rules, rule_for
from services.api_keys import ApiKeyService
from services.audit import AuditLog
from services.auth import AuthPolicy, AuthService, JwtKeyRing, erc1271_checker

log = logging.getLogger("kogi.api")

API_PREFIX = "/v1/ledger"


def is_public_path(path: str) -> bool:
    """For a path no route matches (a 404 or 405 to be): outside /v1 it needs no credential; under /v1
    the request guard asks for a valid one first. Every routed request follows services/access.py."""
    return not (path == "/v1" or path.startswith("/v1/"))


def check_access_table(app: FastAPI) -> None:
    """Refuse to build an app with a route that services.access.ROUTE_ACCESS does not cover."""
    routes = [(method, entry.path) for entry in route_entries(app.router.routes) for method in entry.methods or {"GET"}]
    missing = missing_rules(routes)
    if missing:
        listed = ", ".join(f"{method} {path}" for method, path in missing)
        raise RuntimeError(f"routes missing from the access table (services/access.py ROUTE_ACCESS): {listed}")


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    admin_key = settings.resolve_admin_api_key()
    jwt_keys_text = settings.resolve_jwt_keys()
    jwt_keys = JwtKeyRing.parse(jwt_keys_text) if jwt_keys_text is not None else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        chain: EmbeddedChain | None = None
        database = Database(
            settings.database_url,
            pool_size=settings.database_pool_size,
            busy_timeout_s=settings.sqlite_busy_timeout_s,
        )
        try:
            if settings.auto_migrate:
                migrate.upgrade(database.write_engine)
                indexer_migrate.upgrade(database.write_engine)
                services_migrate.upgrade(database.write_engine)
            store = LedgerStore(
                database,
                account_code_rules=DEFAULT_ACCOUNT_CODE_RULES,
                effective_time_policy=EffectiveTimePolicy.from_settings(settings),
            )
            bootstrap_ledger(store, settings.default_ledger)
            app.state.database = database
            app.state.store = store
            app.state.asset_scales = AssetScales(store)
            if settings.embedded_chain:
                chain = EmbeddedChain(settings, database)
                app.state.chain = chain
                await anyio.to_thread.run_sync(chain.start)
            app.state.auth = _auth_service(settings, database, jwt_keys, chain)
            app.state.api_keys = ApiKeyService(database)
            app.state.audit = AuditLog(database)
            log.info("Kogi Ledger API ready (ledger %r)", settings.default_ledger)
            yield
        finally:
            if chain is not None:
                await anyio.to_thread.run_sync(chain.stop)
            app.state.chain = None
            database.dispose()

    app = FastAPI(
        docs_url=None,
        redoc_url=None,  # served below from local assets (no CDN: the docs work offline)
        generate_unique_id_function=lambda route: route.name,  # operationId = the route function (api/links.py)
        title="Kogi Ledger API",
        version="0.1.0",
        summary="Double-entry ledger over HTTP: exact amounts, idempotent posts, RFC 9457 errors.",
        description=_API_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.chain = None
    app.state.auth = None
    app.state.api_keys = None
    app.state.audit = None
    app.state.admin_key_digest = key_digest(admin_key)
    install_problem_handlers(app)
    app.add_middleware(
        RequestGuard,
        router=app.router,
        identify=CallerResolver(app, app.state.admin_key_digest, jwt_keys),
        rule_of=rule_for,
        is_public=is_public_path,
        max_body_bytes=settings.max_body_bytes,
        public_max_body_bytes=settings.public_max_body_bytes,
        write_problem=send_problem,
    )

    app.include_router(health.router)
    app.include_router(auth.router, dependencies=[Depends(reject_control_characters)])
    app.include_router(api_keys.router, dependencies=[Depends(reject_control_characters)])
    app.include_router(audit.router, dependencies=[Depends(reject_control_characters)])
    install_docs(app)
    v1 = APIRouter(
        prefix=API_PREFIX,
        dependencies=[Depends(authenticated), Depends(reject_control_characters)],
        responses=API_KEY_PROBLEM_RESPONSES,
    )
    # reports first: its /accounts/{code:path}/balances|statement must win over /accounts/{code:path}.
    v1.include_router(reports.router)
    v1.include_router(ledgers.router)
    v1.include_router(entries.router)
    v1.include_router(holds.router)
    app.include_router(v1)
    check_access_table(app)
    return app


def _auth_service(
    settings: ApiSettings, database: Database, keys: JwtKeyRing | None, chain: EmbeddedChain | None
) -> AuthService:
    """Sign-in for the chains this platform serves (the settings' plus the embedded chain's), with
    EIP-1271 checks on the chain this process talks to (embedded anvil or KOGI_RPC_URL), if any."""
    chain_ids = set(settings.siwe_chain_ids)
    if chain is not None and chain.chain_id is not None:
        chain_ids.add(chain.chain_id)
    rpc_url = rpc_url_of(settings) if settings.embedded_chain else settings.rpc_url
    policy = AuthPolicy(
        domain=settings.siwe_domain,
        chain_ids=frozenset(chain_ids),
        nonce_ttl_s=settings.siwe_nonce_ttl_s,
        access_token_ttl_s=settings.access_token_ttl_s,
        refresh_token_ttl_s=settings.refresh_token_ttl_s,
    )
    return AuthService(database, policy, keys, contract_check=erc1271_checker(rpc_url) if rpc_url else None)


_API_DESCRIPTION = """
All `/v1/ledger` routes need `Authorization: Bearer <key>`: the admin API key, or an API key
(`POST /v1/api-keys`) with scope `ledger:read` (GET) or `ledger:write` (POST). Who may call each route
is one table (services/access.py): no or an invalid credential is a 401, a valid one the route does not
admit a 403. Revoked and expired API keys are 401 `api-key-revoked` / `api-key-expired`.

**Sign-in with a wallet** (EIP-4361): `GET /v1/auth/nonce`, sign the message, `POST /v1/auth/siwe`
→ an access token (JWT, ≤ 15 min) for `GET /v1/me` and `POST /v1/auth/logout`, and a single-use
refresh token for `POST /v1/auth/refresh`. An access token is never accepted where the admin key is
required, nor the admin key where an access token is.

**Amounts** are JSON strings, never numbers: `amount_units` is the integer number of base
units (`"1250"` = 12.50 USD at scale 2, up to 2^256-1); responses also carry `amount`, the
decimal string at the asset's scale (`"12.50"`). Requests give exactly one of the two.

**Errors** are RFC 9457 `application/problem+json`; switch on `type`
(`https://kogi.dev/problems/<code>`), e.g. `overdraft`, `unbalanced-entry`,
`idempotency-conflict`, `idempotency-key-required`, `request-validation`.

**Idempotency**: `POST …/entries` and `POST …/holds` require an `Idempotency-Key` header;
a retry with the same key and body returns the original (200), another body is a 409.
"""
