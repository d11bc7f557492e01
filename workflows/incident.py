"""`IncidentWorkflow`: one incident through IOM's six steps, driven by validated human decisions.

`run` reads like the process. Decisions arrive as updates (validated before they are accepted, so a
refused update leaves no trace) or as signals carrying the same payload (validated when handled; a
refused signal is recorded in the timeline and changes nothing else). The rules live in
`workflows.rules` (one registry entry per decision kind); this module wires them to Temporal and
to the case register.
"""

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.case_register import CaseRegister
    from activities.deployment_policy import DeploymentPolicy
    from schemas.actor import SYSTEM_ACTOR, Actor
    from schemas.decisions import Decision, DecisionKind, FollowUp
    from schemas.facts import FACT_MODELS, FactKind
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
    from schemas.incident_state import RULES_WITH_PROTECTION, IncidentState
    from schemas.policy import MilestoneKind, Policy
    from schemas.register import ClosureReportRequest, EventOutcome, IncidentOpened, IncidentOpening
    from schemas.vocabulary import CaseStatus, Step
    from workflows import incident_lifecycle as lifecycle
    from workflows import metrics, patches
    from workflows.deadline_notices import as_milestone, escalate, remind
    from workflows.decision_handlers import with_decision_handlers
    from workflows.escalation import EscalationChange, next_wakeup, plan_escalations, reminders_due
    from workflows.incident_details import current_details, static_summary
    from workflows.incident_state import open_milestones, partner_view, status_view
    from workflows.messages import (
        MALFORMED,
        REFUSED,
        UNIDENTIFIED,
        claimed_actor,
        parse_message,
        refuse_oversized_start,
        refused_shape,
    )
    from workflows.names import (
        INCIDENT_WORKFLOW,
        PARTNER_ACTIONS_QUERY,
        STATUS_QUERY,
        TIMELINE_QUERY,
    )
    from workflows.register_events import NOTHING_ELSE, Records, records_of, register_event
    from workflows.register_writes import RegisterWriter
    from workflows.retries import REGISTER_RETRY, REGISTER_TIMEOUT
    from workflows.rules.outcome import DecisionRefused, Effect, Notice, enter_step
    from workflows.rules.registry import (
        REGISTRY,
        already_applied,
        apply,
        check,
        needs_lessons_in_flight,
        step_in_flight,
    )


class _TimeToContinueAsNew(Exception):
    """Raised out of a step's wait when the history has grown long."""


