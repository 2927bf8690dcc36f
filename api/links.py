"""OpenAPI links: from each create to the reads and actions on what it created.

They document how the API's resources connect (a client generator or a reader follows
`POST …/entries` → `GET …/entries/{entry_id}`), and they let a stateful fuzzer (schemathesis,
tests/api/test_schemathesis.py) chain real requests instead of guessing ids. Operation ids are
the route functions' names (`api.app` sets them).
"""

from __future__ import annotations

from typing import Any

SAME_LEDGER = "$request.path.ledger"


def _link(operation_id: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters}


def links(**named: dict[str, Any]) -> dict[str, Any]:
    return named


NEW_LEDGER = "$response.body#/code"
LEDGER_CREATED = links(
    **{
        name: _link(operation, ledger=NEW_LEDGER)
        for name, operation in (
            ("CreateAsset", "create_asset"),
            ("ListAssets", "list_assets"),
            ("CreateAccount", "create_account"),
            ("ListAccounts", "list_accounts"),
            ("CreateAccountTemplate", "create_account_template"),
            ("ListAccountTemplates", "list_account_templates"),
            ("PostEntry", "post_entry"),
            ("ListEntries", "list_entries"),
            ("CreateHold", "create_hold"),
            ("ExpireHolds", "expire_holds"),
            ("TrialBalance", "get_trial_balance"),
            ("Verify", "verify"),
        )
    }
)
ASSET_CREATED = links(GetAsset=_link("get_asset", ledger=SAME_LEDGER, code="$response.body#/code"))
ACCOUNT_CREATED = links(GetAccount=_link("get_account", ledger=SAME_LEDGER, code="$response.body#/code"))
_ENTRY_ID = "$response.body#/id"
ENTRY_CREATED = links(
    GetEntry=_link("get_entry", ledger=SAME_LEDGER, entry_id=_ENTRY_ID),
    ReverseEntry=_link("reverse_entry", ledger=SAME_LEDGER, entry_id=_ENTRY_ID),
    GetBalance=_link(
        "get_balance",
        ledger=SAME_LEDGER,
        code="$response.body#/postings/0/account",
        asset="$response.body#/postings/0/asset",
    ),
    GetStatement=_link(
        "get_statement",
        ledger=SAME_LEDGER,
        code="$response.body#/postings/0/account",
        **{"query.asset": "$response.body#/postings/0/asset"},
    ),
    GetAccount=_link("get_account", ledger=SAME_LEDGER, code="$response.body#/postings/0/account"),
)
_HOLD_ID = "$response.body#/id"
HOLD_CREATED = links(
    GetHold=_link("get_hold", ledger=SAME_LEDGER, hold_id=_HOLD_ID),
    PostHold=_link("post_hold", ledger=SAME_LEDGER, hold_id=_HOLD_ID),
    VoidHold=_link("void_hold", ledger=SAME_LEDGER, hold_id=_HOLD_ID),
)


def created(description: str, link_set: dict[str, Any], model: Any = None) -> dict[int | str, dict[str, Any]]:
    """A `responses=` entry for a 201 that carries links."""
    response: dict[str, Any] = {"description": description, "links": link_set}
    if model is not None:
        response["model"] = model
    return {201: response}
