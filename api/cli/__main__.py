"""`python -m api.cli …`: the same `kogi` app as the console script (tests and `make` use both)."""

from __future__ import annotations

from api.cli import app

if __name__ == "__main__":  # pragma: no cover
    app()
