"""The `remediation` command line against the real stack: dev server, worker, register.

Each command runs in a subprocess, as an operator would run it, so that its own `asyncio.run` does
not meet the test's event loop (which also runs the engine's worker).
"""

import asyncio
import json
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from schemas.decisions import DecisionKind
from schemas.facts import FactKind
from schemas.history import TimelineEvent
from schemas.incident import IncidentStatus
from schemas.intake import Intake
from schemas.vocabulary import Step
from tests.conftest import Cli, Engine, free_port
from tests.waiting import eventually
from workers import incident_client as incidents
from workers.cli import app
from workers.cli.main import _print_status
from workers.devstack import examples
from workers.running_stack import STACK_FILE, RunningStack


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


async def _open(engine: Engine, **changes: Any) -> str:
    intake = Intake.model_validate(examples.intake(**changes))
    return await incidents.open_incident(engine.client, intake, task_queue=engine.task_queue)


async def _at_response_step(engine: Engine) -> str:
    incident_id = await _open(engine, case_owner="owner.amara")
    await incidents.decide(
        engine.client, incident_id, DecisionKind.ACKNOWLEDGE, examples.acknowledge()
    )
    await incidents.decide(
        engine.client, incident_id, DecisionKind.VERIFICATION, examples.verification()
    )
    return incident_id


# --- open --------------------------------------------------------------------------------------


async def test_open_prints_the_id_and_a_reference_never_opens_two_incidents(cli: Cli) -> None:
    intake = examples.intake()
    expected = f"incident-{intake['external_reference']}"

    opened = await cli("open", "-", stdin=json.dumps(intake))
    assert opened.code == 0, opened.stderr
    assert opened.stdout.strip() == expected

    again, again_json = await asyncio.gather(
        cli("open", "-", stdin=json.dumps(intake)),
        cli("open", "--json", "-", stdin=json.dumps(intake)),
    )
    assert again.code == 1
    assert again.stdout == ""
    assert _one_line(again.stderr).endswith(
        f"an incident already exists for this reference: {expected}"
    )
    assert again_json.code == 1
    assert again_json.json == {"incident_id": expected, "created": False}


async def test_open_from_a_file_with_json_output(cli: Cli, tmp_path: Path) -> None:
    intake = examples.intake()
    path = tmp_path / "intake.json"
    path.write_text(json.dumps(intake))

    opened = await cli("open", str(path), "--json")

    assert opened.code == 0, opened.stderr
    assert opened.json == {
        "incident_id": f"incident-{intake['external_reference']}",
        "created": True,
    }


async def test_an_invalid_intake_is_refused_with_field_paths_and_nothing_starts(
    cli: Cli, engine: Engine
) -> None:
    intake = examples.intake(location={**examples.intake()["location"], "country": "ZZ"})
    del intake["channel"]

    refused, not_json, missing = await asyncio.gather(
        cli("open", "-", stdin=json.dumps(intake)),
        cli("open", "-", stdin="{not json"),
        cli("open", "/nonexistent/intake.json"),
    )

    assert refused.code == 2
    problems = refused.stderr.splitlines()
    assert any(line.strip().startswith("location.country: ") for line in problems)
    assert any(line.strip() == "channel: Field required" for line in problems)
    assert not any("Traceback" in line for line in problems)
    assert not await _exists(engine, f"incident-{intake['external_reference']}")
    assert not_json.code == 2
    assert "Invalid JSON" in not_json.stderr
    assert missing.code == 2
    assert "cannot read /nonexistent/intake.json" in _one_line(missing.stderr)


async def _exists(engine: Engine, incident_id: str) -> bool:
    from temporalio.service import RPCError

    try:
        await engine.client.get_workflow_handle(incident_id).describe()
    except RPCError:
        return False
    return True


# --- decide, note ------------------------------------------------------------------------------


