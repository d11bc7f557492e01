-- One incident, one run lineage. An incident's workflow id can be started again once its run has
-- ended (Temporal's default id-reuse policy, over the HTTP API or any SDK client); the register
-- tells the incident's own runs from such a second start by the run lineage: the run id of the
-- incident's first run, which every retry and continue-as-new run of it carries. Rows registered
-- before this migration have none; the first lineage that writes to them afterwards is theirs.
ALTER TABLE incidents ADD COLUMN run_lineage text;
-- The run that wrote the incident's latest event: reconciliation checks the running workflow
-- against it before it asks Temporal for the lineage of a run.
ALTER TABLE incidents ADD COLUMN run_id text;

-- A write the register refused because its key was taken by something else: an event whose
-- sequence holds a different event, or a run of another lineage. Nothing of the write was stored;
-- each row is a reconciliation finding until an operator sets resolved_at.
CREATE TABLE register_conflicts (
    incident_id  text NOT NULL,
    sequence     integer NOT NULL,
    run_id       text NOT NULL,
    run_lineage  text,
    event_kind   text NOT NULL,
    detail       text NOT NULL CHECK (length(detail) <= 500),
    detected_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    resolved_at  timestamptz,
    PRIMARY KEY (incident_id, sequence, run_id)
);

CREATE INDEX register_conflicts_unresolved ON register_conflicts (incident_id)
    WHERE resolved_at IS NULL;

ALTER TABLE reconciliation_findings DROP CONSTRAINT reconciliation_findings_kind_check;
ALTER TABLE reconciliation_findings ADD CONSTRAINT reconciliation_findings_kind_check CHECK (
    kind IN (
        'register_open_workflow_closed', 'register_open_workflow_missing',
        'workflow_without_register_row', 'escalation_disagrees',
        'register_ended_workflow_running', 'workflow_not_register_lineage',
        'register_write_conflict'));
