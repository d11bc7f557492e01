"""`remediation up --demo`: a handful of clearly fictional incidents in different steps, so a first
look at the Temporal UI shows real cases. Seeding is idempotent: a demo reference that already
opened an incident is left as it is."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.client import Client

from schemas.decisions import DecisionKind
from schemas.intake import Intake
from schemas.vocabulary import Step
from workers import incident_client as incidents
from workers.devstack import examples

Advance = Callable[[Client, str], Awaitable[None]]


async def _decide(client: Client, incident_id: str, kind: str, payload: dict[str, Any]) -> str:
    result = await incidents.decide(client, incident_id, DecisionKind(kind), payload)
    return result.approval_id or ""


async def _approved(client: Client, incident_id: str, kind: str, payload: dict[str, Any]) -> None:
    approval_id = await _decide(client, incident_id, kind, payload)
    await _decide(client, incident_id, "approve", examples.approve(approval_id))


async def _wait_for(client: Client, incident_id: str, step: Step) -> None:
    for _ in range(200):
        if (await incidents.status(client, incident_id)).step == step:
            return
        await asyncio.sleep(0.05)


async def _awaiting_acknowledgement(client: Client, incident_id: str) -> None:
    return None


async def _in_verification(client: Client, incident_id: str) -> None:
    correction = examples.acknowledge(
        "high", reason="Trafficking indicators reported by a credible NGO."
    )
    await _decide(client, incident_id, "acknowledge", correction)


async def _response_awaiting_approval(client: Client, incident_id: str) -> None:
    await _decide(client, incident_id, "acknowledge", examples.acknowledge())
    await _decide(client, incident_id, "verification", examples.verification())
    level = (await incidents.status(client, incident_id)).proposed_response_level
    await _decide(client, incident_id, "response", examples.response(str(level)))


async def _implementing(client: Client, incident_id: str) -> None:
    await _decide(client, incident_id, "acknowledge", examples.acknowledge())
    await _decide(client, incident_id, "verification", examples.verification())
    level = (await incidents.status(client, incident_id)).proposed_response_level
    await _approved(client, incident_id, "response", examples.response(str(level)))
    await _approved(client, incident_id, "action_plan", examples.action_plan())
    progress = [examples.progress("A1", "completed"), examples.progress("A2")]
    await _decide(client, incident_id, "check_in", examples.check_in(progress))


async def _closed_not_substantiated(client: Client, incident_id: str) -> None:
    await _decide(client, incident_id, "acknowledge", examples.acknowledge("high"))
    await _decide(client, incident_id, "verification", examples.verification("not_substantiated"))
    await _approved(client, incident_id, "closure", examples.closure())
    await _wait_for(client, incident_id, Step.LESSONS_LEARNED)
    await _decide(client, incident_id, "lessons_learned", examples.lessons())
    await _wait_for(client, incident_id, Step.FOLLOW_UP)
    await _decide(client, incident_id, "follow_up", examples.follow_up())


DEMO_INCIDENTS: list[tuple[dict[str, Any], Advance]] = [
    (
        examples.intake(
            external_reference="DEMO-0001",
            minerals=["cobalt"],
            alleged_harms=["worst_forms_of_child_labour"],
            children_affected=True,
            imminent_danger=True,
            facility_ids=["CID900001"],
        ),
        _awaiting_acknowledgement,
    ),
    (
        examples.intake(
            external_reference="DEMO-0002",
            minerals=["gold"],
            channel="ngo_report",
            location={"country": "PE", "site_type": "artisanal_small_scale"},
            facility_ids=["CID900002"],
            alleged_harms=["human_trafficking", "forced_labour"],
        ),
        _in_verification,
    ),
    (
        examples.intake(external_reference="DEMO-0003", minerals=["tantalum"]),
        _response_awaiting_approval,
    ),
    (
        examples.intake(
            external_reference="DEMO-0004",
            minerals=["tungsten"],
            location={"country": "RW", "site_type": "large_scale"},
            facility_ids=["CID900004"],
        ),
        _implementing,
    ),
    (
        examples.intake(
            external_reference="DEMO-0005",
            minerals=["mica"],
            channel="media_report",
            location={"country": "MG", "site_type": "artisanal_small_scale"},
            facility_ids=[],
            alleged_harms=["hazardous_child_labour"],
            children_affected=True,
        ),
        _closed_not_substantiated,
    ),
]


async def seed_demo(client: Client, task_queue: str) -> list[str]:
    """Open and advance the demo incidents; returns the ids of those opened now."""
    opened = []
    for payload, advance in DEMO_INCIDENTS:
        intake = Intake.model_validate(payload)
        try:
            incident_id = await incidents.open_incident(client, intake, task_queue=task_queue)
        except incidents.IncidentExists:
            continue
        await advance(client, incident_id)
        opened.append(incident_id)
    return opened
