"""The incident workflow's input; its results and query results (schemas/incident_results.py) are
exported here too."""

from pydantic import Field

from schemas.common import Contract
from schemas.incident_results import ActionSummary as ActionSummary
from schemas.incident_results import ActiveEscalation as ActiveEscalation
from schemas.incident_results import DecisionResult as DecisionResult
from schemas.incident_results import IncidentOutcome as IncidentOutcome
from schemas.incident_results import IncidentStatus as IncidentStatus
from schemas.incident_results import Milestone as Milestone
from schemas.incident_results import PartnerView as PartnerView
from schemas.incident_results import PendingApproval as PendingApproval
from schemas.incident_results import PendingDecision as PendingDecision
from schemas.incident_results import VictimSummary as VictimSummary
from schemas.incident_state import IncidentState
from schemas.intake import Intake
from schemas.policy import Policy

WORKFLOW_ID_PREFIX = "incident-"


def incident_id_for(external_reference: str) -> str:
    """The workflow id: one per external reference, so a reference never opens two incidents."""
    return f"{WORKFLOW_ID_PREFIX}{external_reference}"


class IncidentInput(Contract):
    """What starts an incident workflow."""

    intake: Intake = Field(description="The allegation.")
    policy: Policy | None = Field(
        default=None,
        description="Deadlines and limits to live by; leave it out to use the deployment's "
        "policy (REMEDIATION_POLICY_FILE on the worker).",
    )
    carried: IncidentState | None = Field(
        default=None,
        description="Set only by the workflow itself when it continues as new: everything it "
        "knew. Leave it out when opening an incident.",
    )
