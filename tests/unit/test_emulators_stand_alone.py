"""The emulators stand beside the local runner, not inside it (docs/architecture.md, "The emulators"): nothing in
``emulators/`` imports the runner (``local``), the product (``xerosync``) or the tests, so that each can be run,
tested and read on its own, and the runner, tests and benchmarks depend on them, never the other way round."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from local.template import REPO_ROOT

EMULATORS = REPO_ROOT / "emulators"
FORBIDDEN = ("local", "xerosync", "tests")


def _absolute_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_no_emulator_module_imports_the_runner_the_product_or_the_tests() -> None:
    modules = sorted(EMULATORS.rglob("*.py"))
    assert len(modules) > 30  # both emulators and what they share
    wrong = {str(path.relative_to(REPO_ROOT)): sorted(name for name in _absolute_imports(path)
                                                      if name.split(".")[0] in FORBIDDEN)
             for path in modules}
    wrong = {path: names for path, names in wrong.items() if names}
    assert not wrong, f"the emulators depend on the runner, the product or the tests: {wrong}"


def test_both_emulators_start_in_an_interpreter_that_has_loaded_nothing_else() -> None:
    probe = (f"import json, sys\nsys.path[:0] = [{str(REPO_ROOT)!r}]\nimport emulators.xero, emulators.ledger\n"
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = set(json.loads(done.stdout))
    assert "emulators" in loaded
    assert not loaded & set(FORBIDDEN), sorted(loaded & set(FORBIDDEN))
