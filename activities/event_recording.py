"""Recording an event and the first delivery of its notifications, in one activity.

Each activity costs the incident a round trip through Temporal (scheduled, then completed, then a
workflow task), and a decision or a reminder that notifies someone used to take two: one to record
the event and queue its notifications in the outbox, one to deliver them. Here one activity does
both: the register's transaction first (`CaseRegister.record_event_with_notifications`, whose
commit is what the decision's answer waits for), then one attempt at each notification
(`Notifier.deliver_first`). What that attempt did not deliver stays in the outbox, says why on its
row, and is delivered by the workflow in the background with retries (workflows/register_writes.py).

A retried call finds its event already stored and its delivered notifications already delivered,
so nothing is written or sent twice by this activity.
"""

from collections.abc import Callable
from typing import Any

from temporalio import activity

from activities.case_register import CaseRegister
from activities.notifications import Notifier
from schemas.register import EventRecorded, EventWithNotifications, NotificationKey


class EventRecorder:
    """Records an event through the register, then delivers its notifications once."""

    def __init__(self, register: CaseRegister, notifier: Notifier) -> None:
        self._register = register
        self._notifier = notifier

    @activity.defn(name="record_event_and_deliver")
    async def record_event_and_deliver(self, write: EventWithNotifications) -> EventRecorded:
        """Store the event with its notifications in one transaction (at most once), then make
        the first attempt at each; returns what is still to be delivered."""
        stored = await self._register.record_event_with_notifications(write)
        keys = [NotificationKey.of(notification) for notification in write.notifications]
        return EventRecorded(stored=stored, undelivered=await self._notifier.deliver_first(keys))


def event_recording_activities(recorder: EventRecorder) -> list[Callable[..., Any]]:
    """The activity to register on the worker."""
    return [recorder.record_event_and_deliver]
