-- The case register: incidents, their events, approvals, actions, check-ins, related incidents,
-- the notification outbox, closure reports and the lessons knowledge base (DESIGN §3.2).
--
-- The CHECK constraints repeat the values of schemas/vocabulary.py and schemas/register.py;
-- tests/test_case_register.py compares them, so a new enum value needs a new migration.

-- Folds names (suppliers) so that related-incident detection compares them case-insensitively
-- and can still use a GIN index.
CREATE FUNCTION register_fold_names(names text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT coalesce(array_agg(lower(btrim(name))), '{}') FROM unnest(names) AS name
$$;

CREATE TABLE incidents (
    incident_id               text PRIMARY KEY,
    external_reference        text NOT NULL UNIQUE,
    received_at               timestamptz NOT NULL,
    opened_at                 timestamptz NOT NULL,
    channel                   text NOT NULL CHECK (channel IN (
        'grievance_mechanism', 'audit_finding', 'ngo_report', 'media_report', 'worker_hotline',
        'government', 'other')),
    country                   char(2) NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    region                    text,
    site_name                 text,
    site_type                 text NOT NULL CHECK (site_type IN (
        'artisanal_small_scale', 'large_scale', 'not_a_mine')),
    tier                      text NOT NULL CHECK (tier IN (
        'mine_site', 'trader_collector', 'exporter', 'smelter_refiner', 'component_maker')),
    minerals                  text[] NOT NULL CHECK (minerals <@ ARRAY[
        'tin', 'tantalum', 'tungsten', 'gold', 'cobalt', 'mica', 'lithium']::text[]),
    facility_ids              text[] NOT NULL DEFAULT '{}',
    suppliers                 text[] NOT NULL DEFAULT '{}',
    alleged_harms             text[] NOT NULL CHECK (alleged_harms <@ ARRAY[
        'forced_labour', 'human_trafficking', 'debt_bondage', 'worst_forms_of_child_labour',
        'hazardous_child_labour', 'sexual_exploitation', 'other_serious_abuse']::text[]),
    affected_persons_estimate integer NOT NULL CHECK (affected_persons_estimate >= 0),
    children_affected         boolean NOT NULL,
    migrants_affected         boolean NOT NULL,
    women_affected            boolean NOT NULL,
    imminent_danger           boolean NOT NULL,
    provisional_severity      text NOT NULL CHECK (provisional_severity IN (
        'low', 'medium', 'high', 'critical')),
    severity                  text NOT NULL CHECK (severity IN (
        'low', 'medium', 'high', 'critical')),
    step                      text NOT NULL CHECK (step IN (
        'verification', 'response', 'action_plan', 'implementation', 'closure', 'lessons_learned',
        'completed')),
    case_status               text NOT NULL CHECK (case_status IN (
        'active', 'follow_up', 'closed', 'closed_referred')),
    response_level            text CHECK (response_level IN (
        'monitor', 'supplier_corrective', 'company_led', 'collective_urgent')),
    relationship              text CHECK (relationship IN (
        'cause', 'contribute', 'directly_linked', 'no_link')),
    case_owner                text,
    policy_version            text NOT NULL,
    closed_at                 timestamptz,
    closure_reason            text,
    -- The whole intake as received. It holds personal data (the reporter, the description in
    -- their words): it must never be logged, and a later migration encrypts it.
    intake                    jsonb NOT NULL,
    last_sequence             integer NOT NULL DEFAULT 0,
    updated_at                timestamptz NOT NULL DEFAULT clock_timestamp()
);

COMMENT ON COLUMN incidents.intake IS
    'The intake as received; contains personal data: never log it (to be encrypted).';

-- Related-incident detection: same facility, same site, same supplier (case-insensitive).
CREATE INDEX incidents_facility_ids ON incidents USING gin (facility_ids);
CREATE INDEX incidents_suppliers ON incidents USING gin (register_fold_names(suppliers));
CREATE INDEX incidents_site ON incidents (country, lower(site_name));
CREATE INDEX incidents_received_at ON incidents (received_at);

CREATE TABLE incident_events (
    incident_id   text NOT NULL REFERENCES incidents (incident_id),
    sequence      integer NOT NULL CHECK (sequence >= 1),
    kind          text NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN (
        'accepted', 'refused', 'pending_approval', 'approved', 'rejected', 'recorded')),
    actor_id      text NOT NULL,
    actor_roles   text[] NOT NULL DEFAULT '{}',
    occurred_at   timestamptz NOT NULL,
    reason        text,
    summary       text NOT NULL,
    -- The decision or fact as received (NULL for system events that carry none); may name
    -- pseudonymous victims: never log it.
    payload       jsonb,
    recorded_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (incident_id, sequence)
);

CREATE TABLE approvals (
    incident_id      text NOT NULL REFERENCES incidents (incident_id),
    approval_id      text NOT NULL,
    kind             text NOT NULL,
    author_id        text NOT NULL,
    requested_at     timestamptz NOT NULL,
    due_at           timestamptz,
    status           text NOT NULL CHECK (status IN (
        'pending', 'approved', 'rejected', 'withdrawn')),
    decided_by       text,
    decided_at       timestamptz,
    comments         text,
    -- The event that last wrote the row: an older event never overwrites a newer one.
    updated_sequence integer NOT NULL,
    PRIMARY KEY (incident_id, approval_id)
);

