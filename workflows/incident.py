"""`IncidentWorkflow`: one incident through IOM's six steps, driven by validated human decisions.

`run` reads like the process. Decisions arrive as updates (validated before they are accepted, so a
refused update leaves no trace) or as signals carrying the same payload (validated when handled; a
refused signal is recorded in the timeline and changes nothing else). The rules live in
`workflows.decision_rules`; this module wires them to Temporal and to the case register.
"""

import asyncio
import contextlib
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn, TypeVar

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ValidationError

    from schemas.actor import SYSTEM_ACTOR, Actor
    from schemas.common import ACCEPTED_BEFORE, MESSAGE_MAX_BYTES, message_size
    from schemas.decisions import (
        DECISION_MODELS,
        FACT_MODELS,
        CheckIn,
        Decision,
        DecisionKind,
        EraseVictim,
        FactKind,
        FollowUp,
        RecordVictim,
    )
    from schemas.history import TimelineEvent
    from schemas.incident import (
        DecisionResult,
        IncidentInput,
        IncidentOutcome,
        IncidentStatus,
        Milestone,
        PartnerView,
        incident_id_for,
    )
    from schemas.incident_state import RULES_WITH_PROTECTION, Escalation, IncidentState
    from schemas.policy import MilestoneKind, Policy
    from schemas.register import (
        DELIVERY_ATTEMPT_TIMEOUT,
        ActionRecord,
        ApprovalRecord,
        ApprovalStatus,
        CheckInRecord,
        ClosureReport,
        ClosureReportRequest,
        EscalationRecord,
        EventOutcome,
        EventWithNotifications,
        IncidentOpened,
        IncidentOpening,
        IncidentSnapshot,
        LessonRecord,
        Notification,
        NotificationKey,
        NotificationKind,
        RegisterEvent,
        VictimRecord,
    )
    from schemas.vocabulary import ActionStatus, CaseStatus, ClosureStatus, Severity, Step
    from workflows import metrics
    from workflows import search_attributes as sa
    from workflows.decision_rules import (
        DecisionRefused,
        Effect,
        Notice,
        apply,
        check,
        enter_step,
        needs_lessons_in_flight,
        step_in_flight,
    )
    from workflows.escalation import (
        EscalationChange,
        escalation_time,
        next_wakeup,
        plan_escalations,
        recipients,
        reminders_due,
    )
    from workflows.incident_details import current_details, static_summary
    from workflows.incident_state import open_milestones, partner_view, status_view
    from workflows.severity import provisional_severity

REGISTER_TIMEOUT = timedelta(seconds=30)
# Register writes retry until PostgreSQL is back: a decision is never dropped for an outage.
REGISTER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)
# Incidents started before the deadline tracker existed replay without it (see deploy/README.md).
DEADLINE_TRACKER_PATCH = "deadline-tracker"
DEPLOYMENT_POLICY_PATCH = "deployment-policy"
OUTBOX_DELIVERY_PATCH = "outbox-delivery"
FOLLOW_UP_PATCH = "post-closure-follow-up"
# Roles from the policy and assignments, consent gates, victims' records and erasure.
VICTIM_PROTECTION_PATCH = "victim-protection"
# A new intake that fails the checks added since incidents first ran fails the incident.
STRICT_INTAKE_PATCH = "strict-intake"
# The case owner is reminded before each deadline; incidents started before are not.
DEADLINE_REMINDERS_PATCH = "deadline-reminders"
# An event and its notifications are written by one activity in one transaction; incidents
# started before queue each notification with an activity of its own.
ONE_REGISTER_WRITE_PATCH = "one-register-write"
# Captured lessons count as under way, so the follow-up they lead to is accepted at once.
LESSONS_IN_FLIGHT_PATCH = "lessons-in-flight"
# Delivery retries until the channel is back, backing off to one attempt an hour.
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(hours=1),
)
FIELD_LABEL_MAX = 60
REASON_MAX = 4_000
REFUSED = "DecisionRefused"
MALFORMED = "MalformedDecision"
UNIDENTIFIED = Actor(id="unidentified-sender")
M = TypeVar("M", bound=BaseModel)


def _field_label(part: object) -> str:
    """A field name from a message, made safe to echo: an unknown field's name is the sender's
    text (escape sequences, NUL, megabytes), and it goes into refusals, the timeline and the
    register."""
    return re.sub(r"[^\w.:-]", "?", str(part), flags=re.ASCII)[:FIELD_LABEL_MAX]


# Characters a refusal never echoes: pydantic's messages may quote what the sender wrote (an
# invalid UUID's character, say), and control characters would garble every screen showing it.
_UNREADABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _readable(text: str) -> str:
    return _UNREADABLE.sub("?", text)


def _describe_validation_error(error: ValidationError) -> str:
    problems = []
    for problem in error.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(_field_label(part) for part in problem["loc"]) or "payload"
        problems.append(f"{where}: {_readable(problem['msg'][:200])}")
    more = error.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def _decode(raw: RawValue) -> Any:
    try:
        return workflow.payload_converter().from_payload(raw.payload)
    except Exception as error:  # any undecodable payload is the sender's error, not ours
        # The error's text quotes the payload, which may hold anything: name only its kind.
        raise ApplicationError(
            f"the payload is not JSON ({type(error).__name__})", type=MALFORMED, non_retryable=True
        ) from None


def _refuse_oversized(name: str, value: object) -> None:
    if (size := message_size(value)) > MESSAGE_MAX_BYTES:
        raise ApplicationError(
            f"invalid {name}: the message is {size:,} bytes as compact JSON; "
            f"at most {MESSAGE_MAX_BYTES:,} are accepted",
            type=MALFORMED,
            non_retryable=True,
        )


def _not_oversized_start(raw: RawValue) -> None:
    """A new incident's input over the message limit is refused for its size first. No intake
    that fits the contract's field limits ever came near it, so running incidents are not
    affected; a continued run's input carries the whole incident and has no such limit."""
    value = _decode(raw)
    if not (isinstance(value, dict) and value.get("carried") is not None):
        _refuse_oversized(IncidentInput.__name__, value)


