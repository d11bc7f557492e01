"""The worked example of docs/contract.md, run line by line through the real CLI: the document
stays true."""

import re
import shlex
from pathlib import Path

from tests.conftest import Cli

CONTRACT = Path(__file__).resolve().parents[1] / "docs" / "contract.md"


def worked_example() -> list[str]:
    """The `$R ...` lines of the worked example's shell block, with `$I` still in them."""
    text = CONTRACT.read_text(encoding="utf-8")
    start = text.index("\n## A worked example")
    block = re.search(r"```sh\n(.*?)```", text[start:], re.DOTALL)
    assert block is not None, "the worked example has no shell block"
    return [line for line in block.group(1).splitlines() if "$R " in line]


async def test_the_worked_example_takes_an_incident_from_allegation_to_lessons(cli: Cli) -> None:
    incident_id = None
    lines = worked_example()
    assert len(lines) >= 12
    for line in lines:
        command = line.split("#", 1)[0].strip()
        stdin = None
        if " | " in command:
            echo, command = command.split(" | ", 1)
            stdin = shlex.split(echo)[1]
        args = shlex.split(command.replace("$I", incident_id or "$I"))[1:]
        ran = await cli(*args, stdin=stdin)
        assert ran.code == 0, f"{line}\n{ran.stderr}"
        if args[0] == "open":
            incident_id = ran.stdout.strip()
            assert incident_id == "incident-GRV-EXAMPLE-1"
    status = await cli("status", "incident-GRV-EXAMPLE-1", "--json")
    assert status.json["step"] == "completed"
    assert status.json["case_status"] == "closed"
