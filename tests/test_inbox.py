"""The operations inbox: who must act on what by when, published by each incident in its search
attributes and read back from visibility by `remediation inbox` and the Web UI's views."""

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from temporalio.api.common.v1 import SearchAttributes
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.converter import decode_typed_search_attributes, encode_search_attributes

from schemas.decisions import DecisionKind
from schemas.intake import Intake
from schemas.policy import RoleDirectory
from tests.conftest import Cli, Engine, run_remediation
from tests.waiting import eventually
from workers import inbox
from workers import incident_client as incidents
from workers.devstack import examples
from workers.ui_views import list_url, views
from workflows import awaiting
from workflows import search_attributes as sa
from workflows.awaiting import AwaitedItem

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
APPROVAL = AwaitedItem(
    kind="approve",
    awaited_from="role:approver",
    due_at=NOW + timedelta(days=2),
    approval_id="response-1",
    not_from="owner.amara",
)
CHECK_IN = AwaitedItem(kind="check_in", awaited_from="owner.amara", due_at=NOW + timedelta(days=1))
VERIFY = AwaitedItem(kind="verification", awaited_from="role:verifier")


# --- the published line ------------------------------------------------------------------------


def test_awaited_items_read_back_exactly_earliest_due_first() -> None:
    text = awaiting.text([VERIFY, APPROVAL, CHECK_IN])

    assert text == (
        "check_in from owner.amara due 2026-03-03T09:30:00Z; "
        "approve response-1 from role:approver except owner.amara due 2026-03-04T09:30:00Z; "
        "verification from role:verifier"
    )
    assert awaiting.parse(text) == [CHECK_IN, APPROVAL, VERIFY]
    assert awaiting.awaiting_from([VERIFY, APPROVAL, CHECK_IN]) == [
        "owner.amara",
        "role:approver",
        "role:verifier",
    ]
    assert awaiting.parse("") == [] and awaiting.parse(None) == []


def test_the_line_stays_within_what_temporal_accepts_dropping_the_latest() -> None:
    long_id = "o" * 128
    items = [
        AwaitedItem("approve", "role:approver", NOW + timedelta(hours=n), f"a-{n}", long_id)
        for n in range(20)
    ]

    text = awaiting.text(items)

    assert len(text) <= awaiting.MAX_TEXT
    kept = awaiting.parse(text)
    assert kept == items[: len(kept)] and 0 < len(kept) < 20


def test_a_line_that_is_not_an_item_is_named() -> None:
    with pytest.raises(ValueError, match="not an awaited item: 'approve'"):
        awaiting.parse("approve")


def test_an_approval_awaits_an_approver_never_its_author() -> None:
    assert APPROVAL.awaits("approver.sofia", {"approver"})
    assert not APPROVAL.awaits("owner.amara", {"approver"})
    assert not APPROVAL.awaits("approver.sofia", {"verifier"})
    assert CHECK_IN.awaits("owner.amara", set())
    assert not CHECK_IN.awaits("owner.lucas", {"case_owner"})


# --- the inbox's rows --------------------------------------------------------------------------


def _attributes(*items: AwaitedItem) -> dict[str, object]:
    return {
        sa.STEP.name: "response",
        sa.SEVERITY.name: "high",
        sa.CASE_OWNER.name: "owner.amara",
        sa.ESCALATION_LEVEL.name: 1,
        sa.AWAITING_DECISION.name: awaiting.text(items),
    }


def test_rows_are_the_actors_own_items_with_the_command_that_acts() -> None:
    attributes = _attributes(APPROVAL, CHECK_IN, VERIFY)

    approver = inbox.rows_of("incident-A", attributes, "approver.sofia", {"approver"})
    owner = inbox.rows_of("incident-A", attributes, "owner.amara", {"approver"})
    everyone = inbox.rows_of("incident-A", attributes, None, set())

    assert [row.item for row in approver] == [APPROVAL]
    assert [row.item for row in owner] == [CHECK_IN]
    assert [row.item for row in everyone] == [CHECK_IN, APPROVAL, VERIFY]
    assert approver[0].escalation_level == 1 and approver[0].step == "response"
    assert inbox.command(approver[0], "approver.sofia") == (
        """echo '{"approval_id": "response-1"}' | remediation decide incident-A approve - """
        "--as approver.sofia --role approver"
    )
    assert inbox.command(owner[0], "owner.amara") == (
        "remediation decide incident-A check_in check_in.json --as owner.amara --role case_owner"
    )


def test_rows_are_earliest_due_first_and_overdue_is_past_due() -> None:
    late = AwaitedItem("closure", "owner.amara", NOW - timedelta(days=3))
    rows = inbox.ordered(
        [
            *inbox.rows_of("incident-B", _attributes(VERIFY, CHECK_IN), None, set()),
            *inbox.rows_of("incident-C", _attributes(late), None, set()),
        ]
    )

    assert [(row.incident_id, row.item.kind) for row in rows] == [
        ("incident-C", "closure"),
        ("incident-B", "check_in"),
        ("incident-B", "verification"),
    ]
    assert [row.overdue(NOW) for row in rows] == [True, False, False]


