"""The one way the tests wait: poll something observable until it holds.

A workflow applies a signal, the register records an event, visibility lists a workflow, a
process starts listening: each a little after the call that caused it. Tests await the condition
with `eventually`, never a fixed sleep, so they pass as soon as it holds and fail with what they
waited for when it never does.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    what: str | Callable[[], str],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """The probe's first truthy answer, polled every `interval` seconds; fails naming `what`
    (a callable: said as it is by then) and the last answer after `timeout` seconds. Exceptions
    of the `ignoring` types count as "not yet" (a server that does not accept connections yet)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: object = None
    while True:
        try:
            answer = await probe()
        except ignoring as error:
            answer, last = None, error
        else:
            last = answer
        if answer:
            return answer
        if loop.time() > deadline:
            said = what if isinstance(what, str) else what()
            raise AssertionError(f"{said}: not within {timeout:g} s (last: {last!r})")
        await asyncio.sleep(interval)
