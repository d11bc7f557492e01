"""The worker process and what it injects into activities and workflows (settings, key ring,
codec, migration runner, health, metrics, logs, schedules), the client library for integrations
(incident_client.py), the `remediation` command line (cli/) and the local stack of
`remediation up` (devstack/)."""
