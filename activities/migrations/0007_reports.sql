-- Portfolio reports (DESIGN §3.2: the register holds reports), and the step history the
-- portfolio's time-in-step figures are computed from.

-- One row per report kind and instant: a retried store activity finds its row and stores nothing
-- new. Reports are aggregates only: no personal data, no free text from incidents.
CREATE TABLE reports (
    report_id     text PRIMARY KEY,
    kind          text NOT NULL,
    as_of         timestamptz NOT NULL,
    generated_at  timestamptz NOT NULL,
    json          jsonb NOT NULL,
    markdown      text NOT NULL,
    html          text NOT NULL,
    stored_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (kind, as_of)
);

-- Each stay of an incident in a step: entered at the event that moved it there (the opening for
-- the first step), left at the event that moved it on. Incidents do not carry the step of each
-- event, so the stays are kept by triggers on `incidents`, which every event's snapshot updates
-- (only ever forwards: the snapshot of an older event never overwrites a newer one). Incidents
-- registered before this migration have stays only from their first step change after it.
CREATE TABLE incident_step_stays (
    incident_id       text NOT NULL REFERENCES incidents (incident_id),
    step              text NOT NULL,
    entered_sequence  integer NOT NULL,  -- 0: the opening
    entered_at        timestamptz NOT NULL,
    left_sequence     integer,
    left_at           timestamptz,
    PRIMARY KEY (incident_id, entered_sequence)
);

CREATE INDEX incident_step_stays_left_at ON incident_step_stays (left_at)
    WHERE left_at IS NOT NULL;

-- The time of a step change is the time of the event whose snapshot made it; the event row is
-- written just before its snapshot is applied, in the same transaction.
CREATE FUNCTION incident_step_stays_track() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    moment timestamptz;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO incident_step_stays (incident_id, step, entered_sequence, entered_at)
        VALUES (NEW.incident_id, NEW.step, NEW.last_sequence, NEW.opened_at)
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END IF;
    SELECT occurred_at INTO moment
    FROM incident_events
    WHERE incident_id = NEW.incident_id AND sequence = NEW.last_sequence;
    moment := coalesce(moment, clock_timestamp());
    UPDATE incident_step_stays
    SET left_sequence = NEW.last_sequence, left_at = moment
    WHERE incident_id = NEW.incident_id AND left_at IS NULL;
    IF NEW.step <> 'completed' THEN
        INSERT INTO incident_step_stays (incident_id, step, entered_sequence, entered_at)
        VALUES (NEW.incident_id, NEW.step, NEW.last_sequence, moment)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER incident_step_stays_opened
    AFTER INSERT ON incidents
    FOR EACH ROW EXECUTE FUNCTION incident_step_stays_track();

CREATE TRIGGER incident_step_stays_moved
    AFTER UPDATE OF step ON incidents
    FOR EACH ROW WHEN (OLD.step IS DISTINCT FROM NEW.step)
    EXECUTE FUNCTION incident_step_stays_track();

-- What the portfolio report reads beyond the existing indexes.
CREATE INDEX approvals_pending ON approvals (requested_at) WHERE status = 'pending';
CREATE INDEX escalations_reached ON escalations (reached_at) WHERE level > 0;
CREATE INDEX incidents_open_step ON incidents (step) WHERE step <> 'completed';
