"""Victims' data end to end on the real dev server, worker and register (docs/design.md,
Victims' data).

Seeded personal-data strings must not be readable from Temporal's raw history (fetched without
the codec) nor from a dump of every register table; after an erasure, the victim's data cannot be
recovered from either, even with the key ring.
"""

import base64
import uuid
from typing import Any

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError

from activities.victim_vault import VictimErased, read_victim, victim_data_key
from schemas.actor import Actor
from schemas.decisions import DecisionKind
from schemas.erasure import ErasureRequest
from schemas.history import TimelineEvent
from schemas.intake import Intake
from schemas.policy import Policy, RoleDirectory
from schemas.victims import VictimPersonalData, sealing_context
from schemas.vocabulary import Step
from tests.conftest import TEST_DATA_CONVERTER, TEST_KEY_RING, Cli, Engine
from tests.test_incident_lifecycle import decide, finish, open_incident, to_response, wait_for
from tests.waiting import eventually
from workers import incident_client as incidents
from workers.devstack import examples
from workers.keyring import KeyRing, KeyRingError, open_sealed
from workers.settings import load_settings
from workers.worker import build_worker

OWNER = Actor.model_validate(examples.CASE_OWNER)


def marker(label: str) -> str:
    """A personal-data string that appears nowhere else."""
    return f"{label}-{uuid.uuid4().hex[:10]}"


def personal_data(name: str, contact: str) -> VictimPersonalData:
    return VictimPersonalData(name=name, contact=contact, nationality="CD", languages=["Swahili"])


async def raw_history(engine: Engine, incident_id: str) -> str:
    """The history as stored, read by a client without the codec."""
    target = engine.client.service_client.config.target_host
    plain = await Client.connect(target, namespace=engine.client.namespace)
    history = await plain.get_workflow_handle(incident_id).fetch_history()
    return history.to_json()


async def register_dump(pool: asyncpg.Pool) -> str:
    """Every row of every table of the register, as text."""
    tables = await pool.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    lines = []
    for table in tables:
        rows = await pool.fetch(f'SELECT t::text AS row FROM "{table["tablename"]}" t')
        lines += [row["row"] for row in rows]
    return "\n".join(lines)


async def sealed_copies_in_history(engine: Engine, incident_id: str, victim_id: str) -> list[str]:
    """The sealed personal data of every accepted `record_victim` update for the victim,
    opened with the codec (the key ring): what anyone holding the ring could read."""
    history = await engine.client.get_workflow_handle(incident_id).fetch_history()
    sealed = []
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            continue
        request = event.workflow_execution_update_accepted_event_attributes.accepted_request
        if request.input.name != DecisionKind.RECORD_VICTIM:
            continue
        payloads = await TEST_DATA_CONVERTER.decode(list(request.input.args.payloads), [dict])
        decision: dict[str, Any] = payloads[0]
        if decision["victim_id"] == victim_id and decision.get("personal_data"):
            sealed.append(decision["personal_data"]["ciphertext"])
    return sealed


async def last_event(engine: Engine, incident_id: str, kind: str, after: int) -> TimelineEvent:
    """The newest event, once there are more than `after` (a signal is handled a little later)."""

    async def longer() -> list[TimelineEvent] | None:
        timeline = await incidents.timeline(engine.client, incident_id)
        return timeline if len(timeline) > after else None

    newest = (await eventually(longer, f"{incident_id} recording a {kind} event"))[-1]
    assert newest.kind == kind
    return newest


async def record(
    engine: Engine, incident_id: str, victim_id: str, data: VictimPersonalData | None, **kw: Any
) -> None:
    await incidents.record_victim(
        engine.client,
        engine.pool,
        kw.pop("ring", TEST_KEY_RING),
        incident_id,
        victim_id=victim_id,
        child=kw.pop("child", False),
        personal_data=data,
        actor=OWNER,
    )