async def test_decide_acknowledge_with_the_actor_from_the_options(cli: Cli, engine: Engine) -> None:
    incident_id = await _open(engine)
    payload = examples.acknowledge("high", reason="Migrants among the affected.")
    del payload["actor"]

    decided = await cli(
        "decide", incident_id, "acknowledge", "-", "--as", "owner.lucas", "--role", "case_owner",
        stdin=json.dumps(payload),
    )  # fmt: skip

    assert decided.code == 0, decided.stderr
    assert "acknowledged by owner.lucas" in decided.stdout
    status = await incidents.status(engine.client, incident_id)
    assert status.case_owner == "owner.lucas"
    assert status.severity == "high"
    assert status.severity_confirmed


async def test_a_refused_decision_exits_1_with_the_validators_message(
    cli: Cli, engine: Engine
) -> None:
    incident_id = await _open(engine)

    refused, refused_json = await asyncio.gather(
        cli("decide", incident_id, "verification", "-", stdin=json.dumps(examples.verification())),
        cli(
            "decide", incident_id, "verification", "-", "--json",
            stdin=json.dumps(examples.verification()),
        ),
    )  # fmt: skip

    assert refused.code == 1
    assert _one_line(refused.stderr) == (
        "refused: the case must be acknowledged before it is verified"
    )
    assert refused_json.code == 1
    assert refused_json.json["refused"] == "the case must be acknowledged before it is verified"
    status = await incidents.status(engine.client, incident_id)
    assert status.step == Step.VERIFICATION
    assert not status.severity_confirmed


async def test_as_and_role_override_the_payloads_actor_and_four_eyes_holds(
    cli: Cli, engine: Engine
) -> None:
    incident_id = await _at_response_step(engine)
    status = await incidents.status(engine.client, incident_id)
    assert status.proposed_response_level is not None
    submitted = await cli(
        "decide", incident_id, "response", "-",
        stdin=json.dumps(examples.response(status.proposed_response_level)),
    )  # fmt: skip
    assert submitted.code == 0, submitted.stderr
    approval_id = "response-1"
    assert f"Approval id: {approval_id}." in submitted.stdout

    # The payload names the approver, but --as makes the author approve their own decision.
    self_approval = await cli(
        "decide", incident_id, "approve", "-", "--as", "owner.amara", "--role", "approver",
        stdin=json.dumps(examples.approve(approval_id)),
    )  # fmt: skip
    assert self_approval.code == 1
    assert _one_line(self_approval.stderr).startswith("refused: owner.amara")
    assert "four eyes" in self_approval.stderr

    # --role alone replaces the roles of the payload's actor.
    no_role = await cli(
        "decide", incident_id, "approve", "-", "--role", "verifier",
        stdin=json.dumps(examples.approve(approval_id)),
    )  # fmt: skip
    assert no_role.code == 1
    assert no_role.stderr.startswith("refused: ")

    approved = await cli(
        "decide", incident_id, "approve", "-",
        stdin=json.dumps(examples.approve(approval_id)),
    )  # fmt: skip
    assert approved.code == 0, approved.stderr
    assert f"{approval_id} approved" in approved.stdout
    assert "Approval id" not in approved.stdout
    assert (await incidents.status(engine.client, incident_id)).step == Step.ACTION_PLAN


async def test_a_payload_is_checked_before_it_is_sent(cli: Cli, engine: Engine) -> None:
    incident_id = await _open(engine)

    wrong, no_actor, not_object = await asyncio.gather(
        cli(
            "decide",
            incident_id,
            "acknowledge",
            "-",
            stdin=json.dumps(examples.acknowledge("huge")),
        ),
        cli("decide", incident_id, "acknowledge", "-", stdin=json.dumps({"severity": "low"})),
        cli("decide", incident_id, "acknowledge", "-", stdin="[]"),
    )

    assert wrong.code == 2
    assert any(line.strip().startswith("severity: ") for line in wrong.stderr.splitlines())
    assert no_actor.code == 2
    assert "actor: Field required" in no_actor.stderr
    assert not_object.code == 2
    assert "must hold a JSON object" in not_object.stderr
    assert len(await incidents.timeline(engine.client, incident_id)) == 1


