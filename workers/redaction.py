"""URLs made safe to print and log: a module of its own, so that the settings, which every command
reads, redact without importing the register's driver (asyncpg)."""

from urllib.parse import urlsplit, urlunsplit


def redact_url(database_url: str) -> str:
    """The URL with its password replaced, safe to print and log."""
    parts = urlsplit(database_url)
    if parts.password is None:
        return database_url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
