"""The migration runner: records what it applied, one transaction each, safe when run at once."""

import asyncio

import asyncpg
import pytest

from tests.conftest import CreateDatabase
from workers.migrations import Migration, MigrationError, apply_migrations, load_migrations


async def _ledger(url: str) -> list[int]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT version FROM schema_migrations ORDER BY version")
    finally:
        await connection.close()
    return [row["version"] for row in rows]


async def _apply(url: str, migrations: list[Migration] | None = None) -> list[Migration]:
    connection = await asyncpg.connect(url)
    try:
        return await apply_migrations(connection, migrations)
    finally:
        await connection.close()


def test_shipped_migrations_are_numbered_from_one_without_gaps() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))


async def test_applying_twice_applies_nothing_the_second_time(
    create_database: CreateDatabase,
) -> None:
    url = await create_database()
    first = await _apply(url)
    second = await _apply(url)
    assert [m.version for m in first] == [m.version for m in load_migrations()]
    assert second == []
    assert await _ledger(url) == [m.version for m in load_migrations()]


# Each of these fails if it runs twice (CREATE TABLE without IF NOT EXISTS) and is slow enough
# that unserialised runners would overlap.
_SLOW_MIGRATIONS = [
    Migration(1, "first", "SELECT pg_sleep(0.2); CREATE TABLE first_table (id int);"),
    Migration(2, "second", "SELECT pg_sleep(0.2); CREATE TABLE second_table (id int);"),
    Migration(3, "third", "CREATE TABLE third_table (id int); SELECT pg_sleep(0.2);"),
]


async def test_concurrent_runners_apply_each_migration_exactly_once(
    create_database: CreateDatabase,
) -> None:
    url = await create_database()
    results = await asyncio.gather(*(_apply(url, _SLOW_MIGRATIONS) for _ in range(6)))
    applied_versions = sorted(m.version for result in results for m in result)
    assert applied_versions == [1, 2, 3]
    assert await _ledger(url) == [1, 2, 3]


async def test_a_failing_migration_leaves_no_trace(create_database: CreateDatabase) -> None:
    url = await create_database()
    broken = [
        Migration(1, "good", "CREATE TABLE good_table (id int);"),
        Migration(2, "bad", "CREATE TABLE half_done (id int); SELECT * FROM no_such_table;"),
    ]
    with pytest.raises(asyncpg.UndefinedTableError):
        await _apply(url, broken)
    assert await _ledger(url) == [1]
    connection = await asyncpg.connect(url)
    try:
        assert await connection.fetchval("SELECT to_regclass('half_done')") is None
    finally:
        await connection.close()


async def test_an_edited_migration_is_refused(create_database: CreateDatabase) -> None:
    url = await create_database()
    await _apply(url, [Migration(1, "original", "CREATE TABLE t (id int);")])
    with pytest.raises(MigrationError, match="edited after it was applied"):
        await _apply(url, [Migration(1, "original", "CREATE TABLE t (id bigint);")])


async def test_a_register_migrated_by_a_newer_release_is_refused(
    create_database: CreateDatabase,
) -> None:
    url = await create_database()
    await _apply(url, [Migration(1, "a", "SELECT 1;"), Migration(2, "b", "SELECT 1;")])
    with pytest.raises(MigrationError, match="newer release"):
        await _apply(url, [Migration(1, "a", "SELECT 1;")])
