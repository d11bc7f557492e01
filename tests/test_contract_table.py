"""The message contract in docs/contract.md lists every decision kind as the registry defines it:
who may send it, when, and its JSON Schema file. Adding a kind to the registry without its row (or
changing who may send it) fails here, and the message says which row to write."""

from pathlib import Path

from schemas.decisions import DecisionKind
from workflows.rules.registry import REGISTRY, who_may_send

CONTRACT = Path(__file__).resolve().parents[1] / "docs" / "contract.md"


def decision_row(kind: DecisionKind) -> str:
    rule = REGISTRY[kind]
    cells = [
        f"`{kind}`",
        "update + signal",
        who_may_send(rule),
        rule.when,
        f"`decision.{kind}.json`",
    ]
    return "| " + " | ".join(cells) + " |"


def table_rows() -> list[str]:
    return [line.strip() for line in CONTRACT.read_text().splitlines() if line.startswith("| `")]


def test_every_decision_kind_has_one_registry_entry() -> None:
    assert sorted(REGISTRY) == sorted(DecisionKind)


def test_the_contract_table_has_the_registry_row_of_every_decision_kind() -> None:
    rows = table_rows()
    expected = [decision_row(kind) for kind in REGISTRY]
    missing = [row for row in expected if row not in rows]
    assert not missing, "docs/contract.md lacks these rows:\n" + "\n".join(missing)
    listed = [row for row in rows if "update + signal" in row]
    assert listed == expected, "the decision rows are not in the registry's order"
