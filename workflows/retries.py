"""How long the workflows wait for an activity, and how they retry it."""

from datetime import timedelta

from temporalio.common import RetryPolicy

REGISTER_TIMEOUT = timedelta(seconds=30)
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