def parse_message(model: type[M], raw: RawValue, *, accepted_before: bool = False) -> M:
    """The message as `model`; `accepted_before` when the workflow re-reads what it already
    accepted (an update's handler after its validator, a replayed history), which skips the
    checks added since (see `schemas.common.ACCEPTED_BEFORE`)."""
    value = _decode(raw)
    if not accepted_before:
        _refuse_oversized(model.__name__, value)
    try:
        return model.model_validate(
            value, context={ACCEPTED_BEFORE: True} if accepted_before else None
        )
    except ValidationError as error:
        raise ApplicationError(
            f"invalid {model.__name__}: {_describe_validation_error(error)}",
            type=MALFORMED,
            non_retryable=True,
        ) from None


def _claimed_actor(raw: RawValue) -> Actor:
    """Best effort: who a malformed message says it is from, for the timeline."""
    try:
        value = workflow.payload_converter().from_payload(raw.payload)
        return Actor.model_validate(value["actor"])
    except Exception:
        return UNIDENTIFIED


class _TimeToContinueAsNew(Exception):
    """Raised out of a step's wait when the history has grown long."""


@workflow.defn
class IncidentWorkflow:
    @workflow.init
    def __init__(self, raw_input: RawValue) -> None:
        # Decoded here rather than by the SDK: an input sent as plain JSON (the HTTP API, the UI)
        # that does not fit the contract must fail the incident with the reason, not fail the
        # workflow task for ever.
        self._lock = asyncio.Lock()
        self._published: dict[str, Any] = {}
        self._deadlines_changed = False
        self._tracking = False
        self._reminding = False
        self._continuing = False
        self._deliveries: set[asyncio.Task[None]] = set()
        self._opened = False
        self._input_refused: str | None = None
        self._input_unchecked: str | None = None
        try:
            _not_oversized_start(raw_input)
            input = parse_message(IncidentInput, raw_input, accepted_before=True)
        except ApplicationError as refusal:
            self._input_refused = refusal.message
            return
        try:  # the checks added since: an incident already running passed without them
            parse_message(IncidentInput, raw_input)
        except ApplicationError as refusal:
            self._input_unchecked = refusal.message
        self._input = input
        if input.carried is not None:  # continued as new: carry on exactly where it was
            self.state = input.carried
            self._opened = True
            return
        now = workflow.now()
        severity = provisional_severity(input.intake)
        self.state = IncidentState(
            incident_id=workflow.info().workflow_id,
            intake=input.intake,
            policy=input.policy or Policy(),
            opened_at=now,
            step_entered_at=now,
            provisional_severity=severity,
            severity=severity,
            case_owner=input.intake.case_owner,
        )
        self._opened = False

    # --- the six steps ----------------------------------------------------------------------

    @workflow.run
    async def run(self, raw_input: RawValue) -> IncidentOutcome:
        refused = self._input_refused
        unchecked = self._input_unchecked
        fresh = refused is None and unchecked is not None and self._input.carried is None
        # Checked only where the patch is recorded: an incident that opened before it stays open.
        if fresh and workflow.patched(STRICT_INTAKE_PATCH):
            refused = unchecked
        if refused is not None:
            raise ApplicationError(refused, type=MALFORMED, non_retryable=True)
        input = self._input
        if input.carried is None:
            protected = workflow.patched(VICTIM_PROTECTION_PATCH)
            if protected:
                self.state.rules_version = RULES_WITH_PROTECTION
            if input.policy is None and workflow.patched(DEPLOYMENT_POLICY_PATCH):
                self.state.policy = await self._deployment_policy()
            elif protected:
                # Who holds which role is the deployment's to say, never the intake sender's.
                roles = (await self._deployment_policy()).roles
                self.state.policy = self.state.policy.model_copy(update={"roles": roles})
            await self._open_incident()
            # A first run only: a continued run carries an incident that was counted already.
            metrics.incident_opened()
        tracker = None
        if workflow.patched(DEADLINE_TRACKER_PATCH):
            self._tracking = True
            self._reminding = workflow.patched(DEADLINE_REMINDERS_PATCH)
            tracker = asyncio.create_task(self._track_deadlines())
        try:
            await self._verify_allegation()
            await self._determine_response()
            await self._design_action_plan()
            await self._implement_and_monitor()
            await self._close_incident()
            await self._capture_lessons()
            await self._follow_up()
        except _TimeToContinueAsNew:
            await self._continue_as_new(tracker)
        if tracker is not None:
            await tracker
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and not self._deliveries
        )
        return self._outcome()

    async def _deployment_policy(self) -> Policy:
        policy: Policy = await workflow.execute_activity(
            "deployment_policy",
            result_type=Policy,
            start_to_close_timeout=REGISTER_TIMEOUT,
            summary="policy of the deployment",
        )
        return policy

    def _history_is_long(self) -> bool:
        if not self._tracking:  # incidents from before continue-as-new existed never do it
            return False
        info = workflow.info()
        limit = self.state.policy.continue_as_new_after_events
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= limit

    async def _continue_as_new(self, tracker: "asyncio.Task[None] | None") -> NoReturn:
        """Hand everything to a fresh run once no handler is mid-way, so nothing is lost."""
        self._continuing = True
        if tracker is not None:
            await tracker
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and not self._deliveries
        )
        async with self._lock:
            length = workflow.info().get_current_history_length()
            await self._record_system(
                "continued_as_new", f"continued as new after {length} history events", []
            )
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            IncidentInput(intake=self.state.intake, policy=self.state.policy, carried=self.state)
        )

    async def _open_incident(self) -> None:
        """Step 1, automatic part: persist, triage, link related incidents, notify."""
        state = self.state
        workflow.set_current_details(current_details(state))
        try:
            opened = await self._register_opening()
        except ActivityError as error:
            refusal = error.cause
            if isinstance(refusal, ApplicationError) and refusal.non_retryable:
                # The register refused the opening (a second start of an incident's id, a
                # reference already used): the incident fails with the register's reason alone.
                raise ApplicationError(
                    refusal.message, type=refusal.type, non_retryable=True
                ) from None
            raise
        state.related = [related.incident_id for related in opened.related]
        recipient = state.case_owner or "case_owners"
        async with self._lock:
            await self._record_system(
                "opened",
                f"incident opened; provisional severity {state.provisional_severity}; "
                f"{len(state.related)} related incident(s)",
                [
                    Notice(
                        NotificationKind.CASE_OWNER_ASSIGNED,
                        recipient,
                        f"New incident {state.incident_id} to acknowledge",
                        f"A {state.provisional_severity} incident was opened; acknowledge it.",
                    )
                ],
            )
        self._opened = True

    async def _register_opening(self) -> IncidentOpened:
        state = self.state
        opened: IncidentOpened = await workflow.execute_activity(
            "open_incident",
            IncidentOpening(
                incident_id=state.incident_id,
                intake=state.intake,
                opened_at=state.opened_at,
                provisional_severity=state.provisional_severity,
                case_owner=state.case_owner,
                policy_version=state.policy.version,
                related_window_days=state.policy.related_incident_window_days,
                run_lineage=_run_lineage(),
            ),
            result_type=IncidentOpened,
            start_to_close_timeout=REGISTER_TIMEOUT,
            retry_policy=REGISTER_RETRY,
            summary="open incident in the register; find related incidents",
        )
        return opened

    async def _verify_allegation(self) -> None:
        """Step 1: acknowledge, protect anyone in imminent danger, verify."""
        await self._until_step_leaves(Step.VERIFICATION)

    async def _determine_response(self) -> None:
        """Step 2: the response level is proposed on entry; the decision needs approval."""
        await self._until_step_leaves(Step.RESPONSE)

    async def _design_action_plan(self) -> None:
        """Step 3: the plan, approved (rejections return it to its author)."""
        await self._until_step_leaves(Step.ACTION_PLAN)

    async def _implement_and_monitor(self) -> None:
        """Step 4: check-ins and amendments until every action is resolved."""
        await self._until_step_leaves(Step.IMPLEMENTATION)

    async def _close_incident(self) -> None:
        """Step 5: once closure is approved, write the closure report and tell the reporter."""
        await self._until(lambda: self.state.closed_at is not None)
        if self.state.closure_report_written:
            return
        report = await workflow.execute_activity(
            "write_closure_report",
            ClosureReportRequest(incident_id=self.state.incident_id, generated_at=workflow.now()),
            result_type=ClosureReport,
            start_to_close_timeout=REGISTER_TIMEOUT,
            retry_policy=REGISTER_RETRY,
            summary="write the closure report",
        )
        async with self._lock:
            draft = self.state.model_copy(deep=True)
            notices = []
            reporter = draft.intake.reporter
            if reporter is not None and reporter.contact:
                notices.append(
                    Notice(
                        NotificationKind.REPORTER_FEEDBACK,
                        "reporter",
                        f"Your report {draft.intake.external_reference}: case closed",
                        "The case opened on your report has been closed. The grievance channel "
                        "stays open to you and to the people concerned.",
                    )
                )
            if draft.step == Step.CLOSURE:
                enter_step(draft, Step.LESSONS_LEARNED, workflow.now())
            draft.closure_report_written = True
            self.state = draft
            await self._record_system(
                "closure_report", f"closure report written ({len(report.markdown)} chars)", notices
            )

    async def _capture_lessons(self) -> None:
        """Step 6: lessons into the knowledge base; then the incident is complete."""
        if self.state.step != Step.LESSONS_LEARNED:
            return
        await self._until(lambda: self.state.lessons is not None)
        state = self.state
        lessons = state.lessons
        assert lessons is not None
        verification = state.verification
        harms = verification.harms_confirmed if verification else []
        await workflow.execute_activity(
            "store_lessons",
            LessonRecord(
                incident_id=state.incident_id,
                recorded_at=workflow.now(),
                minerals=state.intake.minerals,
                country=state.intake.location.country,
                facility_ids=state.intake.facility_ids,
                harm_types=harms or state.intake.alleged_harms,
                root_causes=lessons.root_causes,
                root_cause_notes=lessons.root_cause_notes,
                due_diligence_gaps=lessons.due_diligence_gaps,
                changes_made=[f"{c.area}: {c.description}" for c in lessons.changes_made],
                supplier_engagement_outcome=lessons.supplier_engagement_outcome,
                shared_with_industry_programme=lessons.share_with_industry_programme,
                anonymised_summary=lessons.anonymised_summary,
            ),
            result_type=bool,
            start_to_close_timeout=REGISTER_TIMEOUT,
            retry_policy=REGISTER_RETRY,
            summary="store lessons in the knowledge base",
        )
        async with self._lock:
            window = state.policy.window(MilestoneKind.FOLLOW_UP, state.severity)
            if window is not None and workflow.patched(FOLLOW_UP_PATCH):
                enter_step(self.state, Step.FOLLOW_UP, workflow.now())
                self.state.case_status = CaseStatus.FOLLOW_UP
                await self._record_system(
                    "follow_up_due", "lessons stored; post-closure follow-up is next", []
                )
            else:
                enter_step(self.state, Step.COMPLETED, workflow.now())
                await self._record_system("completed", "lessons stored; incident completed", [])

    async def _follow_up(self) -> None:
        """After closure: is the remedy sustained? A recurrence opens a new, linked incident."""
        if self.state.step != Step.FOLLOW_UP:
            return
        await self._until(lambda: self.state.follow_up is not None)
        follow_up = self.state.follow_up
        assert follow_up is not None
        if follow_up.recurrence and self.state.recurrence_incident is None:
            recurrence = await self._open_recurrence(follow_up)
            async with self._lock:
                self.state.recurrence_incident = recurrence
                self.state.related.append(recurrence)
                await self._record_system(
                    "recurrence_opened", f"recurrence opened as {recurrence}", []
                )
        async with self._lock:
            closure = self.state.closure
            referred = closure is not None and closure.status == ClosureStatus.CLOSED_REFERRED
            self.state.case_status = CaseStatus.CLOSED_REFERRED if referred else CaseStatus.CLOSED
            enter_step(self.state, Step.COMPLETED, workflow.now())
            await self._record_system("completed", "follow-up recorded; incident completed", [])

    async def _open_recurrence(self, follow_up: FollowUp) -> str:
        """The same site, facilities and harms, as a new incident that links back to this one."""
        original = self.state.intake
        reference = f"{original.external_reference[:90]}-R{self.state.sequence}"
        intake = original.model_copy(
            update={
                "external_reference": reference,
                "received_at": workflow.now(),
                "description": f"Recurrence found at the post-closure follow-up of "
                f"{self.state.incident_id}: {follow_up.findings}",
                "opened_by": follow_up.actor,
                "case_owner": self.state.case_owner,
            }
        )
        child = await workflow.start_child_workflow(
            "IncidentWorkflow",
            IncidentInput(intake=intake, policy=None),
            id=incident_id_for(reference),
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=static_summary(intake),
        )
        return child.id

    # --- deadlines and escalation ------------------------------------------------------------

    async def _track_deadlines(self) -> None:
        """One timer at a time, for the earliest escalation of any open milestone; recomputed
        whenever the incident changes (docs/design.md, Deadlines and Escalation ladder)."""
        while self.state.step != Step.COMPLETED and not self._continuing:
            async with self._lock:
                await self._remind(workflow.now())
                await self._escalate(workflow.now())
            wake = next_wakeup(open_milestones(self.state), workflow.now(), self._reminded())
            self._deadlines_changed = False
            if wake is None:
                await workflow.wait_condition(lambda: self._deadlines_changed or self._continuing)
                continue
            when, what = wake
            with contextlib.suppress(TimeoutError):  # the timer fired: act on the next turn
                await workflow.wait_condition(
                    lambda: self._deadlines_changed or self._continuing,
                    timeout=when - workflow.now(),
                    timeout_summary=what,
                )
        if self._continuing:
            return
        async with self._lock:
            for escalation in list(self.state.escalations.values()):
                await self._record_escalation(
                    EscalationChange(_as_milestone(escalation), 0, "closed"), workflow.now()
                )

    def _reminded(self) -> dict[str, datetime] | None:
        """What the case owner was reminded of; None where reminders are off, so the tracker
        sets no reminder timers."""
        if self._reminding and self.state.policy.deadline_reminders:
            return self.state.reminded
        return None

    async def _remind(self, now: datetime) -> None:
        """Remind the case owner of every milestone whose reminder time has come."""
        reminded = self._reminded()
        if reminded is None:
            return
        for milestone in reminders_due(open_milestones(self.state), reminded, now):
            await self._record_reminder(milestone, now)

    async def _record_reminder(self, milestone: Milestone, now: datetime) -> None:
        draft = self.state.model_copy(deep=True)
        still_open = {m.milestone for m in open_milestones(draft)}
        draft.reminded = {name: due for name, due in draft.reminded.items() if name in still_open}
        draft.reminded[milestone.milestone] = milestone.due_at
        draft.sequence += 1
        left = _duration(milestone.due_at - now)
        summary = (
            f"{milestone.milestone} due {milestone.due_at:%Y-%m-%d %H:%M} UTC, in {left}: "
            "case owner reminded"
        )
        notice = Notice(
            NotificationKind.DEADLINE_REMINDER,
            draft.case_owner or "case_owners",
            f"Due in {left}: {milestone.milestone} on {draft.incident_id}",
            f"{milestone.milestone} of {draft.incident_id} is due "
            f"{milestone.due_at:%Y-%m-%d %H:%M} UTC; it escalates if missed.",
        )
        effect = Effect(
            outcome=EventOutcome.RECORDED, summary=summary, message=summary, notices=[notice]
        )
        await self._persist(draft, "system_reminder", SYSTEM_ACTOR, effect, {}, None)
        self.state = draft
        self._publish()

    async def _escalate(self, now: datetime) -> None:
        """Record every level reached and every escalation cleared since the last look."""
        milestones = open_milestones(self.state)
        for change in plan_escalations(self.state.escalations, milestones, now):
            await self._record_escalation(change, now)

    async def _record_escalation(self, change: EscalationChange, now: datetime) -> None:
        draft = self.state.model_copy(deep=True)
        milestone = change.milestone
        previous = draft.escalations.get(milestone.milestone)
        if change.level == 0:
            draft.escalations.pop(milestone.milestone, None)
            told = previous.notified if previous else []
            late = change.late_by
            lateness = f", {_duration(late)} late" if late else ""
            summary = (
                f"{milestone.milestone} escalation cleared ({change.cleared_because}{lateness})"
            )
            notices = [
                Notice(
                    NotificationKind.ESCALATION_CLEARED,
                    recipient,
                    f"Cleared: {milestone.milestone} on {draft.incident_id}",
                    f"{milestone.milestone} is no longer overdue ({change.cleared_because}).",
                )
                for recipient in told
            ]
        else:
            already = previous.level if previous else 0
            told = []
            for level in range(already + 1, change.level + 1):
                told += recipients(
                    level,
                    draft.case_owner,
                    draft.policy.escalation,
                    critical=draft.severity == Severity.CRITICAL,
                )
            draft.escalations[milestone.milestone] = Escalation(
                milestone=milestone.milestone,
                kind=milestone.kind,
                level=change.level,
                due_at=milestone.due_at,
                window=milestone.window,
                overdue_since=previous.overdue_since if previous else now,
                notified=[*(previous.notified if previous else []), *told],
            )
            summary = (
                f"{milestone.milestone} overdue since {milestone.due_at:%Y-%m-%d %H:%M} UTC: "
                f"escalated to level {change.level}"
            )
            notices = [
                Notice(
                    NotificationKind.ESCALATION,
                    recipient,
                    f"Overdue (level {change.level}): {milestone.milestone} on {draft.incident_id}",
                    f"{milestone.milestone} of {draft.incident_id} was due "
                    f"{milestone.due_at:%Y-%m-%d %H:%M} UTC and is overdue; escalation level "
                    f"{change.level}.",
                )
                for recipient in told
            ]
        draft.sequence += 1
        effect = Effect(
            outcome=EventOutcome.RECORDED, summary=summary, message=summary, notices=notices
        )
        record = EscalationRecord(
            milestone=milestone.milestone,
            milestone_kind=str(milestone.kind),
            level=change.level,
            due_at=milestone.due_at,
            reached_at=now
            if change.level == 0
            else escalation_time(milestone.due_at, milestone.window, change.level),
            cleared_because=change.cleared_because,
            late_by_seconds=None if change.late_by is None else int(change.late_by.total_seconds()),
            notified=told,
        )
        await self._persist(
            draft, "system_escalation", SYSTEM_ACTOR, effect, {}, None, escalation=record
        )
        self.state = draft
        self._publish()
        if change.level > 0:
            metrics.escalation_raised(change.level)

    async def _until_step_leaves(self, step: Step) -> None:
        await self._until(lambda: self.state.step != step)

    async def _until(self, condition: Callable[[], bool]) -> None:
        """Wait for the process to move on, or for the history to grow long enough that the
        incident should continue as new."""
        await workflow.wait_condition(lambda: condition() or self._history_is_long())
        if not condition():
            raise _TimeToContinueAsNew

    def _outcome(self) -> IncidentOutcome:
        state = self.state
        statuses = [a.status for a in state.actions.values()]
        return IncidentOutcome(
            incident_id=state.incident_id,
            case_status=state.case_status,
            closure_reason=state.closure_reason or "",
            severity=state.severity,
            response_level=state.response.level if state.response else None,
            actions_completed=statuses.count(ActionStatus.COMPLETED),
            actions_cancelled=statuses.count(ActionStatus.CANCELLED),
            lessons_captured=state.lessons is not None,
            recurrence_incident=state.recurrence_incident,
            closed_at=state.closed_at or workflow.now(),
        )

    # --- deciding ---------------------------------------------------------------------------

    def _validate(self, kind: DecisionKind, raw: RawValue) -> None:
        """Update validator: never mutates; raising rejects the update without a trace."""
        try:
            decision = parse_message(DECISION_MODELS[kind], raw)
        except ApplicationError:
            metrics.decision_refused(kind)
            raise
        if (
            decision.decision_id is not None
            and str(decision.decision_id) in self.state.seen_decisions
        ):
            return
        try:
            check(self.state, kind, decision, workflow.now())
        except DecisionRefused as refusal:
            metrics.decision_refused(kind)
            raise ApplicationError(str(refusal), type=REFUSED, non_retryable=True) from None

    async def _decide(self, kind: DecisionKind, raw: RawValue) -> DecisionResult:
        # The validator checked it in full before it was accepted.
        decision = parse_message(DECISION_MODELS[kind], raw, accepted_before=True)
        await workflow.wait_condition(lambda: self._opened)
        async with self._lock:
            duplicate = self._duplicate_result(kind, decision)
            if duplicate is not None:
                return duplicate
            try:
                # Re-checked under the lock: another decision may have landed since validation.
                self._check(kind, decision)
            except DecisionRefused as refusal:
                metrics.decision_refused(kind)
                raise ApplicationError(str(refusal), type=REFUSED, non_retryable=True) from None
            return await self._commit(kind, decision)

    async def _decide_by_signal(self, kind: DecisionKind, raw: RawValue) -> None:
        await workflow.wait_condition(lambda: self._opened)
        async with self._lock:
            try:
                decision = parse_message(
                    DECISION_MODELS[kind], raw, accepted_before=not self.state.protected
                )
            except ApplicationError as error:
                metrics.decision_refused(kind)
                await self._record_refused(kind, _claimed_actor(raw), error.message, raw)
                return
            if self._duplicate_result(kind, decision) is not None:
                return
            try:
                self._check(kind, decision)
            except DecisionRefused as refusal:
                metrics.decision_refused(kind)
                await self._record_refused(kind, decision.actor, str(refusal), raw)
                return
            await self._commit(kind, decision)

    def _check(self, kind: DecisionKind, decision: Decision) -> None:
        """The rules, as a handler applies them. Stored lessons count as under way (so the
        follow-up is accepted at once) where the patch is recorded: incidents that ran before it
        refused a follow-up signal until the lessons were stored, and replay the same."""
        in_flight = needs_lessons_in_flight(self.state, kind) and workflow.patched(
            LESSONS_IN_FLIGHT_PATCH
        )
        check(self.state, kind, decision, workflow.now(), lessons_in_flight=in_flight)

    def _duplicate_result(self, kind: DecisionKind, decision: Decision) -> DecisionResult | None:
        if decision.decision_id is None:
            return None
        sequence = self.state.seen_decisions.get(str(decision.decision_id))
        if sequence is None:
            return None
        original = next((e for e in self.state.timeline if e.sequence == sequence), None)
        return DecisionResult(
            incident_id=self.state.incident_id,
            kind=kind,
            sequence=sequence,
            outcome=original.outcome if original else EventOutcome.ACCEPTED,
            approval_id=None,
            step=step_in_flight(self.state),
            message=f"decision {decision.decision_id} was already applied as event {sequence}",
            duplicate=True,
        )

    async def _commit(self, kind: DecisionKind, decision: Decision) -> DecisionResult:
        """Apply to a copy, persist it, then make it the state: the state never runs ahead of
        the register."""
        now = workflow.now()
        draft = self.state.model_copy(deep=True)
        effect = apply(draft, kind, decision, now)
        draft.sequence += 1
        if decision.decision_id is not None:
            draft.remember_decision(str(decision.decision_id), draft.sequence)
        check_in = decision if isinstance(decision, CheckIn) else None
        victim = None
        if isinstance(decision, RecordVictim):
            victim = VictimRecord(
                victim_id=decision.victim_id,
                child=decision.child,
                recorded_by=decision.actor.id,
                personal_data=decision.personal_data,
            )
        erased = effect.decided.subject if effect.decided is not None else None
        await self._persist(
            draft,
            kind,
            decision.actor,
            effect,
            decision.model_dump(mode="json"),
            check_in,
            victim=victim,
            erased_victim=erased.victim_id
            if isinstance(erased, EraseVictim) and effect.outcome == EventOutcome.APPROVED
            else None,
        )
        self.state = draft
        self._publish()
        return DecisionResult(
            incident_id=draft.incident_id,
            kind=kind,
            sequence=draft.sequence,
            outcome=effect.outcome,
            approval_id=effect.approval_id,
            step=step_in_flight(draft),
            message=effect.message,
        )

    async def _record_refused(self, kind: str, actor: Actor, message: str, raw: RawValue) -> None:
        draft = self.state.model_copy(deep=True)
        draft.sequence += 1
        try:
            received = workflow.payload_converter().from_payload(raw.payload)
        except Exception:
            received = None
        # A refused message may carry anything, personal data included: the register keeps only
        # its shape, never its values.
        payload: dict[str, Any] = (
            {"refused_fields": sorted(_field_label(key) for key in received)[:50]}
            if isinstance(received, dict)
            else {"undecodable": True}
        )
        effect = Effect(
            outcome=EventOutcome.REFUSED,
            summary=f"{kind} signal refused",
            message=message,
            reason=message,
        )
        await self._persist(draft, kind, actor, effect, payload, None)
        self.state = draft
        self._publish()

    async def _record_fact(self, kind: FactKind, raw: RawValue) -> None:
        await workflow.wait_condition(lambda: self._opened)
        async with self._lock:
            try:
                fact = parse_message(
                    FACT_MODELS[kind], raw, accepted_before=not self.state.protected
                )
            except ApplicationError as error:
                await self._record_refused(kind, _claimed_actor(raw), error.message, raw)
                return
            draft = self.state.model_copy(deep=True)
            draft.sequence += 1
            actor = getattr(fact, "actor", UNIDENTIFIED)
            effect = Effect(outcome=EventOutcome.RECORDED, summary=f"{kind} added", message="")
            await self._persist(draft, kind, actor, effect, fact.model_dump(mode="json"), None)
            self.state = draft
            self._publish()

    async def _record_system(self, kind: str, summary: str, notices: list[Notice]) -> None:
        """An automatic event; caller holds the lock."""
        draft = self.state.model_copy(deep=True)
        draft.sequence += 1
        effect = Effect(
            outcome=EventOutcome.RECORDED, summary=summary, message=summary, notices=notices
        )
        await self._persist(draft, f"system_{kind}", SYSTEM_ACTOR, effect, {}, None)
        self.state = draft
        self._publish()

    async def _persist(
        self,
        draft: IncidentState,
        kind: str,
        actor: Actor,
        effect: Effect,
        payload: Any,
        check_in: CheckIn | None,
        *,
        escalation: EscalationRecord | None = None,
        victim: VictimRecord | None = None,
        erased_victim: str | None = None,
    ) -> None:
        now = workflow.now()
        # The register holds at most REASON_MAX characters of a reason; a longer refusal must not
        # fail the workflow task for ever.
        reason = None if effect.reason is None else effect.reason[:REASON_MAX]
        draft.timeline.append(
            TimelineEvent(
                sequence=draft.sequence,
                at=now,
                kind=kind,
                outcome=effect.outcome,
                actor=actor,
                reason=reason,
                summary=effect.summary,
            )
        )
        event = RegisterEvent(
            incident_id=draft.incident_id,
            sequence=draft.sequence,
            kind=kind,
            outcome=effect.outcome,
            actor=actor,
            occurred_at=now,
            reason=reason,
            summary=effect.summary[:300],
            payload=payload,
            snapshot=_snapshot(draft, now),
            escalation=escalation,
            victim=victim,
            erased_victim=erased_victim,
            run_lineage=_run_lineage(),
            approvals=[
                _approval_record(draft, approval_id, actor, effect, now)
                for approval_id in effect.touched_approvals
            ],
            actions=[_action_record(draft, action_id) for action_id in effect.touched_actions],
            check_in=None
            if check_in is None
            else CheckInRecord(
                period_start=check_in.period_start,
                period_end=check_in.period_end,
                submitted_by=actor.id,
                actions_reported=len(check_in.progress),
                victim_feedback=check_in.victim_feedback,
                new_risks=check_in.new_risks,
            ),
        )
        notifications = [
            Notification(
                incident_id=draft.incident_id,
                sequence=draft.sequence,
                kind=notice.kind,
                recipient=notice.recipient,
                subject=notice.subject,
                body=notice.body,
                created_at=now,
            )
            for notice in effect.notices
        ]
        if not workflow.patched(ONE_REGISTER_WRITE_PATCH):
            await self._persist_one_write_at_a_time(event, notifications)
            return
        # One activity, so a decision costs one round trip through the server for its register
        # write whatever it notifies. Not a local activity: a local activity writes before the
        # workflow task that runs it is committed, and a task retried after a server or worker
        # failure may see decisions in another order and give the same sequence to another event.
        await workflow.execute_activity(
            "record_event_with_notifications",
            EventWithNotifications(event=event, notifications=notifications),
            result_type=bool,
            start_to_close_timeout=REGISTER_TIMEOUT,
            retry_policy=REGISTER_RETRY,
            summary=f"record {kind} ({effect.outcome}), queue {len(notifications)} notification(s)",
        )
        for notification in notifications:
            if workflow.patched(OUTBOX_DELIVERY_PATCH):
                self._deliver_in_background(notification)

    async def _persist_one_write_at_a_time(
        self, event: RegisterEvent, notifications: list[Notification]
    ) -> None:
        """How incidents started before ONE_REGISTER_WRITE_PATCH write an event."""
        await workflow.execute_activity(
            "record_event",
            event,
            result_type=bool,
            start_to_close_timeout=REGISTER_TIMEOUT,
            retry_policy=REGISTER_RETRY,
            summary=f"record {event.kind} ({event.outcome})",
        )
        for notification in notifications:
            await workflow.execute_activity(
                "queue_notification",
                notification,
                result_type=bool,
                start_to_close_timeout=REGISTER_TIMEOUT,
                retry_policy=REGISTER_RETRY,
                summary=f"queue {notification.kind} notification",
            )
            if workflow.patched(OUTBOX_DELIVERY_PATCH):
                self._deliver_in_background(notification)

    def _deliver_in_background(self, notification: Notification) -> None:
        # Delivered in the background: a channel that is down for hours must not hold up the
        # decision that caused the notification.
        delivery = asyncio.create_task(self._deliver(NotificationKey.of(notification)))
        self._deliveries.add(delivery)
        delivery.add_done_callback(self._deliveries.discard)

    async def _deliver(self, key: NotificationKey) -> None:
        await workflow.execute_activity(
            "deliver_notification",
            key,
            start_to_close_timeout=DELIVERY_ATTEMPT_TIMEOUT,
            retry_policy=DELIVERY_RETRY,
            summary=f"deliver {key.kind} notification",
        )

    def _publish(self) -> None:
        """Search attributes and current details for operators in the UI (no personal data)."""
        state = self.state
        milestones = open_milestones(state)
        values: dict[str, Any] = {
            sa.STEP.name: str(state.step),
            sa.SEVERITY.name: str(state.severity),
            sa.RESPONSE_LEVEL.name: str(state.response.level) if state.response else None,
            sa.MINERAL.name: [str(m) for m in state.intake.minerals],
            sa.COUNTRY.name: state.intake.location.country,
            sa.FACILITY_ID.name: list(state.intake.facility_ids),
            sa.CASE_OWNER.name: state.case_owner,
            sa.ESCALATION_LEVEL.name: max((e.level for e in state.escalations.values()), default=0),
            sa.NEXT_DEADLINE.name: milestones[0].due_at if milestones else None,
            sa.OVERDUE.name: bool(state.escalations)
            or bool(milestones and milestones[0].due_at < workflow.now()),
        }
        keys = {key.name: key for key in sa.ALL}
        updates = []
        for name, value in values.items():
            if name in self._published and self._published[name] == value:
                continue
            key = keys[name]
            updates.append(key.value_unset() if value in (None, []) else key.value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)
        self._published = values
        self._deadlines_changed = True
        workflow.set_current_details(current_details(state))

    # --- queries ----------------------------------------------------------------------------

    def _opened_state(self) -> IncidentState:
        if self._input_refused is not None:
            raise ApplicationError(f"the incident never opened: {self._input_refused}")
        return self.state

    @workflow.query
    def status(self) -> IncidentStatus:
        """Where the case stands: step, severity, what is awaited from whom and by when."""
        return status_view(self._opened_state())

    @workflow.query
    def timeline(self) -> list[TimelineEvent]:
        """Every event with actor, time, reason and outcome."""
        return list(self._opened_state().timeline)

    @workflow.query
    def partner_actions(self, partner: str) -> PartnerView:
        """What an implementing partner may see: only the actions they implement."""
        return partner_view(self._opened_state(), partner)

    # --- decisions: an update (validated before acceptance) and a signal for each ----------

    @workflow.update(name="acknowledge")
    async def acknowledge_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.ACKNOWLEDGE, decision)

    @acknowledge_update.validator
    def acknowledge_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.ACKNOWLEDGE, decision)

    @workflow.signal(name="acknowledge")
    async def acknowledge_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.ACKNOWLEDGE, decision)

    @workflow.update(name="immediate_protection")
    async def immediate_protection_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.IMMEDIATE_PROTECTION, decision)

    @immediate_protection_update.validator
    def immediate_protection_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.IMMEDIATE_PROTECTION, decision)

    @workflow.signal(name="immediate_protection")
    async def immediate_protection_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.IMMEDIATE_PROTECTION, decision)

    @workflow.update(name="verification")
    async def verification_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.VERIFICATION, decision)

    @verification_update.validator
    def verification_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.VERIFICATION, decision)

    @workflow.signal(name="verification")
    async def verification_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.VERIFICATION, decision)

    @workflow.update(name="response")
    async def response_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.RESPONSE, decision)

    @response_update.validator
    def response_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.RESPONSE, decision)

    @workflow.signal(name="response")
    async def response_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.RESPONSE, decision)

    @workflow.update(name="action_plan")
    async def action_plan_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.ACTION_PLAN, decision)

    @action_plan_update.validator
    def action_plan_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.ACTION_PLAN, decision)

    @workflow.signal(name="action_plan")
    async def action_plan_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.ACTION_PLAN, decision)

    @workflow.update(name="check_in")
    async def check_in_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.CHECK_IN, decision)

    @check_in_update.validator
    def check_in_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.CHECK_IN, decision)

    @workflow.signal(name="check_in")
    async def check_in_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.CHECK_IN, decision)

    @workflow.update(name="amend_plan")
    async def amend_plan_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.AMEND_PLAN, decision)

    @amend_plan_update.validator
    def amend_plan_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.AMEND_PLAN, decision)

    @workflow.signal(name="amend_plan")
    async def amend_plan_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.AMEND_PLAN, decision)

    @workflow.update(name="closure")
    async def closure_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.CLOSURE, decision)

    @closure_update.validator
    def closure_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.CLOSURE, decision)

    @workflow.signal(name="closure")
    async def closure_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.CLOSURE, decision)

    @workflow.update(name="lessons_learned")
    async def lessons_learned_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.LESSONS_LEARNED, decision)

    @lessons_learned_update.validator
    def lessons_learned_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.LESSONS_LEARNED, decision)

    @workflow.signal(name="lessons_learned")
    async def lessons_learned_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.LESSONS_LEARNED, decision)

    @workflow.update(name="approve")
    async def approve_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.APPROVE, decision)

    @approve_update.validator
    def approve_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.APPROVE, decision)

    @workflow.signal(name="approve")
    async def approve_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.APPROVE, decision)

    @workflow.update(name="reject")
    async def reject_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.REJECT, decision)

    @reject_update.validator
    def reject_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.REJECT, decision)

    @workflow.signal(name="reject")
    async def reject_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.REJECT, decision)

    @workflow.update(name="reassign")
    async def reassign_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.REASSIGN, decision)

    @reassign_update.validator
    def reassign_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.REASSIGN, decision)

    @workflow.signal(name="reassign")
    async def reassign_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.REASSIGN, decision)

    @workflow.update(name="extend_deadline")
    async def extend_deadline_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.EXTEND_DEADLINE, decision)

    @extend_deadline_update.validator
    def extend_deadline_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.EXTEND_DEADLINE, decision)

    @workflow.signal(name="extend_deadline")
    async def extend_deadline_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.EXTEND_DEADLINE, decision)

    @workflow.update(name="close_early")
    async def close_early_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.CLOSE_EARLY, decision)

    @close_early_update.validator
    def close_early_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.CLOSE_EARLY, decision)

    @workflow.signal(name="close_early")
    async def close_early_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.CLOSE_EARLY, decision)

    @workflow.update(name="follow_up")
    async def follow_up_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.FOLLOW_UP, decision)

    @follow_up_update.validator
    def follow_up_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.FOLLOW_UP, decision)

    @workflow.signal(name="follow_up")
    async def follow_up_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.FOLLOW_UP, decision)

    # --- victims: records, consent, best interests, erasure ------------------------------------

    @workflow.update(name="record_victim")
    async def record_victim_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.RECORD_VICTIM, decision)

    @record_victim_update.validator
    def record_victim_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.RECORD_VICTIM, decision)

    @workflow.signal(name="record_victim")
    async def record_victim_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.RECORD_VICTIM, decision)

    @workflow.update(name="record_consent")
    async def record_consent_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.RECORD_CONSENT, decision)

    @record_consent_update.validator
    def record_consent_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.RECORD_CONSENT, decision)

    @workflow.signal(name="record_consent")
    async def record_consent_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.RECORD_CONSENT, decision)

    @workflow.update(name="withdraw_consent")
    async def withdraw_consent_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.WITHDRAW_CONSENT, decision)

    @withdraw_consent_update.validator
    def withdraw_consent_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.WITHDRAW_CONSENT, decision)

    @workflow.signal(name="withdraw_consent")
    async def withdraw_consent_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.WITHDRAW_CONSENT, decision)

    @workflow.update(name="share_victim_data")
    async def share_victim_data_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.SHARE_VICTIM_DATA, decision)

    @share_victim_data_update.validator
    def share_victim_data_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.SHARE_VICTIM_DATA, decision)

    @workflow.signal(name="share_victim_data")
    async def share_victim_data_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.SHARE_VICTIM_DATA, decision)

    @workflow.update(name="best_interests")
    async def best_interests_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.BEST_INTERESTS, decision)

    @best_interests_update.validator
    def best_interests_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.BEST_INTERESTS, decision)

    @workflow.signal(name="best_interests")
    async def best_interests_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.BEST_INTERESTS, decision)

    @workflow.update(name="erase_victim")
    async def erase_victim_update(self, decision: RawValue) -> DecisionResult:
        return await self._decide(DecisionKind.ERASE_VICTIM, decision)

    @erase_victim_update.validator
    def erase_victim_validate(self, decision: RawValue) -> None:
        self._validate(DecisionKind.ERASE_VICTIM, decision)

    @workflow.signal(name="erase_victim")
    async def erase_victim_signal(self, decision: RawValue) -> None:
        await self._decide_by_signal(DecisionKind.ERASE_VICTIM, decision)

    # --- plain facts: signals only ----------------------------------------------------------

    @workflow.signal(name="note")
    async def note(self, fact: RawValue) -> None:
        await self._record_fact(FactKind.NOTE, fact)

    @workflow.signal(name="evidence_added")
    async def evidence_added(self, fact: RawValue) -> None:
        await self._record_fact(FactKind.EVIDENCE_ADDED, fact)


