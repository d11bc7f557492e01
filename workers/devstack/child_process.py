"""Server processes owned by `remediation up`: each in its own session, logging to a file, and
killed by the kernel if `up` itself dies, so no server is ever left orphaned."""

import asyncio
import ctypes
import os
import pwd
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent(death_signal: int, parent_pid: int) -> Callable[[], None]:
    def in_child() -> None:
        # Runs after fork (and after any user switch), before exec.
        _libc.prctl(_PR_SET_PDEATHSIG, death_signal)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return in_child


def run_as(user: str | None) -> dict[str, Any]:
    """subprocess arguments that switch fully to `user`: uid, primary group and no extra groups.

    Switching only the uid would keep root's groups, and group permissions would then shadow the
    "other" permissions the server user relies on.
    """
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


class ChildProcess:
    """One server process with a polite stop signal and a hard deadline."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        stop_signal: int = signal.SIGTERM,
        user: str | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.stop_signal = stop_signal
        self.user = user
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def returncode(self) -> int | None:
        return self._process.returncode if self._process else None

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                # Its own session: a Ctrl-C in the terminal reaches only `up`, which then stops
                # the servers in order (worker first, database last).
                start_new_session=True,
                preexec_fn=_die_with_parent(self.stop_signal, os.getpid()),
                **run_as(self.user),
            )

    async def wait(self) -> int:
        assert self._process is not None
        return await self._process.wait()

    async def stop(self, timeout: float) -> None:
        """Ask the process to stop; kill it if it has not stopped within `timeout` seconds."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.send_signal(self.stop_signal)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def kill(self) -> None:
        """SIGKILL, no chance to shut down (the benchmark's soak kills workers so)."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.kill()
        await process.wait()

    def log_tail(self, lines: int = 5) -> str:
        """The last lines the process wrote, to explain a failure."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])
