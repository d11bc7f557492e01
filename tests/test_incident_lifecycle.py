"""Incidents end to end on the real dev server, worker and register: every path of the six steps
(docs/design.md, The six steps).

Each path saves its history under tests/histories/ when RECORD_HISTORIES=1, so that the replay
test proves later workflow changes safe for incidents already running.
"""

import os
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle

from schemas.decisions import DecisionKind
from schemas.incident import DecisionResult, IncidentStatus
from schemas.intake import Intake
from schemas.vocabulary import Step
from tests.conftest import Engine
from tests.waiting import eventually
from workers import incident_client as incidents
from workers.devstack import examples

HISTORIES = Path(__file__).parent / "histories"


async def open_incident(engine: Engine, **changes: Any) -> str:
    intake = Intake.model_validate(examples.intake(**changes))
    return await incidents.open_incident(engine.client, intake, task_queue=engine.task_queue)


async def decide(
    engine: Engine, incident_id: str, kind: str, payload: dict[str, Any]
) -> DecisionResult:
    return await incidents.decide(engine.client, incident_id, DecisionKind(kind), payload)


async def status(engine: Engine, incident_id: str) -> IncidentStatus:
    return await incidents.status(engine.client, incident_id)


async def wait_for(engine: Engine, incident_id: str, step: Step) -> IncidentStatus:
    async def at_step() -> IncidentStatus | None:
        current = await status(engine, incident_id)
        return current if current.step == step else None

    return await eventually(at_step, f"{incident_id} reaching {step}")


async def finish(engine: Engine, incident_id: str, history_name: str) -> dict[str, Any]:
    handle = engine.client.get_workflow_handle(incident_id)
    outcome: dict[str, Any] = await handle.result()
    await save_history(handle, history_name)
    return outcome


async def save_history(handle: WorkflowHandle[Any, Any], history_name: str) -> None:
    """RECORD_HISTORIES=<folder> saves the workflow's history as
    tests/histories/<folder>/<history_name>.json, for the replay test."""
    folder = os.environ.get("RECORD_HISTORIES")
    if folder:
        (HISTORIES / folder).mkdir(parents=True, exist_ok=True)
        history = await handle.fetch_history()
        (HISTORIES / folder / f"{history_name}.json").write_text(history.to_json())


async def to_response(engine: Engine, incident_id: str, **verification: Any) -> str:
    await decide(engine, incident_id, "acknowledge", examples.acknowledge("medium"))
    await decide(engine, incident_id, "verification", examples.verification(**verification))
    level = (await status(engine, incident_id)).proposed_response_level
    assert level is not None
    return str(level)


async def to_implementation(engine: Engine, incident_id: str) -> None:
    level = await to_response(engine, incident_id)
    pending = await decide(engine, incident_id, "response", examples.response(level))
    assert pending.approval_id is not None
    await decide(engine, incident_id, "approve", examples.approve(pending.approval_id))
    plan = await decide(engine, incident_id, "action_plan", examples.action_plan())
    assert plan.approval_id is not None
    await decide(engine, incident_id, "approve", examples.approve(plan.approval_id))


async def close_and_learn(engine: Engine, incident_id: str, **closure: Any) -> None:
    pending = await decide(engine, incident_id, "closure", examples.closure(**closure))
    assert pending.approval_id is not None
    approved = await decide(engine, incident_id, "approve", examples.approve(pending.approval_id))
    assert approved.step == Step.LESSONS_LEARNED
    # No wait: each answer is the state it leads to (tests/test_back_to_back.py).
    learned = await decide(engine, incident_id, "lessons_learned", examples.lessons())
    assert learned.step == Step.FOLLOW_UP
    await decide(engine, incident_id, "follow_up", examples.follow_up())


