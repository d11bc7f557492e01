"""Temporal's HTTP API as an integration without an SDK uses it: plain JSON in, JSON out.

Payloads travel in the API's shorthand (a JSON value per argument), unencrypted: the worker
decodes them as it decodes plain JSON from any client without the codec.
"""

import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

COMPLETED = "UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED"


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def text(self) -> str:
        return str(self.body)


async def post(url: str, body: dict[str, Any], *, timeout: float = 30) -> Answer:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
        session.post(url, json=body) as response,
    ):
        text = await response.text()
        try:
            parsed: Any = await response.json(content_type=None)
        except ValueError:
            parsed = text
        return Answer(response.status, parsed)


async def start(
    api: str,
    workflow_id: str,
    task_queue: str,
    payload: Any,
    workflow_type: str = "IncidentWorkflow",
) -> Answer:
    return await post(
        f"{api}/workflows/{workflow_id}",
        {
            "workflowType": {"name": workflow_type},
            "taskQueue": {"name": task_queue},
            "input": [payload],
            "requestId": str(uuid.uuid4()),
        },
    )


async def update(
    api: str, workflow_id: str, name: str, payload: Any, *, update_id: str | None = None
) -> Answer:
    return await post(
        f"{api}/workflows/{workflow_id}/update/{name}",
        {
            "request": {
                "meta": {"updateId": update_id or str(uuid.uuid4())},
                "input": {"name": name, "args": [payload]},
            },
            "waitPolicy": {"lifecycleStage": COMPLETED},
        },
    )


async def signal(api: str, workflow_id: str, name: str, payload: Any) -> Answer:
    return await post(f"{api}/workflows/{workflow_id}/signal/{name}", {"input": [payload]})
