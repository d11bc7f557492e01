"""Processes: the worker, the one-command local stack and the `remediation` command line."""
