"""Apply the Alembic migrations: the only way the schema is created (`kogi db upgrade`).

A `MigrationChain` is one migrations folder with its own version table, so other
packages sharing the database (the indexer) keep chains independent of the ledger's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class MigrationChain:
    migrations_dir: Path
    version_table: str = "alembic_version"

    def alembic_config(self, engine: Engine) -> Config:
        config = Config()
        config.set_main_option("script_location", str(self.migrations_dir))
        config.attributes["engine"] = engine
        return config

    def upgrade(self, engine: Engine, revision: str = "head") -> None:
        config = self.alembic_config(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def current_revision(self, engine: Engine) -> str | None:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": self.version_table})
            return context.get_current_revision()


MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
LEDGER_CHAIN = MigrationChain(MIGRATIONS_DIR)
alembic_config = LEDGER_CHAIN.alembic_config
upgrade = LEDGER_CHAIN.upgrade
current_revision = LEDGER_CHAIN.current_revision