async def test_signals_and_notes_land_in_the_timeline(cli: Cli, engine: Engine) -> None:
    incident_id = await _open(engine)

    sent, noted = await asyncio.gather(
        cli(
            "decide", incident_id, "verification", "-", "--signal",
            stdin=json.dumps(examples.verification()),
        ),
        cli("note", incident_id, "Called the partner.", "--as", "owner.amara"),
    )  # fmt: skip

    assert sent.code == 0, sent.stderr
    assert "as a signal" in sent.stdout
    assert noted.code == 0, noted.stderr

    async def both_recorded() -> bool:
        kinds = {(e.kind, e.outcome) for e in await incidents.timeline(engine.client, incident_id)}
        return {("verification", "refused"), ("note", "recorded")} <= kinds

    await eventually(both_recorded, "the signal and the note are in the timeline", interval=0.2)


# --- status, timeline, list --------------------------------------------------------------------


async def test_status_readable_and_as_json(cli: Cli, engine: Engine) -> None:
    incident_id = await _open(engine, case_owner="owner.amara")

    readable, as_json = await asyncio.gather(
        cli("status", incident_id), cli("status", incident_id, "--json")
    )

    assert readable.code == 0, readable.stderr
    assert "Step 1 of 6: verification" in readable.stdout
    assert "medium (provisional)" in readable.stdout
    assert "owner.amara" in readable.stdout
    assert "Awaiting decisions" in readable.stdout
    assert "acknowledge" in readable.stdout
    assert "Deadlines" in readable.stdout
    assert as_json.code == 0, as_json.stderr
    status = IncidentStatus.model_validate_json(as_json.stdout)
    assert status.incident_id == incident_id
    assert status.pending_decisions[0].kind == DecisionKind.ACKNOWLEDGE


async def test_status_shows_pending_approvals(cli: Cli, engine: Engine) -> None:
    incident_id = await _at_response_step(engine)
    status = await incidents.status(engine.client, incident_id)
    assert status.proposed_response_level is not None
    await incidents.decide(
        engine.client,
        incident_id,
        DecisionKind.RESPONSE,
        examples.response(status.proposed_response_level),
    )

    readable = await cli("status", incident_id)

    assert readable.code == 0, readable.stderr
    assert "Step 2 of 6: response" in readable.stdout
    assert "Awaiting approval" in readable.stdout
    assert "response-1" in readable.stdout


async def test_timeline_lists_every_event(cli: Cli, engine: Engine) -> None:
    incident_id = await _open(engine)
    await incidents.decide(
        engine.client, incident_id, DecisionKind.ACKNOWLEDGE, examples.acknowledge()
    )

    readable, as_json = await asyncio.gather(
        cli("timeline", incident_id), cli("timeline", incident_id, "--json")
    )

    assert readable.code == 0, readable.stderr
    lines = readable.stdout.splitlines()
    assert lines[0].split()[:4] == ["SEQ", "TIME", "(UTC)", "KIND"]
    assert "system_opened" in lines[1]
    assert "acknowledge" in lines[2]
    assert "owner.amara" in lines[2]
    events = [TimelineEvent.model_validate(item) for item in as_json.json]
    assert [event.sequence for event in events] == [1, 2]


