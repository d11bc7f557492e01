"""How the incident workflow takes messages: refused updates leave no trace, signals are validated
like updates, malformed input never stalls it, resent decisions apply once, and operators can find
incidents by their search attributes."""

import uuid
from typing import Any

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle

from schemas.decisions import DecisionKind
from schemas.facts import FactKind
from schemas.intake import Intake
from schemas.vocabulary import Step
from tests.conftest import Engine
from tests.test_incident_lifecycle import decide, open_incident, status, to_response
from tests.waiting import eventually
from workers import incident_client as incidents
from workers.devstack import examples


async def _register_events(engine: Engine, incident_id: str) -> int:
    count: int = await engine.pool.fetchval(
        "SELECT count(*) FROM incident_events WHERE incident_id = $1", incident_id
    )
    return count


async def _timeline_settles(engine: Engine, incident_id: str, length: int) -> None:
    async def long_enough() -> bool:
        return len(await incidents.timeline(engine.client, incident_id)) >= length

    await eventually(long_enough, f"timeline of {incident_id} reaching {length} events")


async def _at_step(engine: Engine, incident_id: str, step: Step) -> None:
    async def there() -> bool:
        return (await status(engine, incident_id)).step == step

    await eventually(there, f"{incident_id} reaching {step}", timeout=5)


@pytest.mark.parametrize(
    ("kind", "payload", "message"),
    [
        ("verification", examples.verification(), "must be acknowledged before"),
        ("acknowledge", examples.acknowledge(actor=examples.VERIFIER), "needs the case_owner"),
        ("acknowledge", examples.acknowledge("low"), "needs a reason"),
        ("action_plan", examples.action_plan(), "belongs to the action_plan step"),
        ("approve", examples.approve("response-1"), "no pending approval response-1"),
        ("acknowledge", {"actor": examples.CASE_OWNER, "severity": "urgent"}, "severity"),
        ("acknowledge", {**examples.acknowledge(), "colour": "red"}, "colour"),
    ],
)
async def test_a_refused_update_says_why_and_changes_nothing(
    engine: Engine, kind: str, payload: dict[str, Any], message: str
) -> None:
    incident_id = await open_incident(engine)
    await _timeline_settles(engine, incident_id, 1)  # the opening is recorded
    before = await status(engine, incident_id)
    timeline_before = await incidents.timeline(engine.client, incident_id)
    rows_before = await _register_events(engine, incident_id)
    with pytest.raises(incidents.DecisionRejected, match=message):
        await decide(engine, incident_id, kind, payload)
    assert await status(engine, incident_id) == before
    assert await incidents.timeline(engine.client, incident_id) == timeline_before
    assert await _register_events(engine, incident_id) == rows_before


async def test_four_eyes_and_the_approver_role(engine: Engine) -> None:
    incident_id = await open_incident(engine)
    level = await to_response(engine, incident_id)
    author_is_also_approver = {"id": "owner.amara", "roles": ["case_owner", "approver"]}
    pending = await decide(
        engine, incident_id, "response", examples.response(level, actor=author_is_also_approver)
    )
    assert pending.approval_id
    with pytest.raises(incidents.DecisionRejected, match="four eyes"):
        await decide(
            engine,
            incident_id,
            "approve",
            examples.approve(pending.approval_id, actor=author_is_also_approver),
        )
    with pytest.raises(incidents.DecisionRejected, match="needs the approver role"):
        await decide(
            engine,
            incident_id,
            "approve",
            examples.approve(pending.approval_id, actor=examples.SECOND_OWNER),
        )
    with pytest.raises(incidents.DecisionRejected, match="already awaiting approval"):
        await decide(engine, incident_id, "response", examples.response(level))
    assert [p.approval_id for p in (await status(engine, incident_id)).pending_approvals] == [
        pending.approval_id
    ]


async def test_the_same_reference_never_opens_a_second_incident(engine: Engine) -> None:
    payload = examples.intake()
    first = await incidents.open_incident(
        engine.client, Intake.model_validate(payload), task_queue=engine.task_queue
    )
    with pytest.raises(incidents.IncidentExists) as exists:
        await incidents.open_incident(
            engine.client, Intake.model_validate(payload), task_queue=engine.task_queue
        )
    assert exists.value.incident_id == first
    assert first in str(exists.value)