def test_a_listed_incident_is_read_as_the_sdk_decodes_its_search_attributes() -> None:
    """The inbox decodes only the attributes a row shows, from the listing's payloads: the same
    values as the SDK's decoding, and nothing of the others."""
    published = TypedSearchAttributes(
        [
            SearchAttributePair(sa.STEP, "response"),
            SearchAttributePair(sa.SEVERITY, "high"),
            SearchAttributePair(sa.CASE_OWNER, "owner.amara"),
            SearchAttributePair(sa.ESCALATION_LEVEL, 2),
            SearchAttributePair(sa.AWAITING_DECISION, awaiting.text([APPROVAL, CHECK_IN])),
            SearchAttributePair(sa.AWAITING_FROM, ["owner.amara", "role:approver"]),
            SearchAttributePair(sa.MINERAL, ["tin"]),
            SearchAttributePair(sa.NEXT_DEADLINE, NOW),
        ]
    )
    encoded = SearchAttributes()
    encode_search_attributes(published, encoded)
    by_the_sdk = {pair.key.name: pair.value for pair in decode_typed_search_attributes(encoded)}

    shown = inbox.shown_attributes(encoded.indexed_fields)

    assert shown == {name: by_the_sdk[name] for name in inbox.SHOWN}
    assert inbox.rows_of("incident-A", shown, None, set()) == inbox.rows_of(
        "incident-A", by_the_sdk, None, set()
    )
    assert inbox.shown_attributes(SearchAttributes().indexed_fields) == {}


def test_the_policy_gives_the_roles_it_lists_the_actor_under() -> None:
    directory = RoleDirectory(approver=["approver.sofia"], verifier=None, case_owner=["x"])

    assert inbox.listed_roles(directory, "approver.sofia") == {"approver"}
    assert inbox.listed_roles(directory, "someone.else") == set()
    assert inbox.query("approver.sofia", {"approver"}).endswith(
        "AwaitingFrom IN ('approver.sofia', 'role:approver')"
    )


def test_a_views_url_carries_its_query() -> None:
    by_name = {view.name: view for view in views("owner.amara", ["case_owner"])}

    url = list_url("http://localhost:8233/", "default", by_name["my cases"].query)

    parts = urlsplit(url)
    assert parts.path == "/namespaces/default/workflows"
    assert parse_qs(parts.query)["query"] == [
        "WorkflowType = 'IncidentWorkflow' AND ExecutionStatus = 'Running' "
        "AND CaseOwner = 'owner.amara'"
    ]
    assert set(by_name) == {
        "my cases",
        "awaiting me",
        "awaiting my approval",
        "awaiting verification",
        "unassigned",
        "overdue",
        "critical",
        "escalated to level 2 or more",
    }
    assert "AwaitingFrom IN ('owner.amara', 'role:case_owner')" in by_name["awaiting me"].query


# --- the real path: a worker publishes, visibility answers -------------------------------------


async def _open(engine: Engine, **changes: Any) -> str:
    intake = Intake.model_validate(examples.intake(**changes))
    return await incidents.open_incident(engine.client, intake, task_queue=engine.task_queue)


async def _published(engine: Engine, incident_id: str) -> dict[str, Any]:
    description = await engine.client.get_workflow_handle(incident_id).describe()
    return {pair.key.name: pair.value for pair in description.typed_search_attributes}


