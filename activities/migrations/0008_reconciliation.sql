-- Findings of the reconciliation between the case register and Temporal (activities/
-- reconciliation.py): one row per disagreement a run found. A run is identified by its `as_of`
-- instant, so a retried or resumed run records each finding once. No foreign key to incidents:
-- a running workflow may have no register row at all, which is one of the findings.
--
-- Findings name incidents and states only, never anyone's personal data. Notifying them is the
-- monitoring workflow's business, not this table's.

CREATE TABLE reconciliation_findings (
    as_of        timestamptz NOT NULL,
    kind         text NOT NULL CHECK (kind IN (
        'register_open_workflow_closed', 'register_open_workflow_missing',
        'workflow_without_register_row', 'escalation_disagrees')),
    incident_id  text NOT NULL,
    detail       text NOT NULL CHECK (length(detail) <= 500),
    found_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (as_of, kind, incident_id)
);

CREATE INDEX reconciliation_findings_incident ON reconciliation_findings (incident_id, as_of);
