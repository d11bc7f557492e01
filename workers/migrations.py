"""The runner of the case register's versioned SQL migrations.

Each file `NNNN_name.sql` in activities/migrations/ (package data of `activities`, beside the
activities whose SQL it defines) is one migration. The runner records what it applied
(with a checksum, so an edited migration is noticed), runs each migration in its own
transaction, and holds a PostgreSQL advisory lock so that several workers starting at once
apply every migration exactly once.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

import asyncpg

from activities.database import Connection

# Any fixed 64-bit number works; it only has to be the same for every process of this engine.
_ADVISORY_LOCK_KEY = 0x5245_4D45_4449_4154  # "REMEDIAT"
MIGRATIONS_FOLDER = "migrations"  # in the `activities` package
_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    """The register's schema cannot be brought up to date safely."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class MigrationState:
    migration: Migration
    applied_at: datetime | None


def load_migrations() -> list[Migration]:
    """Every migration shipped with the engine, in version order."""
    migrations = []
    for entry in (resources.files("activities") / MIGRATIONS_FOLDER).iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            migrations.append(
                Migration(int(match["version"]), match["name"], entry.read_text(encoding="utf-8"))
            )
    migrations.sort(key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version number: {versions}")
    return migrations


_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


async def _applied(connection: Connection) -> dict[int, asyncpg.Record]:
    exists = await connection.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await connection.fetch(
        "SELECT version, name, checksum, applied_at FROM schema_migrations"
    )
    return {row["version"]: row for row in rows}


def _check_unchanged(migrations: list[Migration], applied: dict[int, asyncpg.Record]) -> None:
    known = {m.version for m in migrations}
    for migration in migrations:
        row = applied.get(migration.version)
        if row is not None and row["checksum"] != migration.checksum:
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name} was edited after it was "
                "applied; add a new migration instead of changing an applied one"
            )
    unknown = sorted(set(applied) - known)
    if unknown:
        raise MigrationError(
            f"the register has migrations this version does not know ({unknown}); "
            "it was migrated by a newer release"
        )


async def apply_migrations(
    connection: Connection, migrations: list[Migration] | None = None
) -> list[Migration]:
    """Bring the register up to date; return the migrations this call applied."""
    migrations = load_migrations() if migrations is None else migrations
    await connection.execute("SELECT pg_advisory_lock($1)", _ADVISORY_LOCK_KEY)
    try:
        await connection.execute(_CREATE_LEDGER)
        applied = await _applied(connection)
        _check_unchanged(migrations, applied)
        newly_applied = []
        for migration in migrations:
            if migration.version in applied:
                continue
            async with connection.transaction():
                await connection.execute(migration.sql)
                await connection.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            newly_applied.append(migration)
        return newly_applied
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", _ADVISORY_LOCK_KEY)


async def migration_states(connection: Connection) -> list[MigrationState]:
    """Every known migration with when it was applied (None when pending)."""
    applied = await _applied(connection)
    return [
        MigrationState(m, applied[m.version]["applied_at"] if m.version in applied else None)
        for m in load_migrations()
    ]
