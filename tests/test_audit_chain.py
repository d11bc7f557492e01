"""The tamper-evident audit trail: a hash chain per incident, built by the database on insert,
checked by `verify_chain` and `remediation audit verify`."""

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from temporalio.testing import ActivityEnvironment

from activities.audit_entries import write_audit
from activities.audit_trail import BrokenLink, ChainFailure, ChainReport, verify_chain
from activities.database import open_pool
from schemas.actor import Actor, Role
from schemas.audit import AuditEntry
from tests.conftest import CreateDatabase, Ran, run_remediation
from tests.probe_workflow import AuditTrail
from workers.migrations import apply_migrations, load_migrations

START = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def _incident() -> str:
    return f"incident-CHAIN-{uuid.uuid4().hex[:8]}"


def _entry(incident_id: str, n: int) -> AuditEntry:
    return AuditEntry(
        entry_id=uuid.uuid4(),
        incident_id=incident_id,
        occurred_at=START + timedelta(hours=n),
        actor=Actor(id=f"case-owner-{n}", roles=(Role.CASE_OWNER, Role.APPROVER)),
        action="decision.acknowledge",
        reason=f"reason {n}",
        details={"n": n, "severity": "high"},
    )


async def _record(pool: asyncpg.Pool, entry: AuditEntry) -> bool:
    """The activity's write path: one INSERT on its own."""
    return await ActivityEnvironment().run(AuditTrail(pool).record_audit_entry, entry)


async def _record_in_register(pool: asyncpg.Pool, entry: AuditEntry) -> None:
    """The case register's write path: inside a transaction that also writes other rows."""
    async with pool.acquire() as connection, connection.transaction():
        await write_audit(connection, entry)


async def _trail(pool: asyncpg.Pool, incident_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT sequence, entry_id, previous_hash, row_hash, "
        "       row_hash = audit_trail_row_hash(entry) AS hash_matches "
        "FROM audit_trail AS entry WHERE incident_id = $1 ORDER BY sequence",
        incident_id,
    )


def _assert_linked(rows: list[asyncpg.Record]) -> None:
    assert rows
    assert rows[0]["previous_hash"] is None
    for before, row in itertools.pairwise(rows):
        assert row["previous_hash"] == before["row_hash"]
    assert all(row["hash_matches"] and len(row["row_hash"]) == 32 for row in rows)


async def _intact(pool: asyncpg.Pool, incident_id: str, rows: int) -> None:
    report = await verify_chain(pool, incident_id)
    assert report == ChainReport(incidents_checked=1, rows_checked=rows, broken=[])
    assert report.ok


async def _tamper(pool: asyncpg.Pool, statement: str, *args: object) -> None:
    """What only a superuser can do: lift the append-only trigger, change the trail, restore it."""
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(
            "ALTER TABLE audit_trail DISABLE TRIGGER audit_trail_no_update_or_delete"
        )
        await connection.execute(statement, *args)
        await connection.execute(
            "ALTER TABLE audit_trail ENABLE TRIGGER audit_trail_no_update_or_delete"
        )


async def _incident_with(pool: asyncpg.Pool, count: int) -> tuple[str, list[asyncpg.Record]]:
    incident_id = _incident()
    for n in range(count):
        await _record(pool, _entry(incident_id, n))
    return incident_id, await _trail(pool, incident_id)


# --- building the chain ----------------------------------------------------------------------


async def test_both_write_paths_extend_one_chain(register_pool: asyncpg.Pool) -> None:
    incident_id = _incident()
    for n in range(6):
        write = _record if n % 2 else _record_in_register
        await write(register_pool, _entry(incident_id, n))

    _assert_linked(await _trail(register_pool, incident_id))
    await _intact(register_pool, incident_id, 6)


async def test_a_redelivered_entry_leaves_no_gap_or_wrong_link(
    register_pool: asyncpg.Pool,
) -> None:
    incident_id = _incident()
    first, second, third = (_entry(incident_id, n) for n in range(3))
    assert await _record(register_pool, first)
    assert await _record(register_pool, second)
    # The chain trigger runs for the duplicates too (BEFORE INSERT precedes the conflict check);
    # what it computed is discarded with the row.
    assert not await _record(register_pool, first)
    await _record_in_register(register_pool, second)
    assert await _record(register_pool, third)

    rows = await _trail(register_pool, incident_id)
    assert [row["entry_id"] for row in rows] == [e.entry_id for e in (first, second, third)]
    _assert_linked(rows)
    await _intact(register_pool, incident_id, 3)