async def test_personal_data_is_unreadable_without_the_keys_and_gone_after_erasure(
    engine: Engine,
) -> None:
    reporter, reporter_contact, told = marker("Reporter"), marker("+243"), marker("Foreman")
    victim, victim_contact, child = marker("Zawadi"), marker("Village"), marker("Baraka")
    signalled = marker("Plaintext")
    incident_id = await open_incident(
        engine,
        reporter={"anonymous": False, "name": reporter, "contact": reporter_contact},
        description=f"{told} holds the workers' papers at the pit.",
    )
    await decide(engine, incident_id, "acknowledge", examples.acknowledge())
    await record(engine, incident_id, "V-0001", personal_data(victim, victim_contact))
    await record(engine, incident_id, "V-0002", personal_data(child, "school"), child=True)
    # A sender that puts personal data in the clear is refused, and only the message's shape is
    # kept in the register.
    await incidents.signal(
        engine.client,
        incident_id,
        DecisionKind.RECORD_VICTIM,
        {
            "actor": examples.CASE_OWNER,
            "victim_id": "V-0009",
            "child": False,
            "personal_data": {"name": signalled},
        },
    )
    last = await last_event(engine, incident_id, "record_victim", after=4)
    assert last.outcome == "refused"

    seeded = [reporter, reporter_contact, told, victim, victim_contact, child, signalled]
    history, dump = await raw_history(engine, incident_id), await register_dump(engine.pool)
    assert [s for s in seeded if s in history] == []
    assert [s for s in seeded if s in dump] == []

    # Those holding the keys can read it back: the register opens each victim's record.
    opened = await read_victim(engine.pool, TEST_KEY_RING, incident_id, "V-0001")
    assert opened is not None and opened.personal_data is not None
    assert opened.personal_data.name == victim
    # Even decoded with the key ring, the history holds the victim's data only sealed.
    [ciphertext] = await sealed_copies_in_history(engine, incident_id, "V-0001")
    assert victim not in ciphertext
    key = await victim_data_key(engine.pool, TEST_KEY_RING, incident_id, "V-0001")
    context = sealing_context(incident_id, "V-0001")
    assert victim.encode() in open_sealed(key, base64.b64decode(ciphertext), context)

    requested = await decide(engine, incident_id, "erase_victim", examples.erase_victim("V-0001"))
    assert requested.approval_id is not None
    await decide(engine, incident_id, "approve", examples.approve(requested.approval_id))

    erased = await read_victim(engine.pool, TEST_KEY_RING, incident_id, "V-0001")
    assert erased is not None
    assert erased.personal_data is None and erased.erased_by == "approver.sofia"
    with pytest.raises(VictimErased):
        await victim_data_key(engine.pool, TEST_KEY_RING, incident_id, "V-0001")
    key_row = await engine.pool.fetchrow(
        "SELECT * FROM victim_keys WHERE incident_id = $1 AND victim_id = 'V-0001'", incident_id
    )
    assert key_row is not None and key_row["wrapped_key"] is None
    # The sealed copy in Temporal's history is still there, and no key that exists opens it.
    [ciphertext] = await sealed_copies_in_history(engine, incident_id, "V-0001")
    for ring_key in TEST_KEY_RING.keys.values():
        with pytest.raises(KeyRingError):
            open_sealed(ring_key, base64.b64decode(ciphertext), context)
    dump = await register_dump(engine.pool)
    assert ciphertext not in dump  # every sealed copy the register held is gone too
    # The other victim and the anonymised case remain.
    other = await read_victim(engine.pool, TEST_KEY_RING, incident_id, "V-0002")
    assert other is not None and other.personal_data is not None
    status = await incidents.status(engine.client, incident_id)
    assert {v.victim_id: v.erased_at is not None for v in status.victims} == {
        "V-0001": True,
        "V-0002": False,
    }
    refused = incidents.DecisionRejected
    with pytest.raises(refused, match="V-0001's record was erased"):
        await decide(engine, incident_id, "record_consent", examples.record_consent("V-0001"))


async def test_old_victims_stay_readable_after_key_rotation(engine: Engine) -> None:
    incident_id = await open_incident(engine)
    await decide(engine, incident_id, "acknowledge", examples.acknowledge())
    await record(engine, incident_id, "V-0001", personal_data("Before Rotation", "a"))
    rotated = TEST_KEY_RING.with_new_current_key()
    await record(engine, incident_id, "V-0002", personal_data("After Rotation", "b"), ring=rotated)

    before = await read_victim(engine.pool, rotated, incident_id, "V-0001")
    after = await read_victim(engine.pool, rotated, incident_id, "V-0002")
    assert before is not None and before.personal_data is not None
    assert after is not None and after.personal_data is not None
    assert before.personal_data.name == "Before Rotation"
    wrapping = await engine.pool.fetch(
        "SELECT victim_id, wrapping_key_id FROM victim_keys WHERE incident_id = $1 "
        "ORDER BY victim_id",
        incident_id,
    )
    assert [(r["victim_id"], r["wrapping_key_id"]) for r in wrapping] == [
        ("V-0001", TEST_KEY_RING.current_key_id),
        ("V-0002", rotated.current_key_id),
    ]
    # A ring that lost the old key cannot open what it wrapped, and says which key is missing.
    only_new = KeyRing(
        rotated.current_key_id, {rotated.current_key_id: rotated.keys[rotated.current_key_id]}
    )
    with pytest.raises(KeyRingError, match=TEST_KEY_RING.current_key_id):
        await read_victim(engine.pool, only_new, incident_id, "V-0001")


