-- After lessons are captured, an incident waits for its post-closure follow-up (DESIGN §2 step 5).

ALTER TABLE incidents DROP CONSTRAINT incidents_step_check;
ALTER TABLE incidents ADD CONSTRAINT incidents_step_check CHECK (step IN (
    'verification', 'response', 'action_plan', 'implementation', 'closure', 'lessons_learned',
    'follow_up', 'completed'));
