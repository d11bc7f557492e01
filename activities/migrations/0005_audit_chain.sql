-- A tamper-evident audit trail: every row carries the SHA-256 of its content and of the previous
-- row of the same incident, so changing or removing a row breaks the chain from that row on
-- (`remediation audit verify`). The hash is computed here, in the database, by a BEFORE INSERT
-- trigger: both writers (activities/audit_trail.py and the case register's transactions) stay
-- unchanged and cannot disagree on the encoding.
--
-- What is hashed: every column except `sequence` — the content (entry_id, incident_id,
-- occurred_at, recorded_at, actor, action, reason, details) and previous_hash. The order of the
-- chain is carried by the links themselves; `sequence` only says in which order to walk them. It
-- has legitimate gaps (a redelivered entry or a rolled-back transaction consumes a number) and is
-- a surrogate key, so it stays out of the hash. recorded_at is hashed: it is the register's own
-- statement of when it learned of the entry (backdating it must show), and its value is final
-- when the trigger runs (column defaults are evaluated before BEFORE triggers). The chain's
-- order never depends on recorded_at, whose clock can go backwards.
--
-- Chains are per incident, so incidents never wait for each other. An unkeyed chain shows edits
-- and deletions in the middle; it cannot show that the newest rows of an incident were removed
-- or that someone with write access rebuilt the whole chain: that needs its heads kept elsewhere.

ALTER TABLE audit_trail
    ADD COLUMN previous_hash bytea CHECK (octet_length(previous_hash) = 32),
    ADD COLUMN row_hash bytea CHECK (octet_length(row_hash) = 32);

COMMENT ON COLUMN audit_trail.previous_hash IS
    'row_hash of the previous row of the same incident (NULL for its first row).';
COMMENT ON COLUMN audit_trail.row_hash IS
    'SHA-256 of the row (audit_trail_row_hash), set by the trigger audit_trail_chain.';

-- The canonical encoding is a JSON array of the fields in a fixed order, as jsonb renders it:
-- strings are quoted and escaped, NULL is distinct from every string, arrays keep their order,
-- object keys are in jsonb's fixed order without duplicates. Times are UTC with microseconds.
-- The leading tag names the encoding: changing it means a new function and tag, never an edit.
CREATE FUNCTION audit_trail_row_hash(entry audit_trail) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(convert_to(jsonb_build_array(
        'audit_trail.v1',
        entry.entry_id,
        entry.incident_id,
        to_char(entry.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        to_char(entry.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        entry.actor_id,
        entry.actor_roles,
        entry.action,
        entry.reason,
        entry.details,
        encode(entry.previous_hash, 'hex')
    )::text, 'UTF8'))
$$;

-- Links the new row to the newest row of its incident. The chain head is always read from the
-- stored rows, never kept elsewhere: with INSERT ... ON CONFLICT (entry_id) DO NOTHING this
-- trigger also runs for a redelivered entry that is then discarded, and a discarded row must
-- leave nothing behind.
CREATE FUNCTION audit_trail_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Under REPEATABLE READ or SERIALIZABLE the lookup below would read the transaction's old
    -- snapshot, miss a row committed while we waited for the lock, and fork the chain.
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'audit_trail entries must be written in READ COMMITTED transactions'
            USING ERRCODE = 'invalid_transaction_state';
    END IF;
    -- One writer per incident at a time, until its transaction ends. The two-key form keeps
    -- these locks apart from the engine's single-key advisory locks.
    PERFORM pg_advisory_xact_lock(1096107092, hashtext(NEW.incident_id));  -- 'AUDT'
    -- The identity value was drawn before the lock was taken, so a writer that waited could
    -- hold a smaller number than the row it now follows. Drawing it again under the lock makes
    -- `sequence` order equal chain order within an incident (the identity has CACHE 1, so
    -- numbers are drawn in increasing order across sessions). Each insert uses two numbers.
    NEW.sequence := nextval(pg_get_serial_sequence('audit_trail', 'sequence'));
    NEW.previous_hash := (
        SELECT row_hash FROM audit_trail
        WHERE incident_id = NEW.incident_id
        ORDER BY sequence DESC
        LIMIT 1
    );
    NEW.row_hash := audit_trail_row_hash(NEW);
    RETURN NEW;
END;
$$;

-- Backfill the rows written before this migration, incident by incident in sequence order.
-- The refusal of UPDATE is lifted only inside this migration's transaction: the change is
-- transactional, so no other session ever sees the trigger disabled, and the ADD COLUMN above
-- keeps every other reader and writer of the table waiting until the migration commits.
ALTER TABLE audit_trail DISABLE TRIGGER audit_trail_no_update_or_delete;

DO $$
DECLARE
    entry audit_trail;
    previous bytea;
    previous_incident text;
BEGIN
    FOR entry IN SELECT * FROM audit_trail ORDER BY incident_id, sequence LOOP
        IF entry.incident_id IS DISTINCT FROM previous_incident THEN
            previous := NULL;
            previous_incident := entry.incident_id;
        END IF;
        entry.previous_hash := previous;
        previous := audit_trail_row_hash(entry);
        UPDATE audit_trail SET previous_hash = entry.previous_hash, row_hash = previous
        WHERE sequence = entry.sequence;
    END LOOP;
END;
$$;

ALTER TABLE audit_trail ENABLE TRIGGER audit_trail_no_update_or_delete;

ALTER TABLE audit_trail ALTER COLUMN row_hash SET NOT NULL;

-- BEFORE triggers fire in name order: a later one that changed the row would make row_hash
-- stale, so no BEFORE INSERT trigger may sort after this one and modify NEW.
CREATE TRIGGER audit_trail_chain
    BEFORE INSERT ON audit_trail
    FOR EACH ROW EXECUTE FUNCTION audit_trail_chain();