async def test_interleaved_incidents_keep_separate_chains(register_pool: asyncpg.Pool) -> None:
    one, two = _incident(), _incident()
    for n in range(4):
        await _record(register_pool, _entry(one, n))
        await _record_in_register(register_pool, _entry(two, n))

    for incident_id in (one, two):
        _assert_linked(await _trail(register_pool, incident_id))
        await _intact(register_pool, incident_id, 4)


async def test_concurrent_writers_of_one_incident_build_one_chain(
    database_url: str,
) -> None:
    incident_id = _incident()
    entries = [_entry(incident_id, n) for n in range(60)]
    pool = await open_pool(database_url, max_size=20)
    try:
        await asyncio.gather(
            *(
                (_record if n % 3 else _record_in_register)(pool, entry)
                for n, entry in enumerate(entries)
            )
        )
        rows = await _trail(pool, incident_id)
    finally:
        await pool.close()

    assert {row["entry_id"] for row in rows} == {e.entry_id for e in entries}
    _assert_linked(rows)
    await _intact_on(database_url, incident_id, 60)


async def _intact_on(database_url: str, incident_id: str, rows: int) -> None:
    pool = await open_pool(database_url, max_size=1)
    try:
        await _intact(pool, incident_id, rows)
    finally:
        await pool.close()


async def test_writing_outside_read_committed_is_refused(register_pool: asyncpg.Pool) -> None:
    # A snapshot older than the chain's head would fork the chain: the trigger refuses it.
    async with register_pool.acquire() as connection:
        with pytest.raises(asyncpg.InvalidTransactionStateError, match="READ COMMITTED"):
            async with connection.transaction(isolation="repeatable_read"):
                await write_audit(connection, _entry(_incident(), 0))


# --- detecting changes -----------------------------------------------------------------------

# Each changes one column of one row; the row keeps its stored hashes unless they are the target.
_CHANGES = {
    "entry_id": "entry_id = gen_random_uuid()",
    "occurred_at": "occurred_at = occurred_at + interval '1 microsecond'",
    "recorded_at": "recorded_at = recorded_at - interval '1 day'",
    "actor_id": "actor_id = 'someone-else'",
    "actor_roles": "actor_roles = ARRAY['approver', 'case_owner']",
    "action": "action = 'decision.verification'",
    "reason": "reason = 'rewritten'",
    "reason to NULL": "reason = NULL",
    "details": """details = details || '{"severity": "low"}'""",
    "details number": """details = jsonb_set(details, '{n}', '2.0')""",
    "previous_hash": "previous_hash = sha256('forged')",
    "row_hash": "row_hash = sha256('forged')",
}


@pytest.mark.parametrize("change", list(_CHANGES), ids=list(_CHANGES))
async def test_changing_any_column_names_that_row(register_pool: asyncpg.Pool, change: str) -> None:
    incident_id, rows = await _incident_with(register_pool, 5)
    target = rows[2]["sequence"]

    await _tamper(
        register_pool, f"UPDATE audit_trail SET {_CHANGES[change]} WHERE sequence = $1", target
    )

    entry_id = await register_pool.fetchval(
        "SELECT entry_id FROM audit_trail WHERE sequence = $1", target
    )
    report = await verify_chain(register_pool, incident_id)
    assert report.rows_checked == 5
    assert report.broken == [
        BrokenLink(
            incident_id=incident_id,
            sequence=target,
            entry_id=entry_id,
            failure=ChainFailure.CONTENT_CHANGED,
        )
    ]
    assert not report.ok


async def test_a_row_rewritten_with_a_fresh_hash_breaks_the_next_link(
    register_pool: asyncpg.Pool,
) -> None:
    incident_id, rows = await _incident_with(register_pool, 4)
    target = rows[1]["sequence"]

    await _tamper(
        register_pool,
        "UPDATE audit_trail SET reason = 'rewritten' WHERE sequence = $1",
        target,
    )
    await _tamper(
        register_pool,
        "UPDATE audit_trail SET row_hash = audit_trail_row_hash(audit_trail) WHERE sequence = $1",
        target,
    )

    report = await verify_chain(register_pool, incident_id)
    assert report.broken == [
        BrokenLink(
            incident_id=incident_id,
            sequence=rows[2]["sequence"],
            entry_id=rows[2]["entry_id"],
            failure=ChainFailure.LINK_BROKEN,
        )
    ]


