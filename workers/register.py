"""Opening the case register at start-up: reachable, migrated, and a clear error when not."""

import asyncio

import asyncpg
import structlog

from activities.database import (
    CONNECT_TIMEOUT_SECONDS,
    REGISTER_UNAVAILABLE,
    Connection,
    open_pool,
)
from workers.errors import StartupError
from workers.migrations import MigrationError, apply_migrations, migration_states
from workers.redaction import redact_url

log = structlog.get_logger(__name__)


def _unreachable(database_url: str, error: BaseException) -> StartupError:
    reason = str(error) or type(error).__name__
    return StartupError(
        f"cannot reach the case register at {redact_url(database_url)}: {reason}. "
        "Check DATABASE_URL (or unset it to use the embedded PostgreSQL of `remediation up`)."
    )


async def open_register(database_url: str, *, max_size: int = 10) -> asyncpg.Pool:
    """Open the pool; an unreachable server or bad credentials become a StartupError."""
    try:
        return await open_pool(database_url, max_size=max_size)
    except REGISTER_UNAVAILABLE as error:
        raise _unreachable(database_url, error) from None


async def migrate(pool: asyncpg.Pool) -> list[str]:
    """Apply pending migrations; return the names applied now."""
    try:
        async with pool.acquire() as connection:
            applied = await apply_migrations(connection)
    except MigrationError as error:
        raise StartupError(f"cannot migrate the case register: {error}") from None
    names = [f"{m.version:04d}_{m.name}" for m in applied]
    if names:
        log.info("register migrated", applied=names)
    return names


async def pending_migrations(connection: Connection) -> list[str]:
    """The migrations this release ships that the register has not applied, oldest first."""
    return [
        f"{state.migration.version:04d}_{state.migration.name}"
        for state in await migration_states(connection)
        if state.applied_at is None
    ]


async def wait_for_migrations(
    pool: asyncpg.Pool, stop: asyncio.Event, *, poll_seconds: float
) -> bool:
    """With MIGRATE_ON_START=false: wait until the register has every migration of this release.

    A worker on an older schema would fail its activities; one that exits instead would
    crash-loop until the release's migration job has run. So it waits, says so on every look,
    and keeps waiting through a register that cannot be read yet. Returns False when `stop` was
    set first (the worker then never polls).
    """
    waited = False
    while True:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS), pool.acquire() as connection:
                pending = await pending_migrations(connection)
        except REGISTER_UNAVAILABLE as error:
            log.warning(
                "cannot read the register's migrations; trying again",
                error=str(error) or type(error).__name__,
                retry_in_seconds=poll_seconds,
            )
        else:
            if not pending:
                if waited:
                    log.info("register migrated; the worker starts")
                return True
            log.warning(
                "register schema is behind this release; waiting for `remediation db migrate` "
                "(MIGRATE_ON_START is false)",
                pending=pending,
                retry_in_seconds=poll_seconds,
            )
        waited = True
        try:
            await asyncio.wait_for(stop.wait(), poll_seconds)
        except TimeoutError:
            continue
        return False


async def check_reachable(database_url: str) -> None:
    """Connect once and disconnect, so a bad DATABASE_URL fails before anything else starts."""
    try:
        connection = await asyncpg.connect(database_url, timeout=CONNECT_TIMEOUT_SECONDS)
    except REGISTER_UNAVAILABLE as error:
        raise _unreachable(database_url, error) from None
    await connection.close()


async def migrate_database(database_url: str) -> list[str]:
    """Apply pending migrations over a single short-lived connection."""
    pool = await open_register(database_url, max_size=1)
    try:
        return await migrate(pool)
    finally:
        await pool.close()


async def migration_report(database_url: str) -> list[dict[str, object]]:
    """Every known migration and when it was applied, for `remediation db status`."""
    pool = await open_register(database_url, max_size=1)
    try:
        async with pool.acquire() as connection:
            states = await migration_states(connection)
    finally:
        await pool.close()
    return [
        {
            "version": f"{state.migration.version:04d}",
            "name": state.migration.name,
            "applied_at": state.applied_at.isoformat() if state.applied_at else None,
        }
        for state in states
    ]
