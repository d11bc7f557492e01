"""How long the workflows wait for an activity, and how they retry it."""

from datetime import timedelta

from temporalio.common import RetryPolicy

REGISTER_TIMEOUT = timedelta(seconds=30)
# An event's write is one short transaction (milliseconds), followed when it notifies by the first
# delivery attempts (1.5 s in all, a webhook's timeout applying to each step of its request, so at
# worst about twice that: activities/notifications.py), and a decision's answer waits for it: an
# attempt that has not answered within seconds ran on a worker that died, so the next attempt goes
# to a live worker instead of waiting out REGISTER_TIMEOUT. An attempt that was only slow and lands
# after all is harmless: the same event under the same sequence is stored once.
EVENT_WRITE_TIMEOUT = timedelta(seconds=5)
# Register writes retry until PostgreSQL is back: a decision is never dropped for an outage.
REGISTER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)
# Delivery retries until the channel is back, backing off to one attempt an hour.
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(hours=1),
)
