"""A refusal is an answer, not a crash: it reaches the HTTP API, the Web UI and our clients with its
reason and without the worker's stack trace; a bug keeps its traceback, in the worker's log too."""

import io
import json
import uuid
from typing import Any

import asyncpg
import pytest
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.converter import PayloadConverter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from schemas.decisions import DecisionKind
from tests import http_api as http
from tests.conftest import TEST_KEY_RING, Engine
from tests.probe_workflow import BuggyProbeWorkflow
from tests.test_incident_lifecycle import decide, open_incident, to_response
from tests.waiting import eventually
from workers import incident_client as incidents
from workers.devstack import examples
from workers.encryption import encrypted_data_converter
from workers.failures import REFUSALS, RefusalFailureConverter
from workers.settings import load_settings
from workers.worker import build_worker
from workflows.messages import MALFORMED, REFUSED

AUTHOR_AND_APPROVER = {"id": "owner.amara", "roles": ["case_owner", "approver"]}


def _raised(error: BaseException, cause: BaseException | None = None) -> BaseException:
    """`error` as it is caught: with a traceback, and `cause` as its cause."""
    try:
        raise error from cause
    except BaseException as caught:
        return caught


def _to_failure(error: BaseException) -> Failure:
    failure = Failure()
    RefusalFailureConverter().to_failure(error, PayloadConverter.default, failure)
    return failure


def _assert_clean(failure: Any) -> None:
    """No stack trace and no file of ours anywhere in the failure as the sender sees it."""
    text = json.dumps(failure) if isinstance(failure, dict) else str(failure)
    assert "Traceback" not in text and 'File "' not in text and ".py" not in text, text


# --- the converter -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(REFUSALS))
def test_a_refusal_goes_without_stack_traces(kind: str) -> None:
    cause = _raised(ValueError("the detail"))
    failure = _to_failure(_raised(ApplicationError("the reason", type=kind), cause))
    assert failure.message == "the reason"
    assert failure.application_failure_info.type == kind
    assert failure.stack_trace == ""
    assert failure.cause.message == "the detail" and failure.cause.stack_trace == ""


@pytest.mark.parametrize(
    "error",
    [ApplicationError("an activity gave up", type="IncidentNotFound"), RuntimeError("a bug")],
    ids=["other ApplicationError", "bug"],
)
def test_any_other_failure_keeps_its_stack_trace(error: BaseException) -> None:
    failure = _to_failure(_raised(error))
    assert "test_refusal_failures.py" in failure.stack_trace


def test_every_client_and_worker_of_the_engine_uses_it(engine: Engine) -> None:
    assert isinstance(
        encrypted_data_converter(TEST_KEY_RING).failure_converter, RefusalFailureConverter
    )
    # The worker runs on this client's data converter, in the workflow sandbox too.
    assert isinstance(engine.client.data_converter.failure_converter, RefusalFailureConverter)


# --- on the real path: dev server, worker, register ----------------------------------------------


async def _approval_by_its_author(engine: Engine) -> tuple[str, str]:
    incident_id = await open_incident(engine)
    level = await to_response(engine, incident_id)
    pending = await decide(
        engine, incident_id, "response", examples.response(level, actor=AUTHOR_AND_APPROVER)
    )
    assert pending.approval_id is not None
    return incident_id, pending.approval_id


def _update_failure(answer: http.Answer) -> dict[str, Any]:
    assert answer.status == 200, answer.text
    failure: dict[str, Any] = answer.body["outcome"]["failure"]
    assert not failure.get("stackTrace"), failure
    _assert_clean(failure)
    return failure


async def test_a_refused_update_over_the_http_api_has_no_stack_trace(
    engine: Engine, http_api: str
) -> None:
    incident_id, approval_id = await _approval_by_its_author(engine)
    approval = examples.approve(approval_id, actor=AUTHOR_AND_APPROVER)
    failure = _update_failure(await http.update(http_api, incident_id, "approve", approval))
    assert failure["message"] == (
        f"owner.amara submitted {approval_id} and cannot also decide it (four eyes)"
    )
    assert failure["applicationFailureInfo"]["type"] == REFUSED