async def test_list_filters_by_step(cli: Cli, engine: Engine) -> None:
    at_verification = await _open(engine)
    at_response = await _at_response_step(engine)

    async def listed() -> bool:
        ran = await cli("list", "--step", "response", "--json")
        ids = {item["incident_id"] for item in ran.json}
        return at_response in ids and at_verification not in ids

    await eventually(
        listed, "the response-step filter lists exactly the right incident", interval=0.2
    )
    readable, high = await asyncio.gather(
        cli("list", "--step", "response"), cli("list", "--severity", "high", "--json")
    )
    assert readable.code == 0, readable.stderr
    assert readable.stdout.splitlines()[0].split() == [
        "ID", "STEP", "SEVERITY", "OWNER", "COUNTRY", "OVERDUE", "STARTED",
    ]  # fmt: skip
    row = next(line for line in readable.stdout.splitlines() if line.startswith(at_response))
    assert row.split()[1:6] == ["response", "high", "owner.amara", "CD", "no"]
    listing = next(item for item in high.json if item["incident_id"] == at_response)
    assert listing["step"] == "response"
    assert at_verification not in {item["incident_id"] for item in high.json}


async def test_list_says_when_nothing_matches(cli: Cli) -> None:
    ran = await cli("list", "--overdue", "--step", "closure", "--severity", "low")
    assert ran.code == 0, ran.stderr
    assert ran.stdout.strip() == "No incidents match."


# --- failures ----------------------------------------------------------------------------------


async def test_an_unknown_incident_is_one_line_and_exit_1(cli: Cli) -> None:
    results = await asyncio.gather(
        cli("status", "incident-NOPE-404"),
        cli("timeline", "incident-NOPE-404"),
        cli(
            "decide",
            "incident-NOPE-404",
            "acknowledge",
            "-",
            stdin=json.dumps(examples.acknowledge()),
        ),
        cli("note", "incident-NOPE-404", "Hello", "--as", "owner.amara"),
    )
    for ran in results:
        assert ran.code == 1
        assert _one_line(ran.stderr) == "error: no incident incident-NOPE-404"


async def test_an_ended_incident_takes_no_more_decisions_but_can_be_read(
    cli: Cli, engine: Engine
) -> None:
    incident_id = await _open(engine)
    await incidents.status(engine.client, incident_id)  # it ran: its state can be queried
    await engine.client.get_workflow_handle(incident_id).terminate("test")

    decided, noted, status = await asyncio.gather(
        cli("decide", incident_id, "acknowledge", "-", stdin=json.dumps(examples.acknowledge())),
        cli("note", incident_id, "Hello", "--as", "owner.amara"),
        cli("status", incident_id, "--json"),
    )

    for ran in (decided, noted):
        assert ran.code == 1
        assert _one_line(ran.stderr).startswith(f"error: incident {incident_id} has ended")
    assert status.code == 0, status.stderr
    assert IncidentStatus.model_validate_json(status.stdout).incident_id == incident_id