async def test_full_happy_path_lands_every_decision_in_the_register(engine: Engine) -> None:
    incident_id = await open_incident(engine)
    await to_implementation(engine, incident_id)
    assert (await status(engine, incident_id)).step == Step.IMPLEMENTATION
    done = [examples.progress("A1", "completed"), examples.progress("A2", "completed")]
    result = await decide(engine, incident_id, "check_in", examples.check_in(done))
    assert result.step == Step.CLOSURE
    await close_and_learn(engine, incident_id)
    outcome = await finish(engine, incident_id, "happy_path")
    assert outcome["case_status"] == "closed"
    assert outcome["actions_completed"] == 2
    assert outcome["lessons_captured"] is True

    pool = engine.pool
    row = await pool.fetchrow("SELECT * FROM incidents WHERE incident_id = $1", incident_id)
    assert row is not None
    assert (row["step"], row["case_status"]) == ("completed", "closed")
    assert row["closed_at"] is not None
    timeline = await incidents.timeline(engine.client, incident_id)
    events = await pool.fetchval(
        "SELECT count(*) FROM incident_events WHERE incident_id = $1", incident_id
    )
    assert events == len(timeline) == row["last_sequence"]
    audit = await pool.fetchval(
        "SELECT count(*) FROM audit_trail WHERE incident_id = $1", incident_id
    )
    assert audit == events + 1  # the opening has its own audit entry
    actions = await pool.fetch(
        "SELECT action_id, status FROM actions WHERE incident_id = $1 ORDER BY action_id",
        incident_id,
    )
    assert [(a["action_id"], a["status"]) for a in actions] == [
        ("A1", "completed"),
        ("A2", "completed"),
    ]
    approvals = await pool.fetch(
        "SELECT approval_id, status, author_id, decided_by FROM approvals WHERE incident_id = $1",
        incident_id,
    )
    assert {a["approval_id"]: a["status"] for a in approvals} == {
        "response-1": "approved",
        "action_plan-2": "approved",
        "closure-3": "approved",
    }
    assert all(a["decided_by"] == examples.APPROVER["id"] for a in approvals)
    assert (
        await pool.fetchval("SELECT count(*) FROM check_ins WHERE incident_id = $1", incident_id)
        == 1
    )
    report = await pool.fetchrow(
        "SELECT markdown FROM closure_reports WHERE incident_id = $1", incident_id
    )
    assert report is not None and incident_id in report["markdown"]
    assert await pool.fetchval("SELECT count(*) FROM lessons WHERE incident_id = $1", incident_id)


@pytest.mark.parametrize(
    ("history_name", "verification"),
    [
        ("not_substantiated", {"outcome": "not_substantiated"}),
        ("no_link", {"relationship": "no_link"}),
    ],
)
async def test_no_remedy_path_goes_to_closure_then_lessons(
    engine: Engine, history_name: str, verification: dict[str, Any]
) -> None:
    incident_id = await open_incident(engine)
    await decide(engine, incident_id, "acknowledge", examples.acknowledge())
    result = await decide(
        engine, incident_id, "verification", examples.verification(**verification)
    )
    assert result.step == Step.CLOSURE
    assert (await status(engine, incident_id)).proposed_response_level == "monitor"
    await close_and_learn(engine, incident_id)
    outcome = await finish(engine, incident_id, history_name)
    assert outcome["response_level"] is None
    assert outcome["closure_reason"] in (
        "not substantiated",
        "no link to the company's supply chain",
    )


async def test_inconclusive_verification_takes_bounded_rounds(engine: Engine) -> None:
    incident_id = await open_incident(engine)
    await decide(engine, incident_id, "acknowledge", examples.acknowledge())
    for round_number in (1, 2):
        result = await decide(
            engine, incident_id, "verification", examples.verification("inconclusive")
        )
        assert result.step == Step.VERIFICATION
        assert (await status(engine, incident_id)).verification_rounds == round_number
    with pytest.raises(incidents.DecisionRejected, match="must conclude"):
        await decide(engine, incident_id, "verification", examples.verification("inconclusive"))
    result = await decide(engine, incident_id, "verification", examples.verification())
    assert result.step == Step.RESPONSE
    await _close_early(engine, incident_id)
    await finish(engine, incident_id, "inconclusive_rounds")


async def test_rejected_plan_returns_to_its_author_and_the_revision_is_approved(
    engine: Engine,
) -> None:
    incident_id = await open_incident(engine)
    level = await to_response(engine, incident_id)
    pending = await decide(engine, incident_id, "response", examples.response(level))
    assert pending.approval_id
    await decide(engine, incident_id, "approve", examples.approve(pending.approval_id))
    first = await decide(engine, incident_id, "action_plan", examples.action_plan())
    assert first.approval_id
    rejected = await decide(engine, incident_id, "reject", examples.reject(first.approval_id))
    assert rejected.outcome == "rejected"
    current = await status(engine, incident_id)
    assert current.step == Step.ACTION_PLAN
    assert [(r.approval_id, r.comments) for r in current.returned] == [
        (first.approval_id, "Add a livelihood action.")
    ]
    revised_actions = [
        examples.action("A1"),
        examples.action(
            "A2", category="assistance", remedy_type=None, assistance_type="livelihood_support"
        ),
    ]
    revised = await decide(
        engine, incident_id, "action_plan", examples.action_plan(revised_actions)
    )
    assert revised.approval_id and revised.approval_id != first.approval_id
    assert (await status(engine, incident_id)).returned == []
    await decide(engine, incident_id, "approve", examples.approve(revised.approval_id))
    assert (await status(engine, incident_id)).step == Step.IMPLEMENTATION
    await _close_early(engine, incident_id)
    await finish(engine, incident_id, "plan_rejected_then_approved")


