"""All I/O of the engine: activity classes over the case register (asyncpg), notifications and
reports, and their SQL (migrations/). The worker injects what they need; nothing here imports it."""
