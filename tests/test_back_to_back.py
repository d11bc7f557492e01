"""An answer is the state it leads to: a client that sends the next decision the moment it has an
answer is never refused for a transition still under way, and each answer names the step the
incident is moving to. Every path of the worked example, back to back through the client
library, with no wait between an answer and the next decision.
"""

from dataclasses import dataclass
from typing import Any

import pytest

from schemas.decisions import DecisionKind
from schemas.vocabulary import Step
from tests.conftest import Engine
from tests.test_incident_lifecycle import open_incident
from workers import incident_client as incidents
from workers.devstack import examples


@dataclass(frozen=True)
class Sent:
    kind: str
    payload: dict[str, Any]
    step: Step  # the step the answer names: the incident's, or the one it is moving to


async def _send_back_to_back(engine: Engine, incident_id: str, decisions: list[Sent]) -> None:
    approval: str | None = None
    for sent in decisions:
        payload = sent.payload
        if sent.kind == "response":  # the level triage proposed (a query, not a wait)
            status = await incidents.status(engine.client, incident_id)
            payload = {**payload, "level": status.proposed_response_level}
        if sent.kind in ("approve", "reject") and "approval_id" not in payload:
            assert approval is not None, f"nothing awaits approval before {sent.kind}"
            payload = {**payload, "approval_id": approval}
        result = await incidents.decide(
            engine.client, incident_id, DecisionKind(sent.kind), payload
        )
        assert result.step == sent.step, (sent.kind, result)
        approval = result.approval_id or approval


def _approve() -> dict[str, Any]:
    return {k: v for k, v in examples.approve("-").items() if k != "approval_id"}


def _reject() -> dict[str, Any]:
    return {k: v for k, v in examples.reject("-").items() if k != "approval_id"}


def _closing() -> list[Sent]:
    return [
        Sent("closure", examples.closure(), Step.CLOSURE),
        # The closure report is written after the approval's answer: lessons are next.
        Sent("approve", _approve(), Step.LESSONS_LEARNED),
        # The lessons are stored after the answer: the follow-up is next.
        Sent("lessons_learned", examples.lessons(), Step.FOLLOW_UP),
        Sent("follow_up", examples.follow_up(), Step.FOLLOW_UP),
    ]


def _to_plan() -> list[Sent]:
    return [
        Sent("acknowledge", examples.acknowledge(), Step.VERIFICATION),
        Sent("verification", examples.verification(), Step.RESPONSE),
        Sent("response", examples.response("monitor"), Step.RESPONSE),
        Sent("approve", _approve(), Step.ACTION_PLAN),
    ]


def _implemented() -> list[Sent]:
    done = [examples.progress("A1", "completed"), examples.progress("A2", "completed")]
    return [Sent("check_in", examples.check_in(done), Step.CLOSURE)]


PATHS = {
    "worked example": lambda: [
        *_to_plan(),
        Sent("action_plan", examples.action_plan(), Step.ACTION_PLAN),
        Sent("approve", _approve(), Step.IMPLEMENTATION),
        *_implemented(),
        *_closing(),
    ],
    "plan rejected, then approved": lambda: [
        *_to_plan(),
        Sent("action_plan", examples.action_plan(), Step.ACTION_PLAN),
        Sent("reject", _reject(), Step.ACTION_PLAN),
        Sent("action_plan", examples.action_plan(), Step.ACTION_PLAN),
        Sent("approve", _approve(), Step.IMPLEMENTATION),
        *_implemented(),
        *_closing(),
    ],
    "not substantiated": lambda: [
        Sent("acknowledge", examples.acknowledge(), Step.VERIFICATION),
        Sent("verification", examples.verification("not_substantiated"), Step.CLOSURE),
        *_closing(),
    ],
    "closed early": lambda: [
        Sent("acknowledge", examples.acknowledge(), Step.VERIFICATION),
        Sent(
            "close_early",
            {
                "actor": examples.CASE_OWNER,
                "reason": "withdrawn",
                "explanation": "The reporting organisation withdrew the allegation.",
            },
            Step.VERIFICATION,
        ),
        Sent("approve", _approve(), Step.COMPLETED),
    ],
}


@pytest.mark.parametrize("path", sorted(PATHS))
async def test_each_next_decision_is_accepted_the_moment_the_answer_arrives(
    engine: Engine, path: str
) -> None:
    incident_id = await open_incident(engine)
    await _send_back_to_back(engine, incident_id, PATHS[path]())
    outcome = await engine.client.get_workflow_handle(incident_id).result()
    assert outcome["case_status"] == "closed"
