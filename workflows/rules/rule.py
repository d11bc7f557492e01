"""What the engine knows about one kind of decision, in one place: `DecisionRule`.

Each kind has one entry in `workflows.rules.registry.REGISTRY`. The workflow's update, validator
and signal handlers, the command line's help, the JSON Schemas and the message contract table are
made from (or checked against) these entries, so adding a kind is one entry, its model and its
tests.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar, cast

from schemas.actor import Role
from schemas.decisions import DECISION_MODELS, Decision, DecisionKind
from schemas.incident_state import IncidentState
from schemas.vocabulary import Step
from workflows.rules.kinds import KINDS
from workflows.rules.kinds import Approval as Approval
from workflows.rules.outcome import Effect

D = TypeVar("D", bound=Decision)


@dataclass(frozen=True)
class DecisionRule(Generic[D]):
    """One kind of decision. Its model is `schemas.decisions.DECISION_MODELS[kind]` (which the
    command line validates with, without the rules); its roles, `when` and approval mode are read
    from its words in `workflows.rules.kinds.KINDS`, which the command line's help reads without
    the models.

    - `step`: the step it belongs to (None: any step until the incident completes);
    - `check`: its own rule; raises `DecisionRefused` with the reason;
    - `effect`: what it does once accepted, for a kind that needs no approval;
    - `on_approval`: what it does once approved, for one that does (the actions it touched);
    - `still_valid`: what is re-checked when it is approved (default: `check`);
    - `summary`: one line naming it, for timelines and approval requests.
    """

    kind: DecisionKind
    step: Step | None
    check: Callable[[IncidentState, D, datetime], None]
    effect: Callable[[IncidentState, D, datetime], Effect] | None = None
    on_approval: Callable[[IncidentState, D, datetime], list[str]] | None = None
    still_valid: Callable[[IncidentState, D, datetime], None] | None = None
    summary: Callable[[D], str] | None = None

    def __post_init__(self) -> None:
        needs_approval = self.approval != Approval.NONE
        if needs_approval != (self.on_approval is not None) or needs_approval == (
            self.effect is not None
        ):
            raise ValueError(f"{self.kind}: an effect, or an approval mode and on_approval")

    @property
    def model(self) -> type[D]:
        return cast(type[D], DECISION_MODELS[self.kind])

    # Read from KINDS, never given here: one source for the workflow and the help.
    @property
    def roles(self) -> frozenset[Role]:
        return KINDS[self.kind].roles

    @property
    def when(self) -> str:
        return KINDS[self.kind].when

    @property
    def approval(self) -> Approval:
        return KINDS[self.kind].approval

    @property
    def needs_approval(self) -> bool:
        return self.approval != Approval.NONE

    def summary_of(self, decision: D) -> str:
        return self.summary(decision) if self.summary is not None else str(self.kind)