async def test_an_unreachable_temporal_is_one_line_and_exit_1(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("TEMPORAL_ADDRESS", address)

    ran = await cli("status", "incident-ANY")

    assert ran.code == 1
    assert _one_line(ran.stderr).startswith(f"error: cannot reach Temporal at {address}")


async def test_without_temporal_address_the_running_stack_is_used(
    cli: Cli,
    engine: Engine,
    temporal_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "stack"
    data_dir.mkdir()
    stack = RunningStack(
        pid=os.getpid(),
        ui_url="http://localhost:1",
        temporal_address=temporal_env.client.service_client.config.target_host,
        namespace=temporal_env.client.namespace,
        task_queue=engine.task_queue,
        http_api_url="http://localhost:2",
        database_url="postgresql://postgres@localhost:1/remediation",
        data_dir=str(data_dir),
        logs_dir=str(data_dir / "logs"),
    )
    (data_dir / STACK_FILE).write_text(json.dumps(asdict(stack)))
    monkeypatch.delenv("TEMPORAL_ADDRESS")
    monkeypatch.delenv("TASK_QUEUE")
    monkeypatch.setenv("REMEDIATION_DATA_DIR", str(data_dir))

    opened = await cli("open", "-", stdin=json.dumps(examples.intake()))
    assert opened.code == 0, opened.stderr
    incident_id = opened.stdout.strip()
    # The stack's task queue was used: the engine's worker runs the incident.
    status = await cli("status", incident_id, "--json")
    assert status.code == 0, status.stderr
    assert IncidentStatus.model_validate_json(status.stdout).step == Step.VERIFICATION


# --- rendering, schemas and help (no server needed) ----------------------------------------


def test_status_renders_every_section(capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)
    status = IncidentStatus.model_validate(
        {
            "incident_id": "incident-GRV-1",
            "external_reference": "GRV-1",
            "step": "implementation",
            "step_number": 4,
            "case_status": "active",
            "severity": "high",
            "severity_confirmed": True,
            "proposed_response_level": "company_led",
            "response_level": "company_led",
            "relationship": "contribute",
            "business_relationship": "temporary_suspension",
            "case_owner": "owner.amara",
            "verification_rounds": 1,
            "pending_decisions": [
                {
                    "kind": "check_in",
                    "expected_role": "case_owner",
                    "expected_actor": "owner.amara",
                    "milestone": "check_in-1",
                    "due_at": (now + timedelta(days=7)).isoformat(),
                }
            ],
            "pending_approvals": [
                {
                    "approval_id": "amend_plan-1",
                    "kind": "amend_plan",
                    "author": "owner.amara",
                    "requested_at": now.isoformat(),
                    "due_at": None,
                    "summary": "add 1 action",
                }
            ],
            "returned": [
                {
                    "approval_id": "action_plan-1",
                    "kind": "action_plan",
                    "author": "owner.amara",
                    "rejected_by": "approver.sofia",
                    "rejected_at": now.isoformat(),
                    "comments": "Add a livelihood action.",
                }
            ],
            "actions": [
                {
                    "action_id": "A1",
                    "category": "remedy",
                    "action_type": "restitution",
                    "status": "in_progress",
                    "progress_percent": 40,
                    "due_date": "2027-01-31",
                    "implementing_partner": "partner.ngo-horizon",
                }
            ],
            "actions_by_status": {"in_progress": 1},
            "deadlines": [
                {
                    "milestone": "action_due-A1",
                    "kind": "action_due",
                    "due_at": (now - timedelta(days=1)).isoformat(),
                    "window": "P30D",
                    "extended": True,
                }
            ],
            "escalations": [
                {
                    "milestone": "action_due-A1",
                    "level": 2,
                    "due_at": (now - timedelta(days=1)).isoformat(),
                    "overdue_since": (now - timedelta(days=1)).isoformat(),
                    "notified": ["owner.amara", "human-rights-lead"],
                }
            ],
            "escalation_level": 2,
            "related_incidents": ["incident-GRV-0"],
            "opened_at": now.isoformat(),
            "closed_at": None,
            "closure_reason": None,
            "policy_version": "default-1",
        }
    )

    _print_status(status)

    out = capsys.readouterr().out
    assert "Step 4 of 6: implementation" in out
    assert "Inconclusive rounds" in out
    assert "incident-GRV-0" in out
    for section in ("Awaiting decisions", "Awaiting approval", "Returned for revision"):
        assert section in out
    assert "Actions (1 in_progress)" in out
    assert "restitution" in out and "40%" in out and "partner.ngo-horizon" in out
    deadline = next(line for line in out.splitlines() if "action_due-A1" in line)
    assert deadline.rstrip().endswith("OVERDUE, extended")
    assert "Add a livelihood action." in out
    assert "Escalated (level 2)" in out
    # The two relationships, each by its name.
    assert re.search(r"^  Relationship to the harm +contribute$", out, re.MULTILINE)
    assert re.search(r"^  Business relationship +temporary_suspension$", out, re.MULTILINE)
    escalated = [line for line in out.splitlines() if "action_due-A1" in line][-1]
    assert "L2" in escalated and "owner.amara, human-rights-lead" in escalated


def test_schemas_writes_every_message_and_an_index(tmp_path: Path) -> None:
    out = tmp_path / "contract"

    ran = CliRunner().invoke(app, ["schemas", "--out", str(out)])

    assert ran.exit_code == 0, ran.output
    index = json.loads((out / "index.json").read_text())
    files = {entry["file"]: entry for entry in index["files"]}
    assert set(files) | {"index.json"} == {path.name for path in out.iterdir()}
    for name in files:
        schema = json.loads((out / name).read_text())
        assert schema.get("type") in ("object", "array"), name
    for kind in DecisionKind:
        entry = files[f"decision.{kind}.json"]
        assert (entry["message"], entry["kind"]) == (kind, "update+signal")
        assert entry["description"]
    for fact in FactKind:
        assert files[f"fact.{fact}.json"]["kind"] == "signal"
    assert files["intake.json"]["kind"] == "start"
    assert files["incident_input.json"]["kind"] == "start"
    assert files["query.status.json"]["kind"] == "query"
    assert files["query.timeline.json"]["kind"] == "query"
    assert files["update_result.json"]["kind"] == "result"
    intake = json.loads((out / "intake.json").read_text())
    assert "external_reference" in intake["required"]
    assert f"Wrote {len(files)} schemas" in ran.output


def test_decide_help_lists_every_decision() -> None:
    ran = CliRunner().invoke(app, ["decide", "--help"])

    assert ran.exit_code == 0
    for kind in DecisionKind:
        assert kind in ran.output


def test_an_unknown_decision_is_a_usage_error() -> None:
    ran = CliRunner().invoke(app, ["decide", "incident-X", "approve_everything", "-"])

    assert ran.exit_code == 2
    assert "approve_everything" in ran.output


# Help is read far more often than anything is sent: it must not wait for the SDK, the register's
# driver, the logging or the contract's models (a second between them on a busy machine). `make
# bench` (f) measures how long it takes; this keeps those imports out of it. (typer itself may
# import pydantic to convert parameters.)
HEAVY_PACKAGES = {"temporalio", "asyncpg", "structlog", "rich", "cryptography", "activities"}
# What help may import of the engine's own layers: the picklists and the kinds in words.
LIGHT_MODULES = {
    "schemas",
    "schemas.vocabulary",
    "workflows",
    "workflows.rules",
    "workflows.rules.kinds",
}


def _imported(stderr: str) -> set[str]:
    """The modules a `python -X importtime` process imported."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@dataclass(frozen=True)
class Imported:
    """What `remediation ARGV` did in a subprocess run with `-X importtime`."""

    code: int
    modules: set[str]
    messages: list[str]  # what it wrote on stderr besides the import times
    stdout: str


def _run_importing(argv: list[str], env: dict[str, str] | None = None) -> Imported:
    """`remediation ARGV` in a subprocess (this environment unless `env`), its imports timed."""
    ran = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "workers.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    messages = [line for line in ran.stderr.splitlines() if not line.startswith("import time:")]
    return Imported(ran.returncode, _imported(ran.stderr), messages, ran.stdout)


@pytest.mark.parametrize("argv", [["--help"], ["decide", "--help"], ["schedules", "--help"]])
def test_help_imports_neither_temporal_nor_the_models(argv: list[str]) -> None:
    ran = _run_importing(argv)
    assert ran.code == 0, ran.messages
    imported = ran.modules
    assert "Usage: " in ran.stdout
    assert {name for name in imported if name.split(".")[0] in HEAVY_PACKAGES} == set()
    layers = {name for name in imported if name.split(".")[0] in ("schemas", "workflows")}
    assert layers <= LIGHT_MODULES


# Status and decisions are the commands run most: they import the SDK's client, the settings, the
# encrypting data converter and the models they send or read, but neither the workflows (with the
# activities and the register's driver they import) nor structlog and rich while nothing logs.
NEVER_FOR_A_QUICK_COMMAND = {"asyncpg", "structlog", "rich"}
# Of the engine's lower layers: the key ring's sealing, the notification settings, the workflow's
# names and search attributes, and the kinds in words (for the help); not the rules.
QUICK_ACTIVITIES = {"activities", "activities.notify_settings", "activities.sealing"}
QUICK_WORKFLOWS = {
    "workflows",
    "workflows.names",
    "workflows.search_attributes",
    "workflows.rules",
    "workflows.rules.kinds",
}
# Reading an incident needs the models of its answers; a decision, its own models besides (with
# the sealed data they may carry); never the state's or the register's.
READING_SCHEMAS = {
    "schemas",
    "schemas.vocabulary",
    "schemas.actor",
    "schemas.common",
    "schemas.facts",
    "schemas.history",
    "schemas.policy",
    "schemas.incident_results",
    "schemas.refusals",
}
DECIDING_SCHEMAS = READING_SCHEMAS | {"schemas.decisions", "schemas.victims"}


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "incident-X"],
        ["timeline", "incident-X"],
        ["decide", "incident-X", "acknowledge", "PAYLOAD"],
        ["decide", "--signal", "incident-X", "acknowledge", "PAYLOAD"],
    ],
    ids=" ".join,
)
def test_status_and_decide_import_neither_the_workflows_nor_the_logging(
    argv: list[str], tmp_path: Path
) -> None:
    # Nothing listens at the address: the command imports all it uses to send, then fails to
    # connect (exit code 1) without logging.
    payload = tmp_path / "acknowledge.json"
    payload.write_text(json.dumps(examples.acknowledge()), encoding="utf-8")
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "TEMPORAL_ADDRESS": address, "REMEDIATION_DATA_DIR": str(tmp_path)}
    argv = [str(payload) if arg == "PAYLOAD" else arg for arg in argv]
    ran = _run_importing(argv, env)
    imported, messages = ran.modules, ran.messages
    assert ran.code == 1
    assert messages[0].startswith(f"error: cannot reach Temporal at {address}"), messages
    assert {"temporalio.client", "workers.incident_client", "workers.encryption"} <= imported
    assert {name for name in imported if name.split(".")[0] in NEVER_FOR_A_QUICK_COMMAND} == set()
    assert {name for name in imported if name.split(".")[0] == "activities"} <= QUICK_ACTIVITIES
    assert {name for name in imported if name.split(".")[0] == "workflows"} <= QUICK_WORKFLOWS
    schemas = {name for name in imported if name.split(".")[0] == "schemas"}
    assert schemas <= (DECIDING_SCHEMAS if argv[0] == "decide" else READING_SCHEMAS)


@pytest.mark.parametrize(
    "argv",
    [["inbox", "--as", "owner.amara"], ["inbox", "--role", "approver", "--json"]],
    ids=" ".join,
)
def test_the_inbox_reads_visibility_without_the_sdks_client(
    argv: list[str], tmp_path: Path
) -> None:
    """The inbox lists search attributes, which are never encrypted: it connects a bare service
    client (workers/temporal_client.py, `connect_service`), so it imports neither the SDK's
    client nor the incident client, and needs no key ring."""
    address = f"127.0.0.1:{free_port()}"
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("REMEDIATION_KEYS", "REMEDIATION_KEY_FILE")
    }
    env |= {"TEMPORAL_ADDRESS": address, "REMEDIATION_DATA_DIR": str(tmp_path)}
    ran = _run_importing(argv, env)
    imported, messages = ran.modules, ran.messages
    assert ran.code == 1
    assert messages[0].startswith(f"error: cannot reach Temporal at {address}"), messages
    assert "temporalio.service" in imported
    assert {"temporalio.client", "workers.incident_client"} & imported == set()
    assert {name for name in imported if name.split(".")[0] in NEVER_FOR_A_QUICK_COMMAND} == set()
    assert {name for name in imported if name.split(".")[0] == "activities"} <= QUICK_ACTIVITIES