async def test_a_malformed_update_over_the_http_api_has_no_stack_trace(
    engine: Engine, http_api: str
) -> None:
    incident_id = await open_incident(engine)
    malformed = examples.acknowledge(reason="x" * 5_000)
    failure = _update_failure(await http.update(http_api, incident_id, "acknowledge", malformed))
    assert failure["message"].startswith("invalid Acknowledge: reason: ")
    assert failure["applicationFailureInfo"]["type"] == MALFORMED


async def test_a_refusal_reaches_our_client_with_its_reason_alone(engine: Engine) -> None:
    incident_id, approval_id = await _approval_by_its_author(engine)
    approval = examples.approve(approval_id, actor=AUTHOR_AND_APPROVER)
    with pytest.raises(incidents.DecisionRejected) as rejected:
        await incidents.decide(engine.client, incident_id, DecisionKind.APPROVE, approval)
    assert str(rejected.value).endswith("cannot also decide it (four eyes)")
    _assert_clean(rejected.value)
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await engine.client.get_workflow_handle(incident_id).execute_update("approve", approval)
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.failure is not None
    assert failed.value.cause.failure.stack_trace == ""


async def test_an_incident_refused_at_start_fails_without_a_stack_trace(
    engine: Engine, http_api: str
) -> None:
    """What the Web UI shows of an incident whose intake does not fit the contract."""
    workflow_id = f"incident-malformed-{uuid.uuid4().hex[:8]}"
    intake = examples.intake(affected_persons_estimate="a dozen")
    answer = await http.start(http_api, workflow_id, engine.task_queue, {"intake": intake})
    assert answer.status == 200, answer.text
    handle = engine.client.get_workflow_handle(workflow_id)
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    history = await handle.fetch_history()
    failure = history.events[-1].workflow_execution_failed_event_attributes.failure
    assert failure.application_failure_info.type == MALFORMED
    assert failure.message.startswith("invalid IncidentInput: intake.affected_persons_estimate")
    assert failure.stack_trace == ""
    _assert_clean(failure)


# --- a bug keeps its traceback -------------------------------------------------------------------


async def test_a_bug_keeps_its_traceback_in_the_worker_log_and_the_history(
    temporal_env: WorkflowEnvironment, register_pool: asyncpg.Pool, json_log: io.StringIO
) -> None:
    task_queue = f"buggy-{uuid.uuid4().hex[:8]}"
    settings = load_settings(task_queue=task_queue, database_url="postgresql://unused")
    worker = build_worker(
        temporal_env.client, settings, register_pool, extra_workflows=[BuggyProbeWorkflow]
    )
    async with worker:
        handle = await temporal_env.client.start_workflow(
            BuggyProbeWorkflow.run, id=f"buggy-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        try:

            async def task_failed() -> list[HistoryEvent]:
                history = await handle.fetch_history()
                return [
                    e for e in history.events if e.HasField("workflow_task_failed_event_attributes")
                ]

            failed = await eventually(task_failed, "the buggy workflow's task failing")
        finally:
            await handle.terminate("the test is over")
    failure = failed[0].workflow_task_failed_event_attributes.failure
    assert failure.message == "a bug, not a refusal"
    assert "probe_workflow.py" in failure.stack_trace
    logged = [json.loads(line) for line in json_log.getvalue().splitlines()]
    traces = [line.get("exception", "") for line in logged if handle.id in line["event"]]
    assert traces and "Traceback" in traces[0] and "a bug, not a refusal" in traces[0], logged


def test_an_update_temporal_handed_back_unprocessed_is_resent_not_a_refusal() -> None:
    """Temporal rejects an update on its own (failure type `UnprocessedUpdate`) when a worker's
    workflow task ended without processing it, as around a server restart: the workflow never
    saw it, so it is no refusal, and the client sends it again instead of saying "refused"."""
    unprocessed = WorkflowUpdateFailedError(
        ApplicationError(
            "Workflow Update is rejected because it wasn't processed by worker.",
            type="UnprocessedUpdate",
            non_retryable=True,
        )
    )
    refused = WorkflowUpdateFailedError(ApplicationError("no such action", type="Refused"))
    assert incidents._unprocessed(unprocessed)
    assert not incidents._unprocessed(refused)
    assert incidents.worth_resending(incidents.DecisionNotDelivered("handed back"))
    assert not incidents.worth_resending(incidents.DecisionRejected("no such action"))
