"""Markdown tables for the reports people read (the closure report, the portfolio reports): one
writer, so every cell is escaped alike."""

from collections.abc import Sequence

NOTHING = "—"


def cell(text: str) -> str:
    """A cell's text made safe: backslash escapes keep pipes from splitting the cell and angle
    brackets from being read as HTML by a Markdown viewer; a line break would end the row."""
    for special in ("\\", "|", "<", ">"):
        text = text.replace(special, "\\" + special)
    return text.replace("\n", " ") or NOTHING


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """The lines of a table whose cells are already formatted as text."""
    return [
        "| " + " | ".join(cell(name) for name in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(cell(text) for text in row) + " |" for row in rows),
    ]
