"""What several test modules share lives in helper modules (``tests/support/``, or a tier's own helper module such
as ``fakes.py``), never in a test module or a conftest: importing one of those runs its tests' module-level code a
second time under another name, and ties one test file to another's private helpers (docs/architecture.md,
"Tests")."""

from __future__ import annotations

import ast
from pathlib import Path

from local.template import REPO_ROOT

TESTS = REPO_ROOT / "tests"


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_test_module_or_conftest_is_imported_by_another_module() -> None:
    wrong = sorted(
        f"{path.relative_to(REPO_ROOT)} imports {name}"
        for path in TESTS.rglob("*.py")
        for name in _imported(path)
        if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith(("test_", "conftest"))
    )
    assert wrong == []
