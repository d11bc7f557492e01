-- Reconciliation findings are notified through the outbox like everything else. A finding may be
-- about a workflow that has no register row, so an outbox row no longer needs one; its sequence is
-- then the day of the monitoring run (YYYYMMDD), so a finding is notified once per day it is found.
ALTER TABLE outbox DROP CONSTRAINT outbox_incident_id_fkey;

ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN (
    'case_owner_assigned', 'reporter_acknowledged', 'reporter_feedback',
    'approval_requested', 'item_returned', 'escalation', 'escalation_cleared',
    'consent_withdrawn', 'reconciliation_finding'));
