"""Deterministic process logic: the incident workflow and the monitoring workflows."""
