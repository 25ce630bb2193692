"""Comments and docs cite the project's own docs/, never documents outside the repository: a reader of a
clone has nothing else. (Xero's OpenAPI files are read from a folder outside it, a setting, not a citation.)"""

from __future__ import annotations

import re
import subprocess

from local.template import REPO_ROOT

OUTSIDE = re.compile(r"DESIGN(?:\.md)? ?§|xero-api\.md|STYLE\.md|/work/shared|\.\./shared/(?!xero-openapi)")
TEXT = (".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".in", ".html", ".js", ".css", ".json", "Makefile", "run")
THIS_FILE = "tests/unit/test_citations_stay_in_the_repository.py"


def test_no_comment_or_doc_cites_a_document_outside_the_repository() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    found = []
    for name in tracked:
        if not name.endswith(TEXT) or name == THIS_FILE:
            continue
        for number, line in enumerate((REPO_ROOT / name).read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{name}:{number}: {line.strip()[:120]}")
    assert found == [], "cite docs/ (docs/xero-facts.md for Xero's facts) instead of:\n" + "\n".join(found)
