"""(f) How long the command line takes to answer: whole `remediation` processes against the
benchmark's own stack, beside `temporal workflow describe` on the same incident.

Each command is run once untimed (so the first run's cold file cache and bytecode compilation
are not counted), then `RUNS` times; each time is the whole process, from its start to its exit,
as an operator waits for it. The commands get only the environment that points them at the
benchmark's stack, never the user's engine configuration or a running `remediation up`.
"""

import asyncio
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks.load import Portfolio, benchmark_intake
from benchmarks.stack import BenchmarkStack
from workers import incident_client as incidents
from workers.devstack import examples
from workers.devstack.dev_server import installed_binary, temporal_cli

RUNS = 5
# What the commands keep of our environment: where programs and home are, nothing else.
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")


@dataclass(frozen=True)
class CommandTimes:
    """Seconds of wall time of each run, by command (`help`, `status`, `decide`, `describe`)."""

    seconds: dict[str, list[float]]
    incident_id: str  # the incident status and describe read


def cli_environment(stack: BenchmarkStack) -> dict[str, str]:
    """The environment of a `remediation` command aimed at the benchmark's stack: its Temporal,
    namespace and task queue, its key ring, and its directory as the data directory (so no
    `remediation up` of the user's is found there)."""
    variables = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    settings = stack.settings
    return variables | {
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "TASK_QUEUE": settings.task_queue,
        "REMEDIATION_KEY_FILE": str(stack.root / "keys.json"),
        "REMEDIATION_DATA_DIR": str(stack.root),
    }


async def timed_output(argv: Sequence[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds of one whole process, and what it wrote on stdout; a command that fails
    fails the measurement."""
    began = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    seconds = time.perf_counter() - began
    if process.returncode != 0:
        problem = (err or out).decode(errors="replace").strip().splitlines()
        raise RuntimeError(
            f"{' '.join(argv[:3])} exited {process.returncode}: {problem[-1] if problem else ''}"
        )
    return seconds, out.decode(errors="replace")


async def _timed(argv: Sequence[str], env: dict[str, str]) -> float:
    """Wall seconds of one whole process; a command that fails fails the measurement."""
    seconds, _ = await timed_output(argv, env)
    return seconds


async def measure_commands(stack: BenchmarkStack, portfolio: Portfolio) -> CommandTimes:
    """`remediation --help`, `status` of an open incident, `decide` (an acknowledge, on a fresh
    incident each run, so each is a real accepted decision) and `temporal workflow describe`."""
    client = stack.require_client()
    queue = stack.settings.task_queue
    env = cli_environment(stack)
    remediation = str(installed_binary("remediation", "the `remediation` command is not installed"))
    temporal = str(temporal_cli())

    async def open_one() -> str:
        intake = benchmark_intake(portfolio.take_number())
        return await incidents.open_incident(client, intake, task_queue=queue)

    # One incident to read, and one fresh incident per decide run (and its warm-up).
    incident_id = await open_one()
    to_decide = [await open_one() for _ in range(RUNS + 1)]
    # Each is answered once its first task has run: the commands time an open incident, not
    # the incident's start.
    for each in [incident_id, *to_decide]:
        await incidents.status(client, each)
    payload = stack.root / "acknowledge.json"
    payload.write_text(json.dumps(examples.acknowledge("medium")), encoding="utf-8")

    commands: dict[str, Callable[[], list[str]]] = {
        "help": lambda: [remediation, "--help"],
        "status": lambda: [remediation, "status", incident_id],
        "decide": lambda: [remediation, "decide", to_decide.pop(), "acknowledge", str(payload)],
        "describe": lambda: [
            temporal,
            "workflow",
            "describe",
            "-w",
            incident_id,
            "--address",
            stack.settings.temporal_address,
            "--namespace",
            stack.settings.temporal_namespace,
        ],
    }
    seconds: dict[str, list[float]] = {}
    for name, argv in commands.items():
        await _timed(argv(), env)  # warm-up, untimed
        seconds[name] = [await _timed(argv(), env) for _ in range(RUNS)]
    return CommandTimes(seconds, incident_id)
