"""`make audit`: every lock file against the package index's vulnerability data (pip-audit).

Each lock pins every package with its hashes, so pip-audit reads it as it is, installing nothing. Without a
way to the index, pip-audit cannot know anything: this says so plainly and exits 2, so that an audit that
did not happen never passes for a clean one. Exit 1: vulnerabilities found (listed); 0: none known.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

PIP_AUDIT = Path(sys.executable).with_name("pip-audit")
UNREACHABLE = ("ConnectionError", "Max retries exceeded", "Name or service not known", "Temporary failure in name",
               "Network is unreachable", "Connection refused", "ProxyError", "timed out")


def audit(lock: str) -> int:
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        done = subprocess.run(  # noqa: S603 - our own pip-audit, our own lock files
            [str(PIP_AUDIT), "--disable-pip", "--require-hashes", "--requirement", lock,
             "--vulnerability-service", "pypi", "--progress-spinner", "off", "--format", "json",
             "--output", report.name],
            capture_output=True, text=True, check=False)
        text = Path(report.name).read_text()
    if done.returncode not in (0, 1) or not text:
        reason = (done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")[:200]
        if any(marker in done.stderr for marker in UNREACHABLE):
            print(f"make audit: NOT AUDITED - the package index's vulnerability data cannot be reached from here "
                  f"({reason}). Run `make audit` where the network allows it.")
            return 2
        print(f"make audit: pip-audit failed on {lock}: {reason}\n{done.stderr}")
        return 2
    found = [(dependency["name"], dependency["version"], vulnerability["id"], vulnerability.get("fix_versions", []))
             for dependency in json.loads(text)["dependencies"] for vulnerability in dependency.get("vulns", [])]
    for name, version, identifier, fixes in found:
        print(f"{lock}: {name} {version}: {identifier} (fixed in {', '.join(fixes) or 'no release yet'})")
    if not found:
        print(f"{lock}: no known vulnerabilities")
    return 1 if found else 0


def main(locks: list[str]) -> int:
    worst = 0
    for lock in locks:
        result = audit(lock)
        if result == 2:
            return 2  # the rest cannot be reached either
        worst = max(worst, result)
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
