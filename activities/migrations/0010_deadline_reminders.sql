-- Reminders before a deadline are notified through the outbox like escalations.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN (
    'case_owner_assigned', 'reporter_acknowledged', 'reporter_feedback',
    'approval_requested', 'item_returned', 'escalation', 'escalation_cleared',
    'consent_withdrawn', 'reconciliation_finding', 'deadline_reminder'));
