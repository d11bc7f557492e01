"""Every message has size limits, on every path: per free-text field, per whole message (the
engine's), and Temporal's own for what is larger still. A message over a limit is refused with the
limit named, changes nothing, and never fails a workflow task, so the incident answers at once.

Sent through Temporal's HTTP API against the dev server, as an integration without an SDK sends
them: an update, a signal and a start, each 3 MB, one byte over the whole-message limit, and one
character over a field's.
"""

import uuid
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from schemas.common import LONG_TEXT_MAX, MESSAGE_MAX_BYTES, SHORT_TEXT_MAX, message_size
from schemas.decisions import DecisionKind
from schemas.history import TimelineEvent
from tests import http_api as api
from tests.conftest import Engine
from tests.test_incident_lifecycle import open_incident, status
from tests.waiting import eventually
from workers import incident_client as incidents
from workers.devstack import examples

THREE_MB = 3_000_000


def _padded(message: dict[str, Any], field: str, size: int) -> dict[str, Any]:
    """`message` with `field` filled so that the whole is `size` bytes as compact JSON."""
    bare = message_size({**message, field: ""})
    return {**message, field: "x" * (size - bare)}


async def _opened(engine: Engine) -> str:
    """A new incident, once its opening is recorded (so its status no longer moves)."""
    incident_id = await open_incident(engine)
    await eventually(
        lambda: incidents.timeline(engine.client, incident_id),
        f"{incident_id} recording its opening",
    )
    return incident_id


def _acknowledge_of(size: int) -> dict[str, Any]:
    return _padded(examples.acknowledge("low"), "reason", size)


async def _no_task_failed(engine: Engine, incident_id: str) -> None:
    handle = engine.client.get_workflow_handle(incident_id)
    async for event in handle.fetch_history_events():
        assert not event.HasField("workflow_task_failed_event_attributes"), event


async def _answers_at_once(engine: Engine, incident_id: str) -> None:
    """The incident is not stalled: it answers a query and takes the next decision."""
    assert (await status(engine, incident_id)).step == "verification"
    result = await incidents.decide(
        engine.client, incident_id, DecisionKind.ACKNOWLEDGE, examples.acknowledge()
    )
    assert result.outcome == "accepted"
    await _no_task_failed(engine, incident_id)


# --- updates -----------------------------------------------------------------------------------


async def test_an_update_of_3_mb_is_refused_by_the_server_and_the_incident_answers_at_once(
    engine: Engine, http_api: str
) -> None:
    incident_id = await _opened(engine)
    answer = await api.update(http_api, incident_id, "acknowledge", _acknowledge_of(THREE_MB))
    assert answer.status == 429, answer.text
    assert "in-flight updates" in answer.body["message"]
    assert "1048576 bytes" in answer.body["message"]
    await _answers_at_once(engine, incident_id)


@pytest.mark.parametrize(
    ("size", "refusal"),
    [
        (MESSAGE_MAX_BYTES + 1, f"at most {MESSAGE_MAX_BYTES:,} are accepted"),
        # At the limit the message passes the size check; its field is still too long.
        (MESSAGE_MAX_BYTES, f"reason: String should have at most {SHORT_TEXT_MAX} characters"),
    ],
)
async def test_an_update_over_the_message_limit_is_refused_naming_the_limit(
    engine: Engine, http_api: str, size: int, refusal: str
) -> None:
    incident_id = await _opened(engine)
    before = await status(engine, incident_id)
    answer = await api.update(http_api, incident_id, "acknowledge", _acknowledge_of(size))
    assert answer.status == 200, answer.text
    failure = answer.body["outcome"]["failure"]
    assert refusal in failure["message"]
    assert failure["applicationFailureInfo"]["type"] == "MalformedDecision"
    assert (await status(engine, incident_id)) == before
    await _answers_at_once(engine, incident_id)


