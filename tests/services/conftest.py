"""Services fixtures: the services' schema on SQLite and on a real PostgreSQL, an injectable clock."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.database import Database
from services import migrate

_counter = itertools.count()


class FakeClock:
    """A clock the test moves by hand (seconds since the epoch), starting at the real time."""

    def __init__(self) -> None:
        self.now_s = time.time()

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/services-{next(_counter)}.db"
    else:
        url = request.getfixturevalue("postgres_server").create_database(f"services_{next(_counter)}")
    db = Database(url)
    migrate.upgrade(db.write_engine)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()
