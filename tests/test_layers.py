"""The layers of the design card: workflows, activities and schemas never import the worker
process (workers/) nor the benchmark (benchmarks/); the worker injects what they need."""

import ast
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOWER_LAYERS = ("activities", "workflows", "schemas")
FORBIDDEN = ("workers", "benchmarks")
MODULES = sorted(path for layer in LOWER_LAYERS for path in (PROJECT_ROOT / layer).rglob("*.py"))


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    """Every absolute module name the code imports, at module level or inside a function."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append((node.lineno, node.module))
    return names


def test_every_layer_has_modules() -> None:
    for layer in LOWER_LAYERS:
        assert any(path.is_relative_to(PROJECT_ROOT / layer) for path in MODULES), layer


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PROJECT_ROOT)))
def test_no_import_of_the_worker_process_or_the_benchmark(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    upward = [
        f"{path.relative_to(PROJECT_ROOT)}:{line}: {name}"
        for line, name in _imported(tree)
        if name.split(".")[0] in FORBIDDEN
    ]
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def test_the_check_sees_every_form_of_import() -> None:
    code = "import workers\nfrom workers.settings import Settings\ndef f():\n import benchmarks.x\n"
    assert [name for _, name in _imported(ast.parse(code))] == [
        "workers",
        "workers.settings",
        "benchmarks.x",
    ]
