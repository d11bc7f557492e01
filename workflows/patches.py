"""The patches of `IncidentWorkflow`: each names a change in what a running incident does.

Incidents keep running for years, so a change to what the workflow does next goes behind
`workflow.patched(<name>)`: histories recorded before the change replay without it, new ones take
it. Never rename or remove one while an incident that recorded it may still run
(docs/development.md, safe workflow changes).
"""

# Incidents started before the deadline tracker existed replay without it.
DEADLINE_TRACKER = "deadline-tracker"
# The deployment's policy is read at opening (not the intake sender's).
DEPLOYMENT_POLICY = "deployment-policy"
# Notifications are delivered from the outbox in the background.
OUTBOX_DELIVERY = "outbox-delivery"
# After the lessons, a post-closure follow-up.
FOLLOW_UP = "post-closure-follow-up"
# Roles from the policy and assignments, consent gates, victims' records and erasure.
VICTIM_PROTECTION = "victim-protection"
# A new intake that fails the checks added since incidents first ran fails the incident.
STRICT_INTAKE = "strict-intake"
# The case owner is reminded before each deadline; incidents started before are not.
DEADLINE_REMINDERS = "deadline-reminders"
# An event and its notifications are written by one activity in one transaction; incidents
# started before queue each notification with an activity of its own.
ONE_REGISTER_WRITE = "one-register-write"
# Captured lessons count as under way, so the follow-up they lead to is accepted at once.
LESSONS_IN_FLIGHT = "lessons-in-flight"
# Who must act on what, by when, is published (AwaitingFrom, AwaitingDecision) and an unassigned
# case's owner reads `unassigned`; decided at the start of a run, so a running incident takes it
# when it next continues as new.
AWAITING_ATTRIBUTES = "awaiting-attributes"
# An event's notifications get their first delivery attempt in the activity that records it; only
# what that attempt did not deliver is delivered by an activity of its own.
DELIVER_ON_RECORD = "deliver-on-record"
