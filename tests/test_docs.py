"""The documents a reader uses: a short README, and links between documents that lead somewhere."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted(
    [ROOT / "README.md", ROOT / "deploy" / "README.md", *(ROOT / "docs").glob("*.md")]
)
README_MAX_LINES = 220

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _prose(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(document: Path) -> set[str]:
    found: set[str] = set()
    for line in _prose(document.read_text(encoding="utf-8")):
        match = _HEADING.match(line)
        if match:
            slug = base = _slug(match.group(2))
            n = 0
            while slug in found:
                n += 1
                slug = f"{base}-{n}"
            found.add(slug)
    return found


def relative_links(document: Path) -> list[str]:
    """Every link target that is not a URL (link text may run over several lines)."""
    prose = "\n".join(_prose(document.read_text(encoding="utf-8")))
    return [
        target for target in _LINK.findall(prose) if not re.match(r"^[a-z][a-z0-9+.-]*:", target)
    ]


def test_the_documents_are_there() -> None:
    names = {path.name for path in (ROOT / "docs").glob("*.md")}
    assert {
        "design.md",
        "contract.md",
        "security.md",
        "operations.md",
        "development.md",
        "benchmark.md",
    } <= names


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading(document: Path) -> None:
    broken = []
    for target in relative_links(document):
        path, _, anchor = target.partition("#")
        destination = (document.parent / path).resolve() if path else document
        if not destination.exists():
            broken.append(f"{target}: no file {destination.relative_to(ROOT)}")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading #{anchor} in {destination.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)


def test_the_readme_is_short_and_links_every_document() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= README_MAX_LINES
    assert "make test" in readme and "make up" in readme
    linked = {link.partition("#")[0] for link in relative_links(ROOT / "README.md")}
    for document in (ROOT / "docs").glob("*.md"):
        assert f"docs/{document.name}" in linked, f"README does not link docs/{document.name}"
    assert "deploy/README.md" in linked


def test_the_design_rules_are_cited_from_docs_design() -> None:
    """Code and documents cite the project's own docs/design.md by section name. The register's
    applied migrations cannot change (their checksums are recorded), so they are left as written."""
    citing = [
        f"{path.relative_to(ROOT)}:{number}"
        for pattern in ("*.py", "*.md", "*.toml", "*.yaml", "*.yml")
        for path in ROOT.glob(f"**/{pattern}")
        if not {".venv", ".git", "node_modules", ".data"} & set(path.relative_to(ROOT).parts)
        and not path.name.endswith(".egg-info")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"DESIGN(\.md| §)", line) and path.name != "test_docs.py"
    ]
    assert not citing, "\n".join(citing)