CREATE TABLE actions (
    incident_id            text NOT NULL REFERENCES incidents (incident_id),
    action_id              text NOT NULL,
    category               text NOT NULL CHECK (category IN ('remedy', 'assistance')),
    action_type            text NOT NULL,
    description            text NOT NULL,
    responsible_party      text NOT NULL CHECK (responsible_party IN (
        'company', 'supplier', 'smelter_refiner', 'partner', 'government')),
    implementing_partner   text,
    beneficiary_count      integer NOT NULL CHECK (beneficiary_count >= 0),
    concerns_children      boolean NOT NULL,
    due_date               date NOT NULL,
    budget_amount          numeric NOT NULL CHECK (budget_amount >= 0),
    currency               text NOT NULL,
    status                 text NOT NULL CHECK (status IN (
        'not_started', 'in_progress', 'completed', 'blocked', 'cancelled')),
    progress_percent       integer NOT NULL CHECK (progress_percent BETWEEN 0 AND 100),
    spend_to_date          numeric NOT NULL CHECK (spend_to_date >= 0),
    completion_verified_by text,
    completion_how         text,
    cancellation_reason    text,
    -- The event that last wrote the row: an older event never overwrites a newer one.
    updated_sequence       integer NOT NULL,
    PRIMARY KEY (incident_id, action_id)
);

CREATE TABLE check_ins (
    incident_id       text NOT NULL REFERENCES incidents (incident_id),
    sequence          integer NOT NULL,
    period_start      date NOT NULL,
    period_end        date NOT NULL CHECK (period_end >= period_start),
    submitted_by      text NOT NULL,
    actions_reported  integer NOT NULL CHECK (actions_reported >= 0),
    victim_feedback   jsonb,
    new_risks         jsonb NOT NULL DEFAULT '[]'::jsonb,
    PRIMARY KEY (incident_id, sequence),
    FOREIGN KEY (incident_id, sequence) REFERENCES incident_events (incident_id, sequence)
);

-- Links are stored in both directions. linked_by is the incident whose opening found the link,
-- so a redelivered opening returns exactly the links it made, not ones made later by others.
CREATE TABLE related_incidents (
    incident_id          text NOT NULL REFERENCES incidents (incident_id),
    related_incident_id  text NOT NULL REFERENCES incidents (incident_id),
    reason               text NOT NULL,
    linked_by            text NOT NULL REFERENCES incidents (incident_id),
    linked_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (incident_id, related_incident_id),
    CHECK (incident_id <> related_incident_id)
);

-- Notifications waiting for delivery (delivery is a separate process); never victims' data.
CREATE TABLE outbox (
    notification_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id      text NOT NULL REFERENCES incidents (incident_id),
    sequence         integer NOT NULL,
    kind             text NOT NULL CHECK (kind IN (
        'case_owner_assigned', 'reporter_acknowledged', 'reporter_feedback',
        'approval_requested', 'item_returned')),
    recipient        text NOT NULL,
    subject          text NOT NULL,
    body             text NOT NULL,
    created_at       timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'queued' CHECK (status IN (
        'queued', 'sending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    delivered_at     timestamptz,
    last_error       text,
    UNIQUE (incident_id, sequence, kind, recipient)
);

CREATE INDEX outbox_queued ON outbox (created_at) WHERE status = 'queued';

CREATE TABLE closure_reports (
    incident_id   text PRIMARY KEY REFERENCES incidents (incident_id),
    markdown      text NOT NULL,
    report        jsonb NOT NULL,
    generated_at  timestamptz NOT NULL
);

-- The lessons knowledge base, searchable by mineral, country, facility, harm type and root cause.
CREATE TABLE lessons (
    incident_id                     text PRIMARY KEY REFERENCES incidents (incident_id),
    recorded_at                     timestamptz NOT NULL,
    minerals                        text[] NOT NULL CHECK (minerals <@ ARRAY[
        'tin', 'tantalum', 'tungsten', 'gold', 'cobalt', 'mica', 'lithium']::text[]),
    country                         char(2) NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    facility_ids                    text[] NOT NULL DEFAULT '{}',
    harm_types                      text[] NOT NULL CHECK (harm_types <@ ARRAY[
        'forced_labour', 'human_trafficking', 'debt_bondage', 'worst_forms_of_child_labour',
        'hazardous_child_labour', 'sexual_exploitation', 'other_serious_abuse']::text[]),
    root_causes                     text[] NOT NULL CHECK (root_causes <@ ARRAY[
        'recruitment_fee_practices', 'weak_due_diligence_at_tier', 'no_grievance_access',
        'audit_gaps', 'local_governance', 'informal_labour_intermediaries',
        'purchasing_practices', 'other']::text[]),
    root_cause_notes                text,
    due_diligence_gaps              jsonb NOT NULL DEFAULT '[]'::jsonb,
    changes_made                    jsonb NOT NULL DEFAULT '[]'::jsonb,
    supplier_engagement_outcome     text NOT NULL,
    shared_with_industry_programme  boolean NOT NULL,
    anonymised_summary              text
);

CREATE INDEX lessons_minerals ON lessons USING gin (minerals);
CREATE INDEX lessons_facility_ids ON lessons USING gin (facility_ids);
CREATE INDEX lessons_harm_types ON lessons USING gin (harm_types);
CREATE INDEX lessons_root_causes ON lessons USING gin (root_causes);
CREATE INDEX lessons_country ON lessons (country);
