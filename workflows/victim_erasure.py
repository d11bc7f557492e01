"""`VictimErasureWorkflow`: erase a victim of an incident whose workflow has ended.

The same rule as the running incident's `erase_victim` decision: the incident's case owner asks,
an approver other than them approves (the `approve` or `reject` update, as for any approval), and
only then is the victim's data key destroyed in the register.
"""

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.case_register import CaseRegister
    from activities.deployment_policy import DeploymentPolicy
    from schemas.actor import Role
    from schemas.decisions import Approve, DecisionKind, Reject
    from schemas.erasure import (
        ERASURE_APPROVAL_ID,
        ErasureOutcome,
        ErasureRecord,
        ErasureRequest,
        ErasureStatus,
        ErasureTarget,
    )
    from schemas.incident import DecisionResult
    from schemas.policy import Policy
    from schemas.refusals import REFUSED
    from schemas.refusals import REFUSED_REQUEST as REFUSED_REQUEST
    from schemas.register import EventOutcome
    from schemas.vocabulary import Step
    from workflows.messages import parse_message
    from workflows.retries import REGISTER_RETRY, REGISTER_TIMEOUT
    from workflows.rules.outcome import DecisionRefused
    from workflows.rules.roles import four_eyes, listed_in


@workflow.defn
class VictimErasureWorkflow:
    @workflow.init
    def __init__(self, request: ErasureRequest) -> None:
        self.request = request
        self.policy = Policy()  # replaced by the deployment's before anything is decided
        self.outcome = ErasureOutcome(
            incident_id=request.incident_id,
            victim_id=request.victim_id,
            status=ErasureStatus.AWAITING_APPROVAL,
            requested_by=request.requested_by.id,
            message=f"erasure of {request.victim_id} awaits approval "
            f"({ERASURE_APPROVAL_ID}) by an approver other than {request.requested_by.id}",
        )
        self.ready = False
        self.refusal: str | None = None

    @workflow.run
    async def run(self, request: ErasureRequest) -> ErasureOutcome:
        # Who may approve is the deployment's to say, never the requester's.
        self.policy = await workflow.execute_activity_method(
            DeploymentPolicy.deployment_policy,
            start_to_close_timeout=REGISTER_TIMEOUT,
        )
        target = await workflow.execute_activity_method(
            CaseRegister.erasure_target,
            args=[request.incident_id, request.victim_id],
            start_to_close_timeout=REGISTER_TIMEOUT,
            retry_policy=REGISTER_RETRY,
            summary="find the incident and the victim in the register",
        )
        try:
            self._check_target(target)
        except ApplicationError:
            # Answer whoever waits for the verdict (`awaiting_approval`) before failing.
            await workflow.wait_condition(workflow.all_handlers_finished)
            raise
        self.ready = True
        await workflow.wait_condition(
            lambda: self.outcome.status != ErasureStatus.AWAITING_APPROVAL
        )
        if self.outcome.status == ErasureStatus.ERASED:
            await workflow.execute_activity_method(
                CaseRegister.erase_victim_record,
                ErasureRecord(
                    incident_id=request.incident_id,
                    victim_id=request.victim_id,
                    requested_by=request.requested_by.id,
                    approved_by=self.outcome.decided_by or "",
                    reason=request.reason,
                    erased_at=self.outcome.decided_at or workflow.now(),
                ),
                start_to_close_timeout=REGISTER_TIMEOUT,
                retry_policy=REGISTER_RETRY,
                summary=f"destroy {request.victim_id}'s data key",
            )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.outcome

    def _check_target(self, target: ErasureTarget) -> None:
        request = self.request
        problem = None
        if not target.incident_found:
            problem = f"{request.incident_id} is not in the case register"
        elif not target.incident_completed:
            problem = (
                f"{request.incident_id} is still open: erase through its own erase_victim decision"
            )
        elif not target.victim_recorded:
            problem = f"{request.victim_id} is not a recorded victim of {request.incident_id}"
        elif target.erased_at is not None:
            problem = f"{request.victim_id} was already erased"
        elif request.requested_by.id != target.case_owner:
            problem = (
                f"only the case owner of {request.incident_id} ({target.case_owner}) may ask "
                "for an erasure"
            )
        if problem is not None:
            self.refusal = problem
            raise ApplicationError(problem, type=REFUSED_REQUEST, non_retryable=True)

    def _checked(self, decision: Approve | Reject) -> None:
        if not self.ready or self.outcome.status != ErasureStatus.AWAITING_APPROVAL:
            raise ApplicationError(f"nothing awaits approval: {self.outcome.message}", type=REFUSED)
        if decision.approval_id != ERASURE_APPROVAL_ID:
            raise ApplicationError(
                f"no pending approval {decision.approval_id}; pending approvals: "
                f"{ERASURE_APPROVAL_ID}",
                type=REFUSED,
            )
        # The approval rules of every incident decision (workflows/rules/roles.py).
        actor = decision.actor
        if Role.APPROVER not in actor.roles or not listed_in(
            self.policy.roles, actor, Role.APPROVER
        ):
            raise ApplicationError(f"{actor.id} does not hold the approver role", type=REFUSED)
        try:
            four_eyes(actor, self.request.requested_by.id, "asked for this erasure")
        except DecisionRefused as refusal:
            raise ApplicationError(str(refusal), type=REFUSED) from None

    def _decide(
        self, kind: DecisionKind, decision: Approve | Reject, status: ErasureStatus, message: str
    ) -> DecisionResult:
        """Record the approver's decision; the answer has the shape of any decision's, so the
        same `remediation decide ... approve` works here."""
        self.outcome = self.outcome.model_copy(
            update={
                "status": status,
                "decided_by": decision.actor.id,
                "decided_at": workflow.now(),
                "message": message,
            }
        )
        return DecisionResult(
            incident_id=self.request.incident_id,
            kind=kind,
            sequence=1,
            outcome=EventOutcome.APPROVED
            if status == ErasureStatus.ERASED
            else EventOutcome.REJECTED,
            approval_id=ERASURE_APPROVAL_ID,
            step=Step.COMPLETED,
            message=message,
        )

    @workflow.update(name="approve")
    async def approve(self, raw: RawValue) -> DecisionResult:
        decision = parse_message(Approve, raw, accepted_before=True)
        self._checked(decision)
        victim = self.request.victim_id
        return self._decide(
            DecisionKind.APPROVE,
            decision,
            ErasureStatus.ERASED,
            f"{victim}'s personal data is being erased: their data key is destroyed",
        )

    @approve.validator
    def _validate_approve(self, raw: RawValue) -> None:
        self._checked(parse_message(Approve, raw))

    @workflow.update(name="reject")
    async def reject(self, raw: RawValue) -> DecisionResult:
        decision = parse_message(Reject, raw, accepted_before=True)
        self._checked(decision)
        message = f"erasure rejected: {decision.comments}"
        return self._decide(DecisionKind.REJECT, decision, ErasureStatus.REJECTED, message)

    @reject.validator
    def _validate_reject(self, raw: RawValue) -> None:
        self._checked(parse_message(Reject, raw))

    @workflow.query
    def status(self) -> ErasureOutcome:
        return self.outcome

    @workflow.update
    async def awaiting_approval(self) -> ErasureOutcome:
        """Wait until the request is checked against the register: the outcome awaiting an
        approver, or the reason it is refused."""
        await workflow.wait_condition(lambda: self.ready or self.refusal is not None)
        if self.refusal is not None:
            raise ApplicationError(self.refusal, type=REFUSED_REQUEST, non_retryable=True)
        return self.outcome

    @workflow.query
    def checked(self) -> bool:
        """Whether the request passed its checks and now waits for the approver."""
        return self.ready