async def test_roles_come_from_the_policy_and_the_assignments(engine: Engine) -> None:
    deployment = Policy(
        roles=RoleDirectory(approver=["approver.sofia"], verifier=["verifier.kenji"])
    )
    task_queue = f"roles-{uuid.uuid4().hex[:8]}"
    settings = load_settings(task_queue=task_queue, database_url="postgresql://unused")
    async with build_worker(engine.client, settings, engine.pool, policy=deployment):
        await _roles_are_enforced(Engine(engine.client, task_queue, engine.pool))


async def _roles_are_enforced(engine: Engine) -> None:
    # The sender of the intake cannot name the approvers: the deployment's roles apply.
    own_roles = Policy(roles=RoleDirectory(approver=["owner.amara"]))
    incident_id = await incidents.open_incident(
        engine.client,
        Intake.model_validate(examples.intake()),
        task_queue=engine.task_queue,
        policy=own_roles,
    )
    await decide(engine, incident_id, "acknowledge", examples.acknowledge())
    refused = incidents.DecisionRejected
    impostor = {"id": "owner.lucas", "roles": ["case_owner"]}
    with pytest.raises(refused, match=r"owner.lucas is not the case owner .*owner.amara is"):
        await decide(engine, incident_id, "record_victim", examples.record_victim(actor=impostor))
    stranger = {"id": "verifier.unlisted", "roles": ["verifier"]}
    with pytest.raises(refused, match="does not hold the verifier role"):
        await decide(
            engine, incident_id, "verification", {**examples.verification(), "actor": stranger}
        )
    await decide(engine, incident_id, "verification", examples.verification())
    before = await incidents.status(engine.client, incident_id)
    assert before.proposed_response_level is not None
    requested = await decide(
        engine, incident_id, "response", examples.response(before.proposed_response_level)
    )
    assert requested.approval_id is not None
    pending = await incidents.status(engine.client, incident_id)
    self_approval = examples.approve(
        requested.approval_id, actor={"id": "owner.amara", "roles": ["approver"]}
    )
    with pytest.raises(refused, match="does not hold the approver role"):
        await decide(engine, incident_id, "approve", self_approval)
    unlisted = examples.approve(
        requested.approval_id, actor={"id": "approver.other", "roles": ["approver"]}
    )
    with pytest.raises(refused, match="does not hold the approver role"):
        await decide(engine, incident_id, "approve", unlisted)
    assert await incidents.status(engine.client, incident_id) == pending  # nothing changed
    await decide(engine, incident_id, "approve", examples.approve(requested.approval_id))