async def test_a_row_moved_to_another_incident_breaks_both_chains(
    register_pool: asyncpg.Pool,
) -> None:
    incident_id, rows = await _incident_with(register_pool, 4)
    other, _ = await _incident_with(register_pool, 2)

    await _tamper(
        register_pool,
        "UPDATE audit_trail SET incident_id = $2 WHERE sequence = $1",
        rows[1]["sequence"],
        other,
    )

    left = await verify_chain(register_pool, incident_id)
    assert left.broken == [
        BrokenLink(
            incident_id=incident_id,
            sequence=rows[2]["sequence"],
            entry_id=rows[2]["entry_id"],
            failure=ChainFailure.LINK_BROKEN,
        )
    ]
    joined = await verify_chain(register_pool, other)
    assert joined.rows_checked == 3
    assert joined.broken == [
        BrokenLink(
            incident_id=other,
            sequence=rows[1]["sequence"],
            entry_id=rows[1]["entry_id"],
            failure=ChainFailure.CONTENT_CHANGED,
        )
    ]


async def test_a_row_moved_to_the_end_breaks_the_link_after_its_old_place(
    register_pool: asyncpg.Pool,
) -> None:
    incident_id, rows = await _incident_with(register_pool, 4)

    await _tamper(
        register_pool,
        "UPDATE audit_trail SET sequence = DEFAULT WHERE sequence = $1",
        rows[1]["sequence"],
    )

    report = await verify_chain(register_pool, incident_id)
    assert report.rows_checked == 4
    assert report.broken == [
        BrokenLink(
            incident_id=incident_id,
            sequence=rows[2]["sequence"],
            entry_id=rows[2]["entry_id"],
            failure=ChainFailure.LINK_BROKEN,
        )
    ]


@pytest.mark.parametrize("position", [0, 2], ids=["first", "middle"])
async def test_a_deleted_row_is_named_by_the_row_after_the_gap(
    register_pool: asyncpg.Pool, position: int
) -> None:
    incident_id, rows = await _incident_with(register_pool, 5)

    await _tamper(
        register_pool, "DELETE FROM audit_trail WHERE sequence = $1", rows[position]["sequence"]
    )

    report = await verify_chain(register_pool, incident_id)
    assert report.rows_checked == 4
    after = rows[position + 1]
    assert report.broken == [
        BrokenLink(
            incident_id=incident_id,
            sequence=after["sequence"],
            entry_id=after["entry_id"],
            failure=ChainFailure.LINK_BROKEN,
        )
    ]


# --- the whole trail, page by page -----------------------------------------------------------


async def _migrated(create_database: CreateDatabase, upto: int | None = None) -> str:
    url = await create_database()
    connection = await asyncpg.connect(url)
    try:
        await apply_migrations(connection, load_migrations()[:upto])
    finally:
        await connection.close()
    return url


@pytest.fixture
async def fresh_url(create_database: CreateDatabase) -> str:
    """A register of its own, for checks of the whole trail."""
    return await _migrated(create_database)


