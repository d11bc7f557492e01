"""How the incident workflow reads a message: decoded, within its size limits, as its model.

Anything a sender can get wrong is a refusal that names the problem (`MalformedDecision`), never an
exception that fails a workflow task. Refusals quote field names made safe, never the values.
"""

import re
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ValidationError

    from schemas.actor import Actor
    from schemas.common import ACCEPTED_BEFORE, MESSAGE_MAX_BYTES, message_size
    from schemas.incident import IncidentInput
    from schemas.refusals import MALFORMED as MALFORMED
    from schemas.refusals import REFUSED as REFUSED

FIELD_LABEL_MAX = 60
UNIDENTIFIED = Actor(id="unidentified-sender")
M = TypeVar("M", bound=BaseModel)


def field_label(part: object) -> str:
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
        where = ".".join(field_label(part) for part in problem["loc"]) or "payload"
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


def refuse_oversized_start(raw: RawValue) -> None:
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


def claimed_actor(raw: RawValue) -> Actor:
    """Best effort: who a malformed message says it is from, for the timeline."""
    try:
        value = workflow.payload_converter().from_payload(raw.payload)
        return Actor.model_validate(value["actor"])
    except Exception:
        return UNIDENTIFIED


def refused_shape(raw: RawValue) -> dict[str, Any]:
    """What the register keeps of a refused message: its shape, never its values (a refused
    message may carry anything, personal data included)."""
    try:
        received = workflow.payload_converter().from_payload(raw.payload)
    except Exception:
        received = None
    if isinstance(received, dict):
        return {"refused_fields": sorted(field_label(key) for key in received)[:50]}
    return {"undecodable": True}