async def test_decisions_work_as_signals_and_refused_signals_are_recorded(engine: Engine) -> None:
    incident_id = await open_incident(engine)
    await incidents.signal(
        engine.client, incident_id, DecisionKind.VERIFICATION, examples.verification()
    )
    await incidents.signal(
        engine.client, incident_id, DecisionKind.ACKNOWLEDGE, examples.acknowledge()
    )
    await _timeline_settles(engine, incident_id, 3)
    events = await incidents.timeline(engine.client, incident_id)
    refused = [e for e in events if e.outcome == "refused"]
    assert [(e.kind, e.actor.id) for e in refused] == [("verification", "verifier.kenji")]
    assert refused[0].reason is not None and "acknowledged before" in refused[0].reason
    assert (await status(engine, incident_id)).severity_confirmed is True

    # Approvals work as signals too.
    await incidents.signal(
        engine.client, incident_id, DecisionKind.VERIFICATION, examples.verification()
    )
    await _at_step(engine, incident_id, Step.RESPONSE)
    level = str((await status(engine, incident_id)).proposed_response_level)
    pending = await decide(engine, incident_id, "response", examples.response(level))
    assert pending.approval_id
    await incidents.signal(
        engine.client, incident_id, DecisionKind.APPROVE, examples.approve(pending.approval_id)
    )
    await _at_step(engine, incident_id, Step.ACTION_PLAN)
    assert (await status(engine, incident_id)).response_level == level


async def test_malformed_signals_are_recorded_and_never_stall_the_workflow(
    engine: Engine,
) -> None:
    incident_id = await open_incident(engine)
    handle: WorkflowHandle[Any, Any] = engine.client.get_workflow_handle(incident_id)
    await handle.signal("acknowledge", {"actor": examples.CASE_OWNER, "severity": 7})
    await handle.signal("acknowledge", "not an object")
    await handle.signal("note", {"text": "missing actor"})
    await handle.signal("acknowledge", {"actor": {"id": "x", "roles": ["wizard"]}})
    await _timeline_settles(engine, incident_id, 5)
    refused = [
        e for e in await incidents.timeline(engine.client, incident_id) if e.outcome == "refused"
    ]
    assert len(refused) == 4
    assert all(e.reason and e.reason.startswith("invalid") for e in refused)
    assert refused[0].actor.id == "owner.amara"
    assert refused[1].actor.id == "unidentified-sender"
    # The workflow carries on.
    result = await decide(engine, incident_id, "acknowledge", examples.acknowledge())
    assert result.outcome == "accepted"
    await incidents.signal(
        engine.client,
        incident_id,
        FactKind.NOTE,
        {"actor": examples.PARTNER, "text": "Met the workers' committee."},
    )
    await _timeline_settles(engine, incident_id, 7)
    last = (await incidents.timeline(engine.client, incident_id))[-1]
    assert (last.kind, last.outcome) == ("note", "recorded")


async def test_a_resent_decision_is_applied_once(engine: Engine) -> None:
    incident_id = await open_incident(engine)
    decision_id = str(uuid.uuid4())
    first = await decide(
        engine, incident_id, "acknowledge", examples.acknowledge(decision_id=decision_id)
    )
    again = await decide(
        engine, incident_id, "acknowledge", examples.acknowledge(decision_id=decision_id)
    )
    assert (again.duplicate, again.sequence) == (True, first.sequence)
    await incidents.signal(
        engine.client,
        incident_id,
        DecisionKind.ACKNOWLEDGE,
        examples.acknowledge(decision_id=decision_id),
    )
    await incidents.signal(
        engine.client,
        incident_id,
        FactKind.NOTE,
        {"actor": examples.CASE_OWNER, "text": "after the resend"},
    )
    await _timeline_settles(engine, incident_id, 3)
    kinds = [e.kind for e in await incidents.timeline(engine.client, incident_id)]
    assert kinds.count("acknowledge") == 1


async def test_operators_find_incidents_by_search_attributes(engine: Engine) -> None:
    incident_id = await open_incident(engine)
    await to_response(engine, incident_id)
    query = incidents.list_query(step="response") + f" AND WorkflowId = '{incident_id}'"
    found = await eventually(
        lambda: incidents.list_incidents(engine.client, query),
        f"{incident_id} listed at response",
        interval=0.1,
    )
    assert [(f.incident_id, f.step, f.country) for f in found] == [(incident_id, "response", "CD")]
    handle = engine.client.get_workflow_handle(incident_id)
    description = await handle.describe()
    summary = await description.static_summary()
    assert summary == "tin · CD · mine_site · forced_labour, debt_bondage"
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert metadata.current_details.startswith("**Step 2 of 6: response**")
    assert "`response` from owner.amara" in metadata.current_details
    assert "Fictional" not in metadata.current_details + summary
