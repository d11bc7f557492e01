"""How the incident workflow writes an event to the case register and delivers its notifications.

An event and the notifications it causes are written by one activity in one transaction
(`one-register-write`); incidents that started before write the event and queue each
notification with activities of their own. That same activity makes the first attempt to deliver
them (`deliver-on-record`); what it did not deliver, and every notification of the incidents
that started before, is then delivered in the background.
"""

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.case_register import CaseRegister
    from activities.event_recording import EventRecorder
    from activities.notifications import Notifier
    from schemas.register import (
        DELIVERY_ATTEMPT_TIMEOUT,
        EventWithNotifications,
        Notification,
        NotificationKey,
        RegisterEvent,
    )
    from workflows import patches
    from workflows.retries import (
        DELIVERY_RETRY,
        EVENT_WRITE_TIMEOUT,
        REGISTER_RETRY,
        REGISTER_TIMEOUT,
    )


class RegisterWriter:
    """The register writes of one workflow run, and its deliveries still under way."""

    def __init__(self) -> None:
        self._deliveries: set[asyncio.Task[None]] = set()

    @property
    def delivered(self) -> bool:
        """Whether no delivery is under way (the run may end or continue as new)."""
        return not self._deliveries

    async def write(self, event: RegisterEvent, notifications: list[Notification]) -> None:
        if not workflow.patched(patches.ONE_REGISTER_WRITE):
            await self._write_one_at_a_time(event, notifications)
            return
        if notifications and workflow.patched(patches.DELIVER_ON_RECORD):
            await self._record_and_deliver(event, notifications)
            return
        # One activity, so a decision costs one round trip through the server for its register
        # write whatever it notifies. Not a local activity: a local activity writes before the
        # workflow task that runs it is committed, and a task retried after a server or worker
        # failure may see decisions in another order and give the same sequence to another event.
        await workflow.execute_activity_method(
            CaseRegister.record_event_with_notifications,
            EventWithNotifications(event=event, notifications=notifications),
            start_to_close_timeout=EVENT_WRITE_TIMEOUT,
            retry_policy=REGISTER_RETRY,
            summary=f"record {event.kind} ({event.outcome}), queue {len(notifications)} "
            "notification(s)",
        )
        for notification in notifications:
            if workflow.patched(patches.OUTBOX_DELIVERY):
                self._deliver_in_background(NotificationKey.of(notification))

    async def _record_and_deliver(
        self, event: RegisterEvent, notifications: list[Notification]
    ) -> None:
        # The event's write and the first delivery attempt in one activity: a decision or a
        # reminder that notifies costs one round trip, not two, when the channel takes it.
        recorded = await workflow.execute_activity_method(
            EventRecorder.record_event_and_deliver,
            EventWithNotifications(event=event, notifications=notifications),
            start_to_close_timeout=EVENT_WRITE_TIMEOUT,
            retry_policy=REGISTER_RETRY,
            summary=f"record {event.kind} ({event.outcome}), deliver {len(notifications)} "
            "notification(s)",
        )
        for key in recorded.undelivered:
            self._deliver_in_background(key)

    async def _write_one_at_a_time(
        self, event: RegisterEvent, notifications: list[Notification]
    ) -> None:
        """How incidents started before patches.ONE_REGISTER_WRITE write an event."""
        await workflow.execute_activity_method(
            CaseRegister.record_event,
            event,
            start_to_close_timeout=REGISTER_TIMEOUT,
            retry_policy=REGISTER_RETRY,
            summary=f"record {event.kind} ({event.outcome})",
        )
        for notification in notifications:
            await workflow.execute_activity_method(
                CaseRegister.queue_notification,
                notification,
                start_to_close_timeout=REGISTER_TIMEOUT,
                retry_policy=REGISTER_RETRY,
                summary=f"queue {notification.kind} notification",
            )
            if workflow.patched(patches.OUTBOX_DELIVERY):
                self._deliver_in_background(NotificationKey.of(notification))

    def _deliver_in_background(self, key: NotificationKey) -> None:
        # Delivered in the background: a channel that is down for hours must not hold up the
        # decision that caused the notification.
        delivery = asyncio.create_task(self._deliver(key))
        self._deliveries.add(delivery)
        delivery.add_done_callback(self._deliveries.discard)

    async def _deliver(self, key: NotificationKey) -> None:
        await workflow.execute_activity_method(
            Notifier.deliver_notification,
            key,
            start_to_close_timeout=DELIVERY_ATTEMPT_TIMEOUT,
            retry_policy=DELIVERY_RETRY,
            summary=f"deliver {key.kind} notification",
        )
