"""The worker's probes on HEALTH_PORT: `GET /healthz` (liveness) and `GET /readyz` (readiness).

Both are answered from the worker's own event loop, so an answer at all shows the loop is turning;
a loop blocked by a stuck coroutine answers nothing and the probe times out, which is what a
liveness probe should see.

- /healthz: 200 while the worker has not died; 503 once the worker stopped on its own (a fatal
  error; the process exits right after). Waiting for migrations, losing the register or shutting
  down gracefully are not reasons to restart the process, so they leave it at 200.
- /readyz: 200 only when the worker is polling its task queue, the register answers `SELECT 1`
  within REGISTER_CHECK_SECONDS on a fresh connection, and the register has every migration of
  this release; 503 as soon as shutdown begins (the moment the stop event is set, whatever the
  worker was doing). A 503 names the failing checks. The whole register check, closing its
  connection included, is bounded by REGISTER_CHECK_SECONDS, so a probe never takes longer.

The bodies are JSON and say nothing secret: no URL, no credential, no payload; an error is named by
its kind only (its message goes to the log, once per change of readiness).
"""

import asyncio
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from aiohttp import web
from temporalio.worker import Worker

from workers.errors import StartupError
from workers.register import pending_migrations

log = structlog.get_logger(__name__)

# Kubernetes gives a probe one second by default: set the probe's timeoutSeconds above this.
# It bounds the whole readiness answer: connecting, both queries and closing the connection.
REGISTER_CHECK_SECONDS = 2.0

Check = dict[str, Any]


@dataclass(frozen=True)
class Probe:
    ok: bool
    body: dict[str, Any]

    @property
    def status(self) -> int:
        return 200 if self.ok else 503


class WorkerHealth:
    """What the probes report. `serve()` tells it when the worker starts and when shutdown begins;
    the register is checked live on every readiness probe. With `stop` (the event that stops the
    worker), readiness turns 503 the moment it is set, even before `serve()` has reacted."""

    def __init__(
        self,
        database_url: str,
        *,
        register_check_seconds: float = REGISTER_CHECK_SECONDS,
        stop: asyncio.Event | None = None,
    ) -> None:
        self._database_url = database_url
        self._register_check_seconds = register_check_seconds
        self._stop = stop
        self._worker: Worker | None = None
        self._running: asyncio.Task[None] | None = None
        self._shutting_down = False
        self._last_failing: list[str] | None = None
        self._register_error: str | None = None  # the last register error's message, for the log

    def worker_started(self, worker: Worker, running: "asyncio.Task[None]") -> None:
        self._worker, self._running = worker, running

    def shutdown_began(self) -> None:
        self._shutting_down = True

    @property
    def _leaving(self) -> bool:
        return self._shutting_down or (self._stop is not None and self._stop.is_set())

    # --- liveness -------------------------------------------------------------------------

    def liveness(self) -> Probe:
        running = self._running
        if running is not None and running.done() and not self._leaving:
            error = None if running.cancelled() else running.exception()
            reason = (
                f"the worker stopped: {type(error).__name__}" if error else "the worker stopped"
            )
            return Probe(False, {"status": "dead", "reason": reason})
        return Probe(True, {"status": "alive"})

    # --- readiness ------------------------------------------------------------------------

    async def readiness(self) -> Probe:
        checks: dict[str, Check] = {}
        if not self._leaving:
            checks["worker"] = self._worker_check()
            checks["register"], checks["schema"] = await self._register_checks()
        if self._leaving:
            # Nothing else matters once the worker is leaving, even if shutdown began while the
            # register was being checked: a probe must never answer ready after that.
            checks = {"shutdown": {"ok": False, "detail": "the worker is shutting down"}}
        failing = [name for name, check in checks.items() if not check["ok"]]
        self._log_change(failing, checks)
        body: dict[str, Any] = {"status": "not ready" if failing else "ready", "checks": checks}
        if failing:
            body["failing"] = failing
        return Probe(not failing, body)

    def _worker_check(self) -> Check:
        worker, running = self._worker, self._running
        if worker is None or running is None:
            return {"ok": False, "detail": "the worker has not started polling"}
        if running.done():
            return {"ok": False, "detail": "the worker stopped"}
        if not worker.is_running:  # started, still validating against Temporal
            return {"ok": False, "detail": "the worker is starting"}
        return {"ok": True}

    async def _register_checks(self) -> tuple[Check, Check]:
        """`SELECT 1` and the schema, on a connection of their own: the activities' pool may be
        busy under load, which says nothing about whether the register answers. Connecting, the
        queries and the graceful close all share one deadline; a connection still open when it
        passes (or after any failure) is dropped at once, so the probe never waits longer."""
        not_checked: Check = {"ok": False, "detail": "not checked: the register did not answer"}
        connection: asyncpg.Connection | None = None
        try:
            async with asyncio.timeout(self._register_check_seconds):
                connection = await asyncpg.connect(self._database_url)
                await connection.fetchval("SELECT 1")
                pending = await pending_migrations(connection)
                await connection.close()
        except TimeoutError:
            self._register_error = "timed out"
            register = {
                "ok": False,
                "detail": f"no answer within {self._register_check_seconds:g} s",
            }
            return register, not_checked
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            self._register_error = str(error) or type(error).__name__
            return {"ok": False, "detail": f"unreachable ({type(error).__name__})"}, not_checked
        except Exception as error:
            # Anything else (a protocol error, a broken migration file) must still answer the
            # probe with JSON, not a 500 and a traceback per probe; the log says what it was.
            self._register_error = f"{type(error).__name__}: {error}"
            return {"ok": False, "detail": f"check failed ({type(error).__name__})"}, not_checked
        finally:
            if connection is not None and not connection.is_closed():
                connection.terminate()
        self._register_error = None
        if pending:
            schema: Check = {
                "ok": False,
                "detail": f"{len(pending)} migration(s) pending; run `remediation db migrate`",
                "pending": pending,
            }
        else:
            schema = {"ok": True}
        return {"ok": True}, schema

    def _log_change(self, failing: list[str], checks: dict[str, Check]) -> None:
        """One line when readiness changes, not one per probe."""
        if failing == self._last_failing:
            return
        self._last_failing = failing
        if failing:
            details = {name: checks[name].get("detail") for name in failing}
            if "register" in failing and self._register_error is not None:
                details["register_error"] = self._register_error
            log.warning("worker not ready", failing=failing, **details)
        else:
            log.info("worker ready")


def build_app(health: WorkerHealth) -> web.Application:
    def answer(probe: Probe) -> web.Response:
        # Probes must see the state of now, never a cached answer from a proxy.
        return web.json_response(
            probe.body, status=probe.status, headers={"Cache-Control": "no-store"}
        )

    async def healthz(_: web.Request) -> web.Response:
        return answer(health.liveness())

    async def readyz(_: web.Request) -> web.Response:
        return answer(await health.readiness())

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def start_health_server(health: WorkerHealth, host: str, port: int) -> web.AppRunner:
    """Serve the probes in the running event loop; the caller calls `cleanup()` on the runner."""
    runner = web.AppRunner(build_app(health), access_log=None)  # probes would flood the log
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as error:
        await runner.cleanup()
        raise StartupError(
            f"the health endpoint cannot listen on {host}:{port} ({error.strerror or error}); "
            "choose another HEALTH_PORT or OPS_BIND_HOST"
        ) from None
    return runner