@workflow.defn(name=INCIDENT_WORKFLOW)
@with_decision_handlers
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
        self._publishing_awaiting = False
        self._register = RegisterWriter()
        self._opened = False
        self._input_refused: str | None = None
        self._input_unchecked: str | None = None
        try:
            refuse_oversized_start(raw_input)
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
        self.state = lifecycle.new_incident(input, workflow.info().workflow_id, workflow.now())

    # --- the six steps ----------------------------------------------------------------------

    @workflow.run
    async def run(self, raw_input: RawValue) -> IncidentOutcome:
        refused = self._input_refused
        unchecked = self._input_unchecked
        fresh = refused is None and unchecked is not None and self._input.carried is None
        # Checked only where the patch is recorded: an incident that opened before it stays open.
        if fresh and workflow.patched(patches.STRICT_INTAKE):
            refused = unchecked
        if refused is not None:
            raise ApplicationError(refused, type=MALFORMED, non_retryable=True)
        input = self._input
        # Decided once, before anything is published: an incident that started before the patch
        # replays its whole run without it, and takes it when it continues as new.
        self._publishing_awaiting = workflow.patched(patches.AWAITING_ATTRIBUTES)
        if input.carried is None:
            protected = workflow.patched(patches.VICTIM_PROTECTION)
            if protected:
                self.state.rules_version = RULES_WITH_PROTECTION
            if input.policy is None and workflow.patched(patches.DEPLOYMENT_POLICY):
                self.state.policy = await self._deployment_policy()
            elif protected:
                # Who holds which role is the deployment's to say, never the intake sender's.
                roles = (await self._deployment_policy()).roles
                self.state.policy = self.state.policy.model_copy(update={"roles": roles})
            await self._open_incident()
            # A first run only: a continued run carries an incident that was counted already.
            metrics.incident_opened()
        tracker = None
        if workflow.patched(patches.DEADLINE_TRACKER):
            self._tracking = True
            self._reminding = workflow.patched(patches.DEADLINE_REMINDERS)
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
            lambda: workflow.all_handlers_finished() and self._register.delivered
        )
        return lifecycle.outcome(self.state, workflow.now())

    async def _deployment_policy(self) -> Policy:
        return await workflow.execute_activity_method(
            DeploymentPolicy.deployment_policy,
            start_to_close_timeout=REGISTER_TIMEOUT,
            summary="policy of the deployment",
        )

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
            lambda: workflow.all_handlers_finished() and self._register.delivered
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
        async with self._lock:
            await self._record_system(
                "opened",
                f"incident opened; provisional severity {state.provisional_severity}; "
                f"{len(state.related)} related incident(s)",
                [lifecycle.opening_notice(state)],
            )
        self._opened = True

    async def _register_opening(self) -> IncidentOpened:
        state = self.state
        opened: IncidentOpened = await workflow.execute_activity_method(
            CaseRegister.open_incident,
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
        report = await workflow.execute_activity_method(
            CaseRegister.write_closure_report,
            ClosureReportRequest(incident_id=self.state.incident_id, generated_at=workflow.now()),
            start_to_close_timeout=REGISTER_TIMEOUT,
            retry_policy=REGISTER_RETRY,
            summary="write the closure report",
        )
        async with self._lock:
            draft = self.state.draft()
            notices = lifecycle.closing_notices(draft)
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
        await workflow.execute_activity_method(
            CaseRegister.store_lessons,
            lifecycle.lesson_record(state, workflow.now()),
            start_to_close_timeout=REGISTER_TIMEOUT,
            retry_policy=REGISTER_RETRY,
            summary="store lessons in the knowledge base",
        )
        async with self._lock:
            window = state.policy.window(MilestoneKind.FOLLOW_UP, state.severity)
            if window is not None and workflow.patched(patches.FOLLOW_UP):
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
            self.state.case_status = lifecycle.closed_status(self.state)
            enter_step(self.state, Step.COMPLETED, workflow.now())
            await self._record_system("completed", "follow-up recorded; incident completed", [])

    async def _open_recurrence(self, follow_up: FollowUp) -> str:
        """The same site, facilities and harms, as a new incident that links back to this one."""
        intake = lifecycle.recurrence_intake(self.state, follow_up, workflow.now())
        child = await workflow.start_child_workflow(
            INCIDENT_WORKFLOW,
            IncidentInput(intake=intake, policy=None),
            id=incident_id_for(intake.external_reference),
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
                    EscalationChange(as_milestone(escalation), 0, "closed"), workflow.now()
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
        draft = self.state.draft()
        effect = remind(draft, milestone, now)
        await self._write(draft, "system_reminder", SYSTEM_ACTOR, effect)

    async def _escalate(self, now: datetime) -> None:
        """Record every level reached and every escalation cleared since the last look."""
        milestones = open_milestones(self.state)
        for change in plan_escalations(self.state.escalations, milestones, now):
            await self._record_escalation(change, now)

    async def _record_escalation(self, change: EscalationChange, now: datetime) -> None:
        draft = self.state.draft()
        effect, record = escalate(draft, change, now)
        await self._write(
            draft, "system_escalation", SYSTEM_ACTOR, effect, records=Records(escalation=record)
        )
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

    # --- deciding ---------------------------------------------------------------------------

    def _validate(self, kind: DecisionKind, raw: RawValue) -> None:
        """Update validator: never mutates; raising rejects the update without a trace."""
        try:
            decision = parse_message(REGISTRY[kind].model, raw)
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
        decision = parse_message(REGISTRY[kind].model, raw, accepted_before=True)
        await workflow.wait_condition(lambda: self._opened)
        async with self._lock:
            duplicate = already_applied(self.state, kind, decision)
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
                    REGISTRY[kind].model, raw, accepted_before=not self.state.protected
                )
            except ApplicationError as error:
                metrics.decision_refused(kind)
                await self._record_refused(kind, claimed_actor(raw), error.message, raw)
                return
            if already_applied(self.state, kind, decision) is not None:
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
            patches.LESSONS_IN_FLIGHT
        )
        check(self.state, kind, decision, workflow.now(), lessons_in_flight=in_flight)

    async def _commit(self, kind: DecisionKind, decision: Decision) -> DecisionResult:
        """Apply to a copy, persist it, then make it the state: the state never runs ahead of
        the register."""
        draft = self.state.draft()
        effect = apply(draft, kind, decision, workflow.now())
        if decision.decision_id is not None:  # the number the event is about to get
            draft.remember_decision(str(decision.decision_id), draft.sequence + 1)
        await self._write(
            draft,
            kind,
            decision.actor,
            effect,
            decision.model_dump(mode="json"),
            records_of(decision, effect),
        )
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
        effect = Effect(
            outcome=EventOutcome.REFUSED,
            summary=f"{kind} signal refused",
            message=message,
            reason=message,
        )
        await self._write(self.state.draft(), kind, actor, effect, refused_shape(raw))

    async def _record_fact(self, kind: FactKind, raw: RawValue) -> None:
        await workflow.wait_condition(lambda: self._opened)
        async with self._lock:
            try:
                fact = parse_message(
                    FACT_MODELS[kind], raw, accepted_before=not self.state.protected
                )
            except ApplicationError as error:
                await self._record_refused(kind, claimed_actor(raw), error.message, raw)
                return
            actor = getattr(fact, "actor", UNIDENTIFIED)
            effect = Effect(outcome=EventOutcome.RECORDED, summary=f"{kind} added", message="")
            draft = self.state.draft()
            await self._write(draft, kind, actor, effect, fact.model_dump(mode="json"))

    async def _record_system(self, kind: str, summary: str, notices: list[Notice]) -> None:
        """An automatic event; caller holds the lock."""
        effect = Effect(
            outcome=EventOutcome.RECORDED, summary=summary, message=summary, notices=notices
        )
        await self._write(self.state.draft(), f"system_{kind}", SYSTEM_ACTOR, effect)

    async def _write(
        self,
        draft: IncidentState,
        kind: str,
        actor: Actor,
        effect: Effect,
        payload: Any = None,
        records: Records = NOTHING_ELSE,
    ) -> None:
        """The one path of every event: number it, write it to the register, then make the draft
        the state and publish it. The state never runs ahead of the register."""
        draft.sequence += 1
        event, notifications = register_event(
            draft,
            kind,
            actor,
            effect,
            {} if payload is None else payload,
            workflow.now(),
            _run_lineage(),
            records,
        )
        await self._register.write(event, notifications)
        self.state = draft
        self._publish()

    def _publish(self) -> None:
        """Search attributes and current details for operators in the UI (no personal data)."""
        values = lifecycle.search_attributes(
            self.state, workflow.now(), with_awaiting=self._publishing_awaiting
        )
        updates = lifecycle.changed_attributes(values, self._published)
        if updates:
            workflow.upsert_search_attributes(updates)
        self._published = values
        self._deadlines_changed = True
        workflow.set_current_details(current_details(self.state))

    # --- queries ----------------------------------------------------------------------------

    def _opened_state(self) -> IncidentState:
        if self._input_refused is not None:
            raise ApplicationError(f"the incident never opened: {self._input_refused}")
        return self.state

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> IncidentStatus:
        """Where the case stands: step, severity, what is awaited from whom and by when."""
        return status_view(self._opened_state())

    @workflow.query(name=TIMELINE_QUERY)
    def timeline(self) -> list[TimelineEvent]:
        """Every event with actor, time, reason and outcome."""
        return list(self._opened_state().timeline)

    @workflow.query(name=PARTNER_ACTIONS_QUERY)
    def partner_actions(self, partner: str) -> PartnerView:
        """What an implementing partner may see: only the actions they implement."""
        return partner_view(self._opened_state(), partner)

    # --- decisions: an update (validated before acceptance) and a signal for each kind of the
    # registry, made by workflows/decision_handlers.py; facts are signals only ------------------

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