async def test_incidents_publish_who_is_awaited_and_the_inbox_finds_it(
    cli: Cli, engine: Engine
) -> None:
    owner = f"owner.inbox-{uuid.uuid4().hex[:8]}"
    unassigned = await _open(engine)
    at_approval = await _open(engine, case_owner=owner)
    acknowledge = examples.acknowledge()
    acknowledge["actor"] = {"id": owner, "roles": ["case_owner"]}
    await incidents.decide(engine.client, at_approval, DecisionKind.ACKNOWLEDGE, acknowledge)
    await incidents.decide(
        engine.client, at_approval, DecisionKind.VERIFICATION, examples.verification()
    )
    status = await incidents.status(engine.client, at_approval)
    assert status.proposed_response_level is not None
    response = examples.response(status.proposed_response_level)
    response["actor"] = {"id": owner, "roles": ["case_owner"]}
    await incidents.decide(engine.client, at_approval, DecisionKind.RESPONSE, response)

    published = await _published(engine, at_approval)
    assert published[sa.CASE_OWNER.name] == owner
    assert published[sa.AWAITING_FROM.name] == ["role:approver"]
    [approval] = awaiting.parse(published[sa.AWAITING_DECISION.name])
    assert (approval.kind, approval.approval_id, approval.not_from) == (
        "approve",
        "response-1",
        owner,
    )
    assert approval.due_at is not None
    alone = await _published(engine, unassigned)
    assert alone[sa.CASE_OWNER.name] == sa.UNASSIGNED
    assert set(alone[sa.AWAITING_FROM.name]) == {"role:case_owner"}

    # The approver sees the approval, the author does not, even claiming the role.
    async def approver_sees_it() -> list[dict[str, Any]] | None:
        ran = await cli("inbox", "--as", "approver.sofia", "--role", "approver", "--json")
        assert ran.code == 0, ran.stderr
        return [row for row in ran.json if row["incident_id"] == at_approval] or None

    [row] = await eventually(approver_sees_it, "the approval in the approver's inbox")
    assert row["decision"] == "approve" and row["approval_id"] == "response-1"
    assert row["step"] == "response" and row["overdue"] is False
    assert row["command"].startswith("""echo '{"approval_id": "response-1"}' | remediation""")
    author = await cli("inbox", "--as", owner, "--role", "approver", "--json")
    assert at_approval not in {row["incident_id"] for row in author.json}

    # The table: the row, the command, the count; the unassigned case awaits case owners.
    table = await cli("inbox", "--role", "case_owner")
    assert table.code == 0, table.stderr
    assert unassigned in table.stdout
    assert f"remediation decide {unassigned} acknowledge acknowledge.json" in table.stdout
    assert "awaited," in table.stdout.splitlines()[-1]
    nothing = await cli("inbox", "--as", owner, "--overdue")
    assert nothing.stdout.strip() == f"Nothing overdue awaits {owner}."


async def test_links_print_the_views_with_the_roles_the_policy_gives(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('version = "t-1"\n\n[roles]\napprover = ["approver.sofia"]\n')
    env = {
        "REMEDIATION_DATA_DIR": str(tmp_path / "data"),
        "REMEDIATION_POLICY_FILE": str(policy),
    }

    ran = await run_remediation(
        "inbox", "--links", "--as", "approver.sofia", "--ui-url", "http://ui.example:8233",
        env=env,
    )  # fmt: skip

    assert ran.code == 0, ran.stderr
    names = ran.stdout.splitlines()[::2]
    urls = [line.strip() for line in ran.stdout.splitlines()[1::2]]
    assert names[:3] == ["my cases:", "awaiting me:", "awaiting my approval:"]
    assert all(
        url.startswith("http://ui.example:8233/namespaces/default/workflows?query=") for url in urls
    )
    awaiting_me = parse_qs(urlsplit(urls[1]).query)["query"][0]
    assert awaiting_me.endswith("AwaitingFrom IN ('approver.sofia', 'role:approver')")


async def test_an_incident_started_with_attributes_of_its_own_is_named_not_a_crash(
    cli: Cli, engine: Engine
) -> None:
    from temporalio.common import SearchAttributePair, TypedSearchAttributes

    owner = f"owner.inbox-{uuid.uuid4().hex[:8]}"
    mine = await _open(engine, case_owner=owner)
    # Any client can start the incident's workflow type with search attributes of its own; no
    # worker polls this queue, so it stays as started.
    forged = await engine.client.start_workflow(
        "IncidentWorkflow",
        id=f"incident-forged-{uuid.uuid4().hex[:8]}",
        task_queue="nobody-polls-this",
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.AWAITING_FROM, [owner]),
                SearchAttributePair(sa.AWAITING_DECISION, "anything at all"),
            ]
        ),
    )
    try:

        async def both_listed() -> Any:
            ran = await cli("inbox", "--as", owner, "--json")
            listed = {row["incident_id"] for row in ran.json} if ran.code == 0 else set()
            return ran if mine in listed and forged.id in ran.stderr else None

        ran = await eventually(both_listed, "the forged incident named beside the real one")
        assert ran.code == 0
        assert f"warning: {forged.id} left out" in ran.stderr
        assert "Traceback" not in ran.stderr
    finally:
        await forged.terminate()


async def test_each_page_of_the_read_is_bounded_not_the_whole_read(engine: Engine) -> None:
    """A large portfolio's read is long but not stuck: the bound is per page, so reading many
    pages is never refused for their number, and a page that does not come is."""
    owner = f"owner.inbox-{uuid.uuid4().hex[:8]}"
    opened = {await _open(engine, case_owner=owner) for _ in range(3)}
    service = engine.client.workflow_service
    namespace = engine.client.namespace

    async def all_three_in_pages_of_one() -> inbox.Inbox | None:
        found = await inbox.read(service, namespace, owner, [], page_size=1, page_timeout=30)
        return found if {row.incident_id for row in found.rows} == opened else None

    found = await eventually(all_three_in_pages_of_one, "three incidents read a page each")
    assert not found.unreadable
    with pytest.raises(TimeoutError):
        await inbox.read(service, namespace, owner, [], page_size=1, page_timeout=0)
