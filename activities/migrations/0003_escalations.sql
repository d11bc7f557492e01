-- Escalations of missed milestones (DESIGN §5): every level reached and every clearing, with how
-- late the milestone was met. The incident row carries the current level and next deadline.

ALTER TABLE incidents
    ADD COLUMN escalation_level int NOT NULL DEFAULT 0 CHECK (escalation_level BETWEEN 0 AND 3),
    ADD COLUMN overdue boolean NOT NULL DEFAULT false,
    ADD COLUMN next_deadline timestamptz;

CREATE TABLE escalations (
    incident_id      text NOT NULL REFERENCES incidents (incident_id),
    sequence         int NOT NULL,
    milestone        text NOT NULL,
    milestone_kind   text NOT NULL,
    level            int NOT NULL CHECK (level BETWEEN 0 AND 3),
    due_at           timestamptz NOT NULL,
    reached_at       timestamptz NOT NULL,
    occurred_at      timestamptz NOT NULL,
    cleared_because  text CHECK (cleared_because IN ('met', 'extended', 'closed')),
    late_by          interval,
    notified         text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (incident_id, sequence)
);

CREATE INDEX escalations_open ON escalations (incident_id, milestone, sequence);
CREATE INDEX incidents_overdue ON incidents (escalation_level) WHERE overdue;

-- Escalations are notified through the outbox too.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN (
    'case_owner_assigned', 'reporter_acknowledged', 'reporter_feedback',
    'approval_requested', 'item_returned', 'escalation', 'escalation_cleared'));
