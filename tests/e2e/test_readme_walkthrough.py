"""The README's by-hand walkthrough, command by command, on a stack started as `make up` starts it.

The commands are read from the README (the fenced block after the comment naming this file), so the test
fails as soon as one of them stops working for a newcomer. A command's trailing comment says what its answer
shows (`# shows X`), or that it is run again until its answer shows it (`# again until it shows X`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from local.template import REPO_ROOT
from tests.support.newcomer_shell import as_typed

pytestmark = pytest.mark.e2e

README = REPO_ROOT / "README.md"
MARKER = "tests/e2e/test_readme_walkthrough.py runs the next block"
DOCUMENTED_API = "http://127.0.0.1:3000"
_EXPECTATION = re.compile(r"\s+#\s+(again until it )?shows (.+)$")
AGAIN_FOR_SECONDS = 90


@dataclass(frozen=True)
class Step:
    command: str
    shows: str | None
    again: bool


def walkthrough() -> list[Step]:
    text = README.read_text()
    assert MARKER in text, f"README.md has lost the walkthrough's marker comment ({MARKER!r})"
    block = text[text.index(MARKER):].split("```sh\n", 1)[1].split("```", 1)[0]
    steps = []
    for line in block.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        found = _EXPECTATION.search(line)
        command = line[:found.start()] if found else re.sub(r"\s+#[^\"']*$", "", line)
        steps.append(Step(command.strip(), found.group(2).strip() if found else None,
                          bool(found and found.group(1))))
    return steps


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningUp:
    api: str
    output: Path
    state_file: Path


@pytest.fixture(scope="module")
def make_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningUp]:
    """`python -m local up` (what `make up` runs) on free ports, in its own process, as a newcomer starts it.

    One thing differs, through the Xero emulator's control API: Xero settles a new feed connection at once rather
    than 2 s later. The sync after a link looks at a PENDING feed before and after it sends, and a status read asks
    Xero at most every 30 s per business (SETTLE_EVERY_SECONDS in layers/common/xerosync/connect/status.py): a sync
    that ends inside those 2 s would leave the walkthrough waiting half a minute of wall clock for the next read
    (docs/architecture.md, linking)."""
    import requests

    folder = tmp_path_factory.mktemp("make-up")
    output, state_file = folder / "up.log", folder / "stack.json"
    api_port, xero_port = _free_port(), _free_port()
    arguments = ["--api-port", str(api_port), "--moto-port", str(_free_port()), "--xero-port", str(xero_port),
                 "--ledger-port", str(_free_port()), "--log-level", "WARNING"]
    env = {**os.environ, "LOCAL_STACK_STATE_FILE": str(state_file)}
    with output.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "local", "up", *arguments], cwd=REPO_ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "Ctrl-C stops the stack." not in output.read_text():
            assert process.poll() is None, f"make up stopped:\n{output.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"make up never got ready:\n{output.read_text()[-3000:]}"
            time.sleep(0.2)
        settled = requests.patch(f"http://127.0.0.1:{xero_port}/_emulator/config",
                                 json={"feed_connection_delay_s": 0}, timeout=30)
        assert settled.ok, settled.text
        yield RunningUp(f"http://127.0.0.1:{api_port}", output, state_file)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_make_up_prints_a_token_command_for_the_seeded_business_and_its_own_api_address(make_up: RunningUp) -> None:
    printed = make_up.output.read_text()
    assert "biz_demo" in printed and "acc_demo_hkd" in printed
    assert f"API={make_up.api}" in printed
    assert "TOKEN=$(make -s token)" in printed
    assert "--business biz_demo --user u_1 --role Finance" in printed


def test_the_redirect_uri_follows_the_api_port(make_up: RunningUp) -> None:
    from urllib.parse import parse_qs, urlsplit

    import requests

    token = subprocess.run([sys.executable, "-m", "local", "token", "--business", "biz_demo_sister", "--user", "u_2",
                            "--role", "Admin"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    started = requests.post(make_up.api + "/v1/xero/connect", headers={"Authorization": f"Bearer {token.strip()}"},
                            timeout=30)
    assert started.status_code == 200, started.text
    redirect_uri = parse_qs(urlsplit(started.json()["authorize_url"]).query)["redirect_uri"][0]
    assert redirect_uri == make_up.api + "/xero/callback"


def test_the_readme_walkthrough_works_command_by_command(make_up: RunningUp, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("the README's walkthrough uses curl, which this machine does not have")
    steps = walkthrough()
    assert any("/v1/xero/connect" in s.command for s in steps) and any("sync-jobs" in s.command for s in steps)
    variables = tmp_path / "variables.sh"
    variables.write_text("")
    env = {**os.environ, "LOCAL_STACK_STATE_FILE": str(make_up.state_file)}
    for number, step in enumerate(steps, 1):
        command = as_typed(step.command.replace(DOCUMENTED_API, make_up.api))
        # Each command in a fresh shell that knows the variables the earlier ones set, as in one terminal.
        script = f"set -a\nsource {variables}\nset -eo pipefail\n{command}\nexport -p > {variables}\n"
        deadline = time.monotonic() + (AGAIN_FOR_SECONDS if step.again else 0)
        while True:
            done = subprocess.run(["bash", "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                                  timeout=120)
            shown = done.returncode == 0 and (step.shows is None or step.shows in done.stdout)
            if shown or time.monotonic() >= deadline:
                break
            time.sleep(1)
        assert done.returncode == 0, (f"README walkthrough, command {number} failed ({done.returncode}):\n"
                                      f"{step.command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        assert shown, (f"README walkthrough, command {number} does not show {step.shows!r}"
                       f"{' (in ' + str(AGAIN_FOR_SECONDS) + ' s of trying again)' if step.again else ''}:\n"
                       f"{step.command}\n{done.stdout[-2000:]}")
