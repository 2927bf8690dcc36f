"""Who may call what: THE route -> principals table (issue 11 §2 "authorization is declared, not scattered").

`ROUTE_ACCESS` maps every route of the API (method + path template, as the router spells it) to the
principals allowed to call it and whether the route is limited to the caller's own wallet. The request
guard (api/guard.py) is the one place that enforces it, before a body is read; `create_app` refuses to
start when a route is missing from the table, and tests/api/test_access_matrix.py calls every route as
every kind of caller and checks the answer against this table.

The table lives here, not in api/, because it is a rule of the platform (which role may move money,
which service key may read the ledger), the kind of thing routers must not decide; api/ only turns a
request into a `Caller` and a refusal into a problem.

Principals (`Rule.allow`):

- `public`: anyone, no credential.
- `investor`: any signed-in wallet (an access token). With `own_wallet`, only its own data: a route
  whose template names an `{address}` must be called with the caller's address (`decide` checks it);
  a route without one (GET /v1/me) answers about the caller only, by construction.
- `platform_admin`: the admin key (the bootstrap platform admin; granted wallet roles come later).
- `api_key:<scope>`: an API key of another platform service holding that scope (`API_KEY_SCOPES`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

PUBLIC = "public"
INVESTOR = "investor"
PLATFORM_ADMIN = "platform_admin"
API_KEY_PREFIX = "api_key:"

LEDGER_READ = "ledger:read"
LEDGER_WRITE = "ledger:write"
API_KEY_SCOPES: dict[str, str] = {
    LEDGER_READ: "read the ledger: every GET under /v1/ledger",
    LEDGER_WRITE: "write the ledger: every POST under /v1/ledger (ledgers, assets, accounts, entries, holds)",
}
"""Every scope an API key may hold, with what it grants (ledger:write does not imply ledger:read)."""

OWNER_PARAMETER = "address"
"""The path parameter that names a wallet on `own_wallet` routes."""


class CallerKind(StrEnum):
    ANONYMOUS = "anonymous"
    INVESTOR = "investor"
    PLATFORM_ADMIN = "platform_admin"
    API_KEY = "api_key"


@dataclass(frozen=True)
class Caller:
    """Who a request speaks for, once its credential is checked."""

    kind: CallerKind
    address: str | None = None
    """The wallet of an investor (checksummed)."""
    key_id: str | None = None
    """The API key's id."""
    scopes: frozenset[str] = frozenset()
    session: object | None = field(default=None, compare=False)
    """The signed-in session (services.auth.Principal) of an investor."""

    @property
    def actor(self) -> str:
        """How the audit log and the logs name the caller."""
        if self.kind is CallerKind.INVESTOR:
            return str(self.address)
        if self.kind is CallerKind.API_KEY:
            return f"api_key:{self.key_id}"
        return self.kind.value


ANONYMOUS = Caller(CallerKind.ANONYMOUS)
ADMIN = Caller(CallerKind.PLATFORM_ADMIN)


@dataclass(frozen=True)
class Rule:
    allow: frozenset[str]
    own_wallet: bool = False

    def __post_init__(self) -> None:
        for principal in self.allow:
            if principal.startswith(API_KEY_PREFIX):
                assert principal.removeprefix(API_KEY_PREFIX) in API_KEY_SCOPES, principal
            else:
                assert principal in (PUBLIC, INVESTOR, PLATFORM_ADMIN), principal
        assert not (PUBLIC in self.allow and len(self.allow) > 1), "public routes list no other principal"
        assert not self.own_wallet or self.allow == {INVESTOR}, "own-wallet routes are for investors"

    @property
    def public(self) -> bool:
        return PUBLIC in self.allow

    def admits_api_keys(self) -> bool:
        return any(principal.startswith(API_KEY_PREFIX) for principal in self.allow)


def _rule(*allow: str, own_wallet: bool = False) -> Rule:
    return Rule(frozenset(allow), own_wallet)


OPEN = _rule(PUBLIC)
WALLET = _rule(INVESTOR, own_wallet=True)
ADMIN_ONLY = _rule(PLATFORM_ADMIN)
LEDGER_READER = _rule(PLATFORM_ADMIN, API_KEY_PREFIX + LEDGER_READ)
LEDGER_WRITER = _rule(PLATFORM_ADMIN, API_KEY_PREFIX + LEDGER_WRITE)

