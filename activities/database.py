"""The connection pool to the case register, owned by the worker and injected into activities."""

import json

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A connection taken straight from asyncpg.connect() or borrowed from a pool.
Connection = asyncpg.Connection | PoolConnectionProxy
# A generous connect timeout: a register that takes longer than this to answer is treated as down.
CONNECT_TIMEOUT_SECONDS = 10.0
# What a register that is down, restarting or out of reach raises. InternalClientError is one of
# them: a connection that broke mid-query can fail its reset when it goes back to the pool, and
# that error then takes the place of the broken connection's own.
REGISTER_UNAVAILABLE: tuple[type[Exception], ...] = (
    TimeoutError,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


async def _register_codecs(connection: asyncpg.Connection) -> None:
    for json_type in ("json", "jsonb"):
        await connection.set_type_codec(
            json_type, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def open_pool(database_url: str, *, max_size: int = 10) -> asyncpg.Pool:
    """Open a pool whose connections read and write JSON columns as Python values."""
    return await asyncpg.create_pool(
        database_url,
        min_size=1,
        max_size=max_size,
        timeout=CONNECT_TIMEOUT_SECONDS,
        init=_register_codecs,
    )
