"""The deployment's policy, loaded by the worker at start, for incidents opened without one.

Read through an activity so the workflow stays deterministic: the policy an incident opened
with is in its history, and a later change of the file affects new incidents only.
"""

from temporalio import activity

from schemas.policy import Policy


class DeploymentPolicy:
    def __init__(self, policy: Policy) -> None:
        self._policy = policy

    @activity.defn(name="deployment_policy")
    async def deployment_policy(self) -> Policy:
        """The policy this worker was started with (REMEDIATION_POLICY_FILE and environment)."""
        return self._policy
