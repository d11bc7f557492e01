"""`remediation up --demo` seeds fictional incidents in different steps, once."""

from schemas.vocabulary import Step
from tests.conftest import Engine
from workers import incident_client as incidents
from workers.devstack.demo import seed_demo


async def test_demo_incidents_land_in_different_steps_once(engine: Engine) -> None:
    opened = await seed_demo(engine.client, engine.task_queue)
    assert len(opened) == 5
    steps = [(await incidents.status(engine.client, i)).step for i in opened[:4]]
    assert steps == [Step.VERIFICATION, Step.VERIFICATION, Step.RESPONSE, Step.IMPLEMENTATION]
    await engine.client.get_workflow_handle(opened[4]).result()
    assert await seed_demo(engine.client, engine.task_queue) == []