async def test_victims_consent_and_erasure_through_a_whole_incident(engine: Engine) -> None:
    """The protection decisions on the way through every step (its history is replayed)."""
    incident_id = await open_incident(engine)
    await decide(engine, incident_id, "acknowledge", examples.acknowledge())
    for victim_id in ("V-0001", "V-0002"):
        await record(engine, incident_id, victim_id, personal_data(marker("V"), "c"))
    await record(engine, incident_id, "V-0003", personal_data(marker("C"), "c"), child=True)
    await decide(engine, incident_id, "verification", examples.verification())
    status = await incidents.status(engine.client, incident_id)
    assert status.proposed_response_level is not None
    response = await decide(
        engine, incident_id, "response", examples.response(status.proposed_response_level)
    )
    assert response.approval_id is not None
    await decide(engine, incident_id, "approve", examples.approve(response.approval_id))
    await decide(engine, incident_id, "best_interests", examples.best_interests("V-0003"))
    child_action = examples.action(
        "A3",
        category="assistance",
        remedy_type=None,
        assistance_type="education",
        beneficiaries=["V-0003"],
        concerns_children=True,
        uses_victim_data=False,
    )
    plan = examples.action_plan(
        [examples.action("A1"), examples.action("A2"), child_action],
        consents=[examples.consent(v) for v in ("V-0001", "V-0002", "V-0003")],
    )
    planned = await decide(engine, incident_id, "action_plan", plan)
    assert planned.approval_id is not None
    await decide(engine, incident_id, "approve", examples.approve(planned.approval_id))
    await decide(engine, incident_id, "share_victim_data", examples.share_victim_data("V-0002"))
    await decide(engine, incident_id, "withdraw_consent", examples.withdraw_consent("V-0002"))
    with pytest.raises(incidents.DecisionRejected, match="does not cover sharing"):
        await decide(engine, incident_id, "share_victim_data", examples.share_victim_data("V-0002"))
    partner = await incidents.partner_actions(engine.client, incident_id, "partner.ngo-horizon")
    assert [a.action_id for a in partner.actions] == ["A1", "A2", "A3"]
    progress = [examples.progress(a, "completed") for a in ("A1", "A2", "A3")]
    await decide(engine, incident_id, "check_in", examples.check_in(progress))
    closure = await decide(engine, incident_id, "closure", examples.closure())
    assert closure.approval_id is not None
    await decide(engine, incident_id, "approve", examples.approve(closure.approval_id))
    erasure = await decide(engine, incident_id, "erase_victim", examples.erase_victim("V-0001"))
    assert erasure.approval_id is not None
    await decide(engine, incident_id, "approve", examples.approve(erasure.approval_id))
    await wait_for(engine, incident_id, Step.LESSONS_LEARNED)
    await decide(engine, incident_id, "lessons_learned", examples.lessons())
    await wait_for(engine, incident_id, Step.FOLLOW_UP)
    await decide(engine, incident_id, "follow_up", examples.follow_up())
    outcome = await finish(engine, incident_id, "victim-protection")
    assert outcome["case_status"] == "closed"
    erased = await read_victim(engine.pool, TEST_KEY_RING, incident_id, "V-0001")
    assert erased is not None and erased.erased_at is not None


async def test_a_plan_serves_a_victim_whose_consent_was_recorded_before_it(engine: Engine) -> None:
    """Consent recorded with record_consent counts for the plan; withdrawn, it no longer does."""
    incident_id = await open_incident(engine)
    level = await to_response(engine, incident_id)
    response = await decide(engine, incident_id, "response", examples.response(level))
    assert response.approval_id is not None
    await decide(engine, incident_id, "approve", examples.approve(response.approval_id))
    await record(engine, incident_id, "V-0001", personal_data(marker("V"), "c"))
    await decide(engine, incident_id, "record_consent", examples.record_consent("V-0001"))
    [victim] = (await incidents.status(engine.client, incident_id)).victims
    assert victim.consent == ["services", "data sharing with partner.ngo-horizon"]
    serving = examples.action("A1", beneficiaries=["V-0001"])
    plan = examples.action_plan([serving], consents=[])
    planned = await decide(engine, incident_id, "action_plan", plan)
    assert planned.approval_id is not None
    await decide(engine, incident_id, "approve", examples.approve(planned.approval_id))
    implementing = await wait_for(engine, incident_id, Step.IMPLEMENTATION)
    assert [a.action_id for a in implementing.actions] == ["A1"]
    await decide(
        engine, incident_id, "withdraw_consent", examples.withdraw_consent("V-0001", ["services"])
    )
    more = {
        "actor": examples.CASE_OWNER,
        "reason": "More support.",
        "add": [examples.action("A2", beneficiaries=["V-0001"])],
    }
    with pytest.raises(incidents.DecisionRejected, match="A2 serves V-0001, who has no recorded"):
        await decide(engine, incident_id, "amend_plan", more)