async def test_plan_amended_during_implementation(engine: Engine) -> None:
    incident_id = await open_incident(engine)
    await to_implementation(engine, incident_id)
    await decide(
        engine, incident_id, "check_in", examples.check_in([examples.progress("A1", "completed")])
    )
    amendment = {
        "actor": examples.CASE_OWNER,
        "add": [examples.action("A3", description="Return identity documents.")],
        "cancel": [{"action_id": "A2", "reason": "Merged into A3 at the workers' request."}],
        "reason": "Workers asked for document return first.",
    }
    pending = await decide(engine, incident_id, "amend_plan", amendment)
    assert pending.approval_id
    await decide(engine, incident_id, "approve", examples.approve(pending.approval_id))
    current = await status(engine, incident_id)
    assert {a.action_id: a.status for a in current.actions} == {
        "A1": "completed",
        "A2": "cancelled",
        "A3": "not_started",
    }
    result = await decide(
        engine, incident_id, "check_in", examples.check_in([examples.progress("A3", "completed")])
    )
    assert result.step == Step.CLOSURE
    await close_and_learn(engine, incident_id)
    outcome = await finish(engine, incident_id, "plan_amended")
    assert (outcome["actions_completed"], outcome["actions_cancelled"]) == (2, 1)


async def _close_early(engine: Engine, incident_id: str) -> DecisionResult:
    request = {
        "actor": examples.CASE_OWNER,
        "reason": "withdrawn",
        "explanation": "The reporting organisation withdrew the allegation.",
    }
    pending = await decide(engine, incident_id, "close_early", request)
    assert pending.approval_id
    return await decide(engine, incident_id, "approve", examples.approve(pending.approval_id))


async def test_close_early_needs_approval_and_completes_the_incident(engine: Engine) -> None:
    incident_id = await open_incident(engine)
    await decide(engine, incident_id, "acknowledge", examples.acknowledge())
    await _close_early(engine, incident_id)
    outcome = await finish(engine, incident_id, "closed_early")
    assert outcome["closure_reason"] == "closed early: withdrawn"
    assert outcome["lessons_captured"] is False


async def test_imminent_danger_protection_comes_before_verification(engine: Engine) -> None:
    incident_id = await open_incident(engine, imminent_danger=True, children_affected=True)
    current = await status(engine, incident_id)
    assert current.severity == "critical"
    assert [d.kind for d in current.pending_decisions] == ["acknowledge", "immediate_protection"]
    due = {m.milestone: m.due_at - current.opened_at for m in current.deadlines}
    assert due["immediate_protection"].total_seconds() == 24 * 3600
    await decide(engine, incident_id, "acknowledge", examples.acknowledge("critical"))
    with pytest.raises(incidents.DecisionRejected, match="record immediate_protection first"):
        await decide(engine, incident_id, "verification", examples.verification())
    await decide(engine, incident_id, "immediate_protection", examples.immediate_protection())
    await decide(engine, incident_id, "verification", examples.verification())
    await _close_early(engine, incident_id)
    await finish(engine, incident_id, "imminent_danger")


async def related_to(engine: Engine, incident_id: str) -> list[str]:
    return (await status(engine, incident_id)).related_incidents


async def test_related_incidents_are_linked_when_the_second_one_opens(engine: Engine) -> None:
    facility = f"CID{uuid.uuid4().int % 1_000_000:06d}"
    elsewhere = {"country": "BO", "site_name": f"Site {facility}", "site_type": "large_scale"}
    first = await open_incident(engine, facility_ids=[facility], suppliers=[], location=elsewhere)
    # The first is in the register before the second arrives.
    await eventually(lambda: incidents.timeline(engine.client, first), f"{first} recorded")
    second = await open_incident(engine, facility_ids=[facility], suppliers=[], location=elsewhere)
    related = await eventually(lambda: related_to(engine, second), f"{second} linked", timeout=5)
    assert related == [first]


async def test_a_recurrence_at_follow_up_opens_a_linked_incident(engine: Engine) -> None:
    incident_id = await open_incident(engine)
    await decide(engine, incident_id, "acknowledge", examples.acknowledge())
    await decide(engine, incident_id, "verification", examples.verification("not_substantiated"))
    pending = await decide(engine, incident_id, "closure", examples.closure())
    assert pending.approval_id
    await decide(engine, incident_id, "approve", examples.approve(pending.approval_id))
    await wait_for(engine, incident_id, Step.LESSONS_LEARNED)
    await decide(engine, incident_id, "lessons_learned", examples.lessons())
    following = await wait_for(engine, incident_id, Step.FOLLOW_UP)
    assert following.case_status == "follow_up"
    [follow_up] = [m for m in following.deadlines if m.milestone == "follow_up"]
    assert following.closed_at is not None
    assert follow_up.due_at - following.closed_at == timedelta(days=180)  # medium severity
    await decide(engine, incident_id, "follow_up", examples.follow_up(recurrence=True))
    outcome = await finish(engine, incident_id, "follow_up_recurrence")
    recurrence = outcome["recurrence_incident"]
    assert recurrence and recurrence.startswith(f"{incident_id}-R")
    related = await eventually(
        lambda: related_to(engine, recurrence), f"{recurrence} linked", timeout=5
    )
    assert incident_id in related
    assert (await status(engine, recurrence)).step == Step.VERIFICATION
