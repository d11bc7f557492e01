"""All I/O of the engine: the case register (asyncpg), notifications, reports."""
