"""Who holds which role on an incident: the case owner by assignment, an implementing partner by the
plan, the others from the policy's role directory; and the four-eyes rule of every approval.
"""

from schemas.actor import Actor, Role
from schemas.incident_state import IncidentState
from schemas.policy import RoleDirectory
from workflows.rules.outcome import DecisionRefused


def held_roles(state: IncidentState, actor: Actor) -> set[Role]:
    """The roles the actor claims that they really hold on this incident: case owner by
    assignment, implementing partner by the plan, the others from the policy's role directory."""
    claimed = set(actor.roles)
    if not state.protected:
        return claimed
    directory = state.policy.roles
    held = set()
    for role in claimed:
        match role:
            case Role.CASE_OWNER if state.case_owner is not None:
                holds = actor.id == state.case_owner
            case Role.CASE_OWNER | Role.VERIFIER | Role.APPROVER | Role.EXECUTIVE:
                holds = listed_in(directory, actor, role)
            case Role.IMPLEMENTING_PARTNER:
                holds = any(a.plan.implementing_partner == actor.id for a in state.actions.values())
            case _:  # integrations and the system open cases and escalate; they never decide
                holds = False
        if holds:
            held.add(role)
    return held


def not_held(state: IncidentState, actor: Actor, role: Role) -> str:
    match role:
        case Role.CASE_OWNER if state.case_owner is not None:
            return (
                f"{actor.id} is not the case owner of {state.incident_id} ({state.case_owner} is)"
            )
        case Role.IMPLEMENTING_PARTNER:
            return f"{actor.id} implements no action of {state.incident_id}'s plan"
        case Role.CASE_OWNER | Role.VERIFIER | Role.APPROVER | Role.EXECUTIVE:
            return f"{actor.id} does not hold the {role} role (the policy's roles.{role} list)"
    return f"the {role} role cannot send decisions"


def listed_in(directory: RoleDirectory, actor: Actor, role: Role) -> bool:
    """Whether the policy's role directory gives the actor this role (a role it does not list
    is open to anyone who claims it)."""
    listed: list[str] | None = getattr(directory, role.value)
    return listed is None or actor.id in listed


def four_eyes(approver: Actor, author_id: str, what: str) -> None:
    """An approver never decides what they submitted or asked for themselves."""
    if approver.id == author_id:
        raise DecisionRefused(f"{approver.id} {what} and cannot also decide it (four eyes)")