def _run_lineage() -> str:
    """The incident's run lineage: its first run's id, carried by every retry and
    continue-as-new run (see activities/register_integrity.py)."""
    return workflow.info().first_execution_run_id


def _snapshot(state: IncidentState, now: datetime) -> IncidentSnapshot:
    milestones = open_milestones(state)
    return IncidentSnapshot(
        escalation_level=max((e.level for e in state.escalations.values()), default=0),
        overdue=bool(state.escalations) or any(m.due_at < now for m in milestones),
        next_deadline=milestones[0].due_at if milestones else None,
        step=state.step,
        case_status=state.case_status,
        severity=state.severity,
        response_level=state.response.level if state.response else None,
        relationship=state.verification.relationship if state.verification else None,
        case_owner=state.case_owner,
        closed_at=state.closed_at,
        closure_reason=state.closure_reason,
    )


def _as_milestone(escalation: Escalation) -> Milestone:
    return Milestone(
        milestone=escalation.milestone,
        kind=escalation.kind,
        due_at=escalation.due_at,
        window=escalation.window,
        extended=False,
    )


def _duration(span: timedelta) -> str:
    days, seconds = span.days, span.seconds
    if days:
        return f"{days}d {seconds // 3600}h"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"


def _approval_record(
    state: IncidentState, approval_id: str, actor: Actor, effect: Effect, now: datetime
) -> ApprovalRecord:
    pending = state.approvals.get(approval_id)
    if pending is not None:
        return ApprovalRecord(
            approval_id=approval_id,
            kind=pending.kind,
            author_id=pending.author.id,
            requested_at=pending.requested_at,
            due_at=next(
                (
                    m.due_at
                    for m in open_milestones(state)
                    if m.milestone == f"approval:{approval_id}"
                ),
                None,
            ),
            status=ApprovalStatus.PENDING,
        )
    decided = effect.decided
    assert decided is not None, f"approval {approval_id} is neither pending nor decided"
    return ApprovalRecord(
        approval_id=approval_id,
        kind=decided.kind,
        author_id=decided.author.id,
        requested_at=decided.requested_at,
        due_at=None,
        status=ApprovalStatus.APPROVED
        if effect.outcome == EventOutcome.APPROVED
        else ApprovalStatus.REJECTED,
        decided_by=actor.id,
        decided_at=now,
        comments=effect.reason,
    )


def _action_record(state: IncidentState, action_id: str) -> ActionRecord:
    action = state.actions[action_id]
    plan = action.plan
    return ActionRecord(
        action_id=action_id,
        category=plan.category,
        action_type=str(plan.remedy_type or plan.assistance_type),
        description=plan.description,
        responsible_party=plan.responsible_party,
        implementing_partner=plan.implementing_partner,
        beneficiary_count=len(plan.beneficiaries),
        concerns_children=plan.concerns_children,
        due_date=plan.due_date,
        budget_amount=plan.budget.amount,
        currency=plan.budget.currency,
        status=action.status,
        progress_percent=action.progress_percent,
        spend_to_date=action.spend_to_date,
        completion_verified_by=action.completion.verified_by if action.completion else None,
        completion_how=action.completion.how if action.completion else None,
        cancellation_reason=action.cancellation_reason,
    )
