"""The names by which clients reach an incident's workflow: its type, its queries, and the update
and signal that carry each kind of decision.

The workflow is declared with these names and clients address it by them, so a client that only
queries or sends a decision (`remediation status`, `remediation decide`) needs neither the
workflow's class nor the registry. This module imports nothing but the picklists.
"""

from schemas.vocabulary import DecisionKind

INCIDENT_WORKFLOW = "IncidentWorkflow"
"""The incident workflow's type."""

STATUS_QUERY = "status"
"""Where the case stands (an `IncidentStatus`)."""
TIMELINE_QUERY = "timeline"
"""Every event, oldest first (a list of `TimelineEvent`)."""
PARTNER_ACTIONS_QUERY = "partner_actions"
"""What an implementing partner may see (a `PartnerView`)."""


def handler_name(kind: DecisionKind) -> str:
    """The name of the update (and of the signal) that carries a kind of decision."""
    return kind.value