_LEDGER_ROUTES: tuple[tuple[str, str], ...] = (
    ("GET", "/ledgers"),
    ("POST", "/ledgers"),
    ("GET", "/{ledger}/assets"),
    ("POST", "/{ledger}/assets"),
    ("GET", "/{ledger}/assets/{code}"),
    ("GET", "/{ledger}/account-templates"),
    ("POST", "/{ledger}/account-templates"),
    ("GET", "/{ledger}/accounts"),
    ("POST", "/{ledger}/accounts"),
    ("GET", "/{ledger}/accounts/{code}"),
    ("GET", "/{ledger}/accounts/{code}/balances/{asset}"),
    ("GET", "/{ledger}/accounts/{code}/statement"),
    ("GET", "/{ledger}/trial-balance"),
    ("GET", "/{ledger}/verify"),
    ("GET", "/{ledger}/entries"),
    ("POST", "/{ledger}/entries"),
    ("GET", "/{ledger}/entries/{entry_id:hexid}"),
    ("POST", "/{ledger}/entries/{entry_id:hexid}/reversal"),
    ("POST", "/{ledger}/holds"),
    ("POST", "/{ledger}/holds/expire"),
    ("GET", "/{ledger}/holds/{hold_id:hexid}"),
    ("POST", "/{ledger}/holds/{hold_id:hexid}/post"),
    ("POST", "/{ledger}/holds/{hold_id:hexid}/void"),
)

ROUTE_ACCESS: dict[tuple[str, str], Rule] = {
    # outside /v1: health and the documentation
    ("GET", "/health"): OPEN,
    ("GET", "/openapi.json"): OPEN,
    ("GET", "/docs"): OPEN,
    ("GET", "/docs/oauth2-redirect"): OPEN,
    ("GET", "/docs/assets"): OPEN,  # a static mount: every file below it
    ("GET", "/redoc"): OPEN,
    # sign-in (issue 11 §1)
    ("GET", "/v1/auth/nonce"): OPEN,
    ("POST", "/v1/auth/siwe"): OPEN,
    ("POST", "/v1/auth/refresh"): OPEN,
    ("POST", "/v1/auth/logout"): WALLET,
    ("GET", "/v1/me"): WALLET,
    # API keys of other platform services
    ("POST", "/v1/api-keys"): ADMIN_ONLY,
    ("GET", "/v1/api-keys"): ADMIN_ONLY,
    ("DELETE", "/v1/api-keys/{key_id}"): ADMIN_ONLY,
    # the audit log (compliance joins when the role lands)
    ("GET", "/v1/audit"): ADMIN_ONLY,
    # the ledger: GET reads, everything else writes
    **{
        (method, "/v1/ledger" + path): LEDGER_READER if method == "GET" else LEDGER_WRITER
        for method, path in _LEDGER_ROUTES
    },
}
"""(method, path template) -> Rule, for every route of the app (HEAD follows GET)."""


class Refusal(StrEnum):
    UNAUTHENTICATED = "unauthenticated"
    """401: no credential, or one that is not accepted here."""
    FORBIDDEN = "forbidden"
    """403: a valid credential whose principal the route does not admit, or another wallet's data."""


def admits(rule: Rule, caller: Caller) -> bool:
    """Whether the rule's principals include the caller (ignoring own-wallet limits)."""
    if rule.public:
        return True
    if caller.kind is CallerKind.INVESTOR:
        return INVESTOR in rule.allow
    if caller.kind is CallerKind.PLATFORM_ADMIN:
        return PLATFORM_ADMIN in rule.allow
    if caller.kind is CallerKind.API_KEY:
        return any(API_KEY_PREFIX + scope in rule.allow for scope in caller.scopes)
    return False


def decide(rule: Rule, caller: Caller, path_params: Mapping[str, str]) -> Refusal | None:
    """None when the caller may call a route with this rule and these path parameters."""
    if rule.public:
        return None
    if caller.kind is CallerKind.ANONYMOUS:
        return Refusal.UNAUTHENTICATED
    if not admits(rule, caller):
        return Refusal.FORBIDDEN
    if rule.own_wallet and OWNER_PARAMETER in path_params:
        if caller.address is None or path_params[OWNER_PARAMETER].lower() != caller.address.lower():
            return Refusal.FORBIDDEN
    return None


def rule_for(method: str, path_template: str) -> Rule | None:
    return ROUTE_ACCESS.get(("GET" if method == "HEAD" else method, path_template))


def missing_rules(routes: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (method, path template) pairs of an app that the table does not cover (HEAD/OPTIONS aside)."""
    return sorted(
        (method, path)
        for method, path in routes
        if method not in ("HEAD", "OPTIONS") and (method, path) not in ROUTE_ACCESS
    )