async def test_victim_commands(
    cli: Cli, engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    incident_id = await open_incident(engine)
    await decide(engine, incident_id, "acknowledge", examples.acknowledge())
    name = marker("Neema")
    data = f'{{"name": "{name}", "contact": "via the NGO"}}'
    recorded = await cli(
        "victim", "record", incident_id, "V-0001", "-", "--as", "owner.amara", stdin=data
    )
    assert recorded.code == 0, recorded.stderr
    assert "Victim V-0001 (adult) recorded; personal data sealed" in recorded.stdout
    shown = await cli("victim", "show", incident_id, "V-0001")
    assert shown.code == 0, shown.stderr
    assert name in shown.stdout
    bad = await cli("victim", "record", incident_id, "Jane", "--as", "owner.amara")
    assert bad.code == 2 and "not a pseudonymous victim id" in bad.stderr
    named = await cli("erase-victim", incident_id, "Jane", "--reason", "r", "--as", "owner.amara")
    assert named.code == 2 and "not a pseudonymous victim id" in named.stderr
    asked = await cli(
        "erase-victim",
        incident_id,
        "V-0001",
        "--reason",
        "Asked by the victim.",
        "--as",
        "owner.amara",
        "--json",
    )
    assert asked.code == 0, asked.stderr
    assert asked.json["workflow_id"] == incident_id  # still running: the incident's own decision
    approval = asked.json["approval_id"]
    approved = await cli(
        "decide",
        incident_id,
        "approve",
        "-",
        "--as",
        "approver.sofia",
        "--role",
        "approver",
        stdin=f'{{"approval_id": "{approval}"}}',
    )
    assert approved.code == 0, approved.stderr
    shown = await cli("victim", "show", incident_id, "V-0001")
    assert "erased" in shown.stdout and name not in shown.stdout
    again = await cli(
        "victim", "record", incident_id, "V-0001", "-", "--as", "owner.amara", stdin=data
    )
    assert again.code == 1 and "was erased" in again.stderr


async def test_a_victim_of_an_ended_incident_is_erased_through_an_erasure_workflow(
    engine: Engine,
) -> None:
    incident_id = await open_incident(engine)
    await decide(engine, incident_id, "acknowledge", examples.acknowledge())
    name = marker("Imani")
    await record(engine, incident_id, "V-0001", personal_data(name, "c"))
    closing = await decide(
        engine,
        incident_id,
        "close_early",
        {"actor": examples.CASE_OWNER, "reason": "withdrawn", "explanation": "Fictional."},
    )
    assert closing.approval_id is not None
    await decide(engine, incident_id, "approve", examples.approve(closing.approval_id))
    await engine.client.get_workflow_handle(incident_id).result()

    def ask(victim_id: str, actor: dict[str, Any] = examples.CASE_OWNER) -> Any:
        return incidents.request_erasure(
            engine.client,
            incident_id,
            victim_id,
            reason="Fictional: asked by the victim.",
            actor=Actor.model_validate(actor),
            task_queue=engine.task_queue,
        )

    still_open = await open_incident(engine)
    await decide(engine, still_open, "acknowledge", examples.acknowledge())
    early = await engine.client.start_workflow(
        "VictimErasureWorkflow",
        ErasureRequest(
            incident_id=still_open,
            victim_id="V-0001",
            reason="Fictional.",
            requested_by=OWNER,
        ),
        id=f"erasure-{still_open}-V-0001",
        task_queue=engine.task_queue,
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await early.result()
    assert "is still open: erase through its own erase_victim decision" in str(failed.value.cause)
    with pytest.raises(incidents.ErasureRefused, match="V-0042 is not a recorded victim"):
        await ask("V-0042")
    with pytest.raises(incidents.ErasureRefused, match=r"only the case owner .*owner.amara"):
        await ask("V-0001", {"id": "owner.lucas", "roles": ["case_owner"]})
    requested = await ask("V-0001")
    assert requested.workflow_id == f"erasure-{incident_id}-V-0001"
    with pytest.raises(incidents.ErasureRefused, match="already awaiting approval"):
        await ask("V-0001")
    self_approval = examples.approve("erasure", actor={"id": "owner.amara", "roles": ["approver"]})
    with pytest.raises(incidents.DecisionRejected, match="cannot also decide it"):
        await decide(engine, requested.workflow_id, "approve", self_approval)
    approved = await decide(engine, requested.workflow_id, "approve", examples.approve("erasure"))
    assert approved.outcome == "approved"
    await finish(engine, requested.workflow_id, "victim-erasure")

    erased = await read_victim(engine.pool, TEST_KEY_RING, incident_id, "V-0001")
    assert erased is not None and erased.personal_data is None
    assert erased.erased_by == "approver.sofia"
    assert name not in await register_dump(engine.pool)
    audited = await engine.pool.fetchval(
        "SELECT count(*) FROM audit_trail WHERE incident_id = $1 AND action = 'victim.erased'",
        incident_id,
    )
    assert audited == 1
    with pytest.raises(incidents.ErasureRefused, match="already erased"):
        await ask("V-0001")
