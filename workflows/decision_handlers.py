"""The incident workflow's handlers of every decision kind, made from the registry.

Each kind in `workflows.rules.registry.REGISTRY` gets an update named after it (validated before
it is accepted), its validator, and a signal of the same name for senders that can only signal.
They are attributes of the workflow class like hand-written handlers, so Temporal lists them by
name in the workflow's metadata (the Web UI's update and signal menus) and running incidents
replay exactly as before.
"""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RawValue

from schemas.decisions import DecisionKind
from schemas.incident import DecisionResult
from workflows.names import handler_name as handler_name
from workflows.rules.registry import REGISTRY, who_may_send

W = TypeVar("W", bound=type)


def _method(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` as a method named `name`. Its `self` is left unannotated, as in a class body:
    Temporal reads a handler's argument types from its annotations and skips only such a `self`."""
    function.__name__ = function.__qualname__ = name
    del function.__annotations__["self"]
    return function


def _update(kind: DecisionKind) -> Callable[..., Awaitable[DecisionResult]]:
    async def update(self: Any, decision: RawValue) -> DecisionResult:
        result: DecisionResult = await self._decide(kind, decision)
        return result

    return _method(f"{kind}_update", update)


def _validator(kind: DecisionKind) -> Callable[..., None]:
    def validate(self: Any, decision: RawValue) -> None:
        self._validate(kind, decision)

    return _method(f"{kind}_validate", validate)


def _signal(kind: DecisionKind) -> Callable[..., Awaitable[None]]:
    async def signal(self: Any, decision: RawValue) -> None:
        await self._decide_by_signal(kind, decision)

    return _method(f"{kind}_signal", signal)


def with_decision_handlers(workflow_class: W) -> W:
    """Add an update, its validator and a signal for every registered decision kind; the class
    provides `_decide`, `_validate` and `_decide_by_signal`. Apply under `@workflow.defn`."""
    for kind, rule in REGISTRY.items():
        description = f"{who_may_send(rule)}; {rule.when}"
        name = handler_name(kind)
        update = workflow.update(name=name, description=description)(_update(kind))
        update.validator(_validator(kind))
        setattr(workflow_class, f"{kind}_update", update)
        signal = workflow.signal(name=name, description=description)(_signal(kind))
        setattr(workflow_class, f"{kind}_signal", signal)
    return workflow_class
