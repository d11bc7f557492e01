-- The append-only audit trail: every decision and automatic step, with actor, time and reason.
-- The database itself refuses UPDATE, DELETE and TRUNCATE, so no code path can rewrite history.

CREATE TABLE audit_trail (
    sequence     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id     uuid NOT NULL UNIQUE,
    incident_id  text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_id     text NOT NULL,
    actor_roles  text[] NOT NULL DEFAULT '{}',
    action       text NOT NULL,
    reason       text,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX audit_trail_incident ON audit_trail (incident_id, sequence);

CREATE FUNCTION audit_trail_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_trail is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Record a new entry that corrects the earlier one instead.';
END;
$$;

CREATE TRIGGER audit_trail_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_trail
    FOR EACH ROW EXECUTE FUNCTION audit_trail_refuse_change();

CREATE TRIGGER audit_trail_no_truncate
    BEFORE TRUNCATE ON audit_trail
    FOR EACH STATEMENT EXECUTE FUNCTION audit_trail_refuse_change();
