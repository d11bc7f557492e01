-- Victims known to an incident by pseudonymous id, and the sealed copies of personal data.
--
-- A victim's personal data is sealed (AES-256-GCM) under a data key of that victim alone; the
-- data key is stored here wrapped (sealed) under the deployment's key ring. Erasing a victim
-- destroys the wrapped key: every sealed copy (in `victims`, in event payloads, in Temporal's
-- history) becomes unreadable, while the pseudonymous case remains for learning.

CREATE TABLE victim_keys (
    incident_id      text NOT NULL,
    victim_id        text NOT NULL,
    wrapping_key_id  text,
    wrapped_key      bytea,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    erased_at        timestamptz,
    erased_by        text,
    PRIMARY KEY (incident_id, victim_id),
    CONSTRAINT victim_key_present_until_erased
        CHECK ((erased_at IS NULL) = (wrapped_key IS NOT NULL AND wrapping_key_id IS NOT NULL))
);

CREATE TABLE victims (
    incident_id        text NOT NULL REFERENCES incidents (incident_id),
    victim_id          text NOT NULL,
    child              boolean NOT NULL,
    recorded_at        timestamptz NOT NULL,
    recorded_by        text NOT NULL,
    updated_sequence   integer NOT NULL,
    personal_data      bytea,
    erased_at          timestamptz,
    erased_by          text,
    PRIMARY KEY (incident_id, victim_id),
    CONSTRAINT victim_data_gone_once_erased CHECK (erased_at IS NULL OR personal_data IS NULL)
);

-- The intake's confidential parts (reporter, description) are kept sealed under the key ring,
-- never as plain JSON.
ALTER TABLE incidents
    ADD COLUMN confidential_key_id text,
    ADD COLUMN confidential bytea;

ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN (
    'case_owner_assigned', 'reporter_acknowledged', 'reporter_feedback',
    'approval_requested', 'item_returned', 'escalation', 'escalation_cleared',
    'consent_withdrawn'));
