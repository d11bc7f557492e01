"""The record of a running `remediation up`: written to its data directory while it runs, so
that the other commands (and the key ring lookup) find the stack without any setup."""

import json
import os
from dataclasses import dataclass
from pathlib import Path

STACK_FILE = "stack.json"


@dataclass(frozen=True)
class RunningStack:
    """Where a running stack can be reached; written to the data directory while it runs."""

    pid: int
    ui_url: str
    temporal_address: str
    namespace: str
    task_queue: str
    http_api_url: str
    database_url: str
    data_dir: str
    logs_dir: str
    codec_server_url: str = ""
    # Where the key ring and the codec token are, so other commands find them (None: from the
    # environment of `up`, which they share).
    key_file: str | None = None
    codec_token_file: str | None = None


def read_running_stack(data_dir: Path) -> RunningStack | None:
    """The stack running on this data directory, if any (used by other commands)."""
    try:
        stack = RunningStack(**json.loads((data_dir / STACK_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    try:
        os.kill(stack.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return stack
