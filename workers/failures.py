"""How the engine's failures leave the worker: a refusal is an answer, not a crash.

A refused or malformed message is answered with an `ApplicationError` whose message says why. The
default failure converter also sends the worker's Python stack trace with it, and the HTTP API,
the Web UI and every client then show the sender our file paths after the reason. Refusals go
without it; any other failure (a bug, an activity that gave up) keeps its stack trace, and the
SDK still logs workflow task failures with their traceback in the worker's log.
"""

from temporalio.api.failure.v1 import Failure
from temporalio.converter import DefaultFailureConverter, PayloadConverter

from schemas.refusals import ALREADY_OPENED, MALFORMED, REFUSED, REFUSED_REQUEST

# The ApplicationError types that answer the sender: a decision the rules refuse, a message or an
# intake that does not fit the contract, an erasure request that may not be made, a second start
# of an incident's id.
REFUSALS = frozenset({REFUSED, MALFORMED, REFUSED_REQUEST, ALREADY_OPENED})


class RefusalFailureConverter(DefaultFailureConverter):
    """The default conversion, minus the stack traces of a refusal and of anything it wraps."""

    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure
    ) -> None:
        super().to_failure(exception, payload_converter, failure)
        if failure.application_failure_info.type not in REFUSALS:
            return
        link: Failure | None = failure
        while link is not None:
            link.stack_trace = ""
            link = link.cause if link.HasField("cause") else None