@pytest.fixture
async def fresh_pool(fresh_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await open_pool(fresh_url)
    yield pool
    await pool.close()


async def test_the_whole_trail_is_checked_a_page_at_a_time(fresh_pool: asyncpg.Pool) -> None:
    incidents = sorted([(await _incident_with(fresh_pool, 3))[0] for _ in range(7)])
    await _tamper(
        fresh_pool,
        "UPDATE audit_trail SET reason = 'rewritten' "
        "WHERE sequence = (SELECT max(sequence) FROM audit_trail WHERE incident_id = $1)",
        incidents[4],
    )
    await _tamper(
        fresh_pool,
        "DELETE FROM audit_trail "
        "WHERE sequence = (SELECT min(sequence) FROM audit_trail WHERE incident_id = $1)",
        incidents[1],
    )
    seen: list[tuple[int, int]] = []

    report = await verify_chain(
        fresh_pool, None, page_size=3, progress=lambda i, r: seen.append((i, r))
    )

    assert (report.incidents_checked, report.rows_checked) == (7, 20)
    assert [(b.incident_id, b.failure) for b in report.broken] == [
        (incidents[1], ChainFailure.LINK_BROKEN),
        (incidents[4], ChainFailure.CONTENT_CHANGED),
    ]
    assert seen == [(3, 8), (6, 17), (7, 20)]


async def test_an_empty_trail_is_intact(fresh_pool: asyncpg.Pool) -> None:
    assert await verify_chain(fresh_pool, None) == ChainReport(
        incidents_checked=0, rows_checked=0, broken=[]
    )


# --- the migration ---------------------------------------------------------------------------


async def test_rows_written_before_the_chain_are_chained_in_sequence_order(
    create_database: CreateDatabase,
) -> None:
    chain_version = next(m.version for m in load_migrations() if m.name == "audit_chain")
    url = await _migrated(create_database, upto=chain_version - 1)
    one, two = _incident(), _incident()
    pool = await open_pool(url)
    try:
        for n in range(4):
            for incident_id in (one, two):
                await _record(pool, _entry(incident_id, n))
    finally:
        await pool.close()
    connection = await asyncpg.connect(url)
    try:
        await apply_migrations(connection)
    finally:
        await connection.close()

    pool = await open_pool(url)
    try:
        for incident_id in (one, two):
            _assert_linked(await _trail(pool, incident_id))
        # New entries continue the backfilled chains, and the trail is append-only again.
        await _record(pool, _entry(one, 9))
        _assert_linked(await _trail(pool, one))
        report = await verify_chain(pool, None)
        assert (report.ok, report.incidents_checked, report.rows_checked) == (True, 2, 9)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await pool.execute("UPDATE audit_trail SET reason = 'rewritten'")
    finally:
        await pool.close()


# --- remediation audit verify ----------------------------------------------------------------


async def _cli(database_url: str, tmp_path: Path, *args: str) -> Ran:
    """`remediation ARGS...` in a subprocess, as an operator runs it (no Temporal needed)."""
    env = {"DATABASE_URL": database_url, "REMEDIATION_DATA_DIR": str(tmp_path / "data")}
    return await run_remediation(*args, env=env)


async def test_verify_says_the_trail_is_intact(
    fresh_url: str, fresh_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    incident_id, _ = await _incident_with(fresh_pool, 3)
    await _incident_with(fresh_pool, 2)

    ran = await _cli(fresh_url, tmp_path, "audit", "verify")
    assert (ran.code, ran.stdout, ran.stderr) == (
        0,
        "audit trail intact: 5 rows across 2 incidents\n",
        "",
    )
    one = await _cli(fresh_url, tmp_path, "audit", "verify", incident_id, "--json")
    assert one.code == 0, one.stderr
    assert one.json == {"incidents_checked": 1, "rows_checked": 3, "broken": [], "ok": True}


async def test_verify_names_each_broken_row_and_fails(
    fresh_url: str, fresh_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    changed, changed_rows = await _incident_with(fresh_pool, 3)
    gap, gap_rows = await _incident_with(fresh_pool, 3)
    await _incident_with(fresh_pool, 2)
    await _tamper(
        fresh_pool,
        "UPDATE audit_trail SET details = '{}' WHERE sequence = $1",
        changed_rows[0]["sequence"],
    )
    await _tamper(
        fresh_pool, "DELETE FROM audit_trail WHERE sequence = $1", gap_rows[1]["sequence"]
    )

    ran = await _cli(fresh_url, tmp_path, "audit", "verify")

    assert ran.code == 1
    first, after_gap = changed_rows[0], gap_rows[2]
    assert sorted(ran.stdout.splitlines()) == sorted(
        [
            f"incident {changed}: row {first['sequence']} (entry {first['entry_id']}): "
            "content changed",
            f"incident {gap}: row {after_gap['sequence']} (entry {after_gap['entry_id']}): "
            "link broken (previous row missing or changed)",
        ]
    )
    assert ran.stderr == "error: audit trail broken in 2 of 3 incidents (7 rows checked)\n"

    as_json = await _cli(fresh_url, tmp_path, "audit", "verify", gap, "--json")
    assert as_json.code == 1
    assert as_json.json["ok"] is False
    assert as_json.json["broken"] == [
        {
            "incident_id": gap,
            "sequence": after_gap["sequence"],
            "entry_id": str(after_gap["entry_id"]),
            "failure": "link_broken",
        }
    ]


async def test_verify_refuses_an_unknown_incident_and_an_unmigrated_register(
    fresh_url: str, create_database: CreateDatabase, tmp_path: Path
) -> None:
    unknown = await _cli(fresh_url, tmp_path, "audit", "verify", "incident-NOPE")
    assert (unknown.code, unknown.stderr) == (
        1,
        "error: the audit trail has no entries for incident incident-NOPE\n",
    )

    chain_version = next(m.version for m in load_migrations() if m.name == "audit_chain")
    old = await _migrated(create_database, upto=chain_version - 1)
    ran = await _cli(old, tmp_path, "audit", "verify")
    assert ran.code == 1
    assert ran.stderr.strip().splitlines() == [
        "error: the case register has no hash chain yet: run `remediation db migrate`"
    ]


def test_progress_is_shown_only_once_a_check_takes_a_while(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from workers.cli.audit import _Progress

    now = [0.0]
    progress = _Progress(clock=lambda: now[0])
    for incidents in range(1, 8):
        progress(incidents * 500, incidents * 4000)
        now[0] += 1.0

    # Quiet for the first two seconds, then at most one line every two seconds.
    assert capsys.readouterr().err.splitlines() == [
        "checked 12000 rows across 1500 incidents ...",
        "checked 20000 rows across 2500 incidents ...",
        "checked 28000 rows across 3500 incidents ...",
    ]
