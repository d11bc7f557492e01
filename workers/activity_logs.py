"""Every log line of an activity names its workflow, run, activity type and attempt.

Apart from workers/logs.py, which every command uses: this imports the worker side of the SDK.
"""

from typing import Any

import structlog
from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)


class ActivityLogContext(Interceptor):
    """Binds workflow id, run id, activity type and attempt to every log line of an activity."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BindActivityInfo(next)


class _BindActivityInfo(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        with structlog.contextvars.bound_contextvars(
            workflow_id=info.workflow_id,
            run_id=info.workflow_run_id,
            activity_type=info.activity_type,
            attempt=info.attempt,
        ):
            return await self.next.execute_activity(input)