async def test_an_update_one_character_over_a_field_limit_is_refused_naming_the_field(
    engine: Engine, http_api: str
) -> None:
    incident_id = await _opened(engine)
    too_long = examples.acknowledge("low", reason="r" * (SHORT_TEXT_MAX + 1))
    answer = await api.update(http_api, incident_id, "acknowledge", too_long)
    failure = answer.body["outcome"]["failure"]
    assert f"reason: String should have at most {SHORT_TEXT_MAX} characters" in failure["message"]
    await _answers_at_once(engine, incident_id)


# --- signals -----------------------------------------------------------------------------------


async def _refusals(engine: Engine, incident_id: str, count: int) -> list[TimelineEvent]:
    async def refused() -> list[TimelineEvent] | None:
        timeline = await incidents.timeline(engine.client, incident_id)
        found = [event for event in timeline if event.outcome == "refused"]
        return found if len(found) >= count else None

    return await eventually(refused, f"{incident_id} recording {count} refusals")


async def test_signals_over_a_limit_are_refused_by_the_server_or_recorded_as_refused(
    engine: Engine, http_api: str
) -> None:
    incident_id = await _opened(engine)
    answer = await api.signal(http_api, incident_id, "acknowledge", _acknowledge_of(THREE_MB))
    assert answer.status >= 400, answer.text
    assert "size" in answer.body["message"].lower()

    for message in (
        _acknowledge_of(MESSAGE_MAX_BYTES + 1),
        examples.acknowledge("low", reason="r" * (SHORT_TEXT_MAX + 1)),
    ):
        sent = await api.signal(http_api, incident_id, "acknowledge", message)
        assert sent.status == 200, sent.text
    first, second = await _refusals(engine, incident_id, 2)
    assert first.reason is not None and f"at most {MESSAGE_MAX_BYTES:,}" in first.reason
    assert second.reason is not None and f"at most {SHORT_TEXT_MAX} characters" in second.reason
    await _answers_at_once(engine, incident_id)


# --- starts ------------------------------------------------------------------------------------


async def _started(engine: Engine, http_api: str, intake: dict[str, Any]) -> api.Answer:
    incident_id = f"incident-{intake['external_reference']}"
    return await api.start(http_api, incident_id, engine.task_queue, {"intake": intake})


async def test_a_start_of_3_mb_is_refused_by_the_server(engine: Engine, http_api: str) -> None:
    intake = _padded(examples.intake(), "description", THREE_MB)
    answer = await _started(engine, http_api, intake)
    assert answer.status >= 400, answer.text
    assert "size" in answer.body["message"].lower()


@pytest.mark.parametrize(
    ("pad", "refusal"),
    [
        ("message", f"at most {MESSAGE_MAX_BYTES:,} are accepted"),
        ("field", f"description: String should have at most {LONG_TEXT_MAX} characters"),
    ],
)
async def test_a_start_over_a_limit_fails_the_incident_with_the_limit_and_writes_nothing(
    engine: Engine, http_api: str, pad: str, refusal: str
) -> None:
    intake = examples.intake(external_reference=f"LIM-{uuid.uuid4().hex[:10]}")
    if pad == "message":
        # The limit counts the whole start input, {"intake": ...}.
        intake = _padded(intake, "description", MESSAGE_MAX_BYTES + 1)
        excess = message_size({"intake": intake}) - (MESSAGE_MAX_BYTES + 1)
        intake["description"] = intake["description"][excess:]
        assert message_size({"intake": intake}) == MESSAGE_MAX_BYTES + 1
    else:
        intake = {**intake, "description": "d" * (LONG_TEXT_MAX + 1)}
    answer = await _started(engine, http_api, intake)
    assert answer.status == 200, answer.text
    incident_id = f"incident-{intake['external_reference']}"
    with pytest.raises(WorkflowFailureError) as failed:
        await engine.client.get_workflow_handle(incident_id).result()
    assert isinstance(failed.value.cause, ApplicationError)
    assert refusal in failed.value.cause.message
    await _no_task_failed(engine, incident_id)
    rows = await engine.pool.fetchval(
        "SELECT count(*) FROM incidents WHERE incident_id = $1", incident_id
    )
    assert rows == 0
