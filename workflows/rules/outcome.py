"""What a decision rule answers: a refusal, or the effect of an accepted decision.

Every rule is pure: it reads the incident's state and the decision, and time comes in as `now`.
"""

from dataclasses import dataclass, field
from datetime import datetime

from schemas.decisions import Decision
from schemas.incident_state import IncidentState, PendingItem
from schemas.register import EventOutcome, NotificationKind
from schemas.vocabulary import Step


class DecisionRefused(Exception):
    """A decision that is invalid for the incident as it stands; the message says why."""


@dataclass
class Notice:
    """A notification the decision causes (queued in the outbox; never victims' data)."""

    kind: NotificationKind
    recipient: str
    subject: str
    body: str


@dataclass
class Effect:
    """What an applied decision did, for the register, the timeline and the caller."""

    outcome: EventOutcome
    summary: str
    message: str
    reason: str | None = None
    approval_id: str | None = None
    touched_actions: list[str] = field(default_factory=list)
    touched_approvals: list[str] = field(default_factory=list)
    # The approval an approve or reject decided (it has left the state's pending approvals).
    decided: PendingItem | None = None
    notices: list[Notice] = field(default_factory=list)


def enter_step(state: IncidentState, step: Step, now: datetime) -> None:
    state.step = step
    state.step_entered_at = now


def accepted(summary: str, message: str | None = None, **extra: object) -> Effect:
    return Effect(
        outcome=EventOutcome.ACCEPTED,
        summary=summary,
        message=message or summary[:1].upper() + summary[1:] + ".",
        **extra,  # type: ignore[arg-type]
    )


def reason_of(decision: Decision) -> str | None:
    for name in ("reason", "justification", "override_justification", "comments", "explanation"):
        value = getattr(decision, name, None)
        if isinstance(value, str):
            return value
    return None


def not_in_future(moment: datetime, name: str, now: datetime) -> None:
    if moment > now:
        raise DecisionRefused(f"{name} {moment.isoformat()} is in the future")
