"""How the incident workflow writes an event to the case register and delivers its notifications.

An event and the notifications it causes are written by one activity in one transaction
(`one-register-write`); incidents that started before write the event and queue each
notification with activities of their own. Notifications are then delivered in the background.
"""

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.case_register import CaseRegister
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
                self._deliver_in_background(notification)

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
                self._deliver_in_background(notification)

    def _deliver_in_background(self, notification: Notification) -> None:
        # Delivered in the background: a channel that is down for hours must not hold up the
        # decision that caused the notification.
        delivery = asyncio.create_task(self._deliver(NotificationKey.of(notification)))
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
