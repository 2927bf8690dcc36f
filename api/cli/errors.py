"""One readable line on stderr and a non-zero exit: the CLI's only error style."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from ledger.database import Database


def fail(message: str, exit_code: int = 1) -> NoReturn:
    typer.echo(f"kogi: error: {message}", err=True)
    raise typer.Exit(exit_code)


def database_or_fail(url: str) -> Database:
    """Open the database at `url`; a bad URL (unknown dialect, missing driver, unusable path) is the
    CLI's one error line instead of a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from ledger.database import Database

    try:
        return Database(url)
    except (SQLAlchemyError, ImportError, OSError, ValueError) as exc:
        text = str(exc).strip().splitlines()
        fail(f"cannot open the database {_redacted(url)}: {text[0] if text else type(exc).__name__}")


def _redacted(url: str) -> str:
    """The URL without its password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - unparsable: show only the scheme
        return url.split("://", 1)[0] + "://…" if "://" in url else "(unparsable URL)"
