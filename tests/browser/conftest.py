"""Browser tests: the web console (local/console) in a real Chromium, Debian's package, driven by Playwright.

Nothing is downloaded at run time: the browser is the system's (`make browser` installs it where it can).
Without one, these tests skip and say how to get it; in CI (CI=true) a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from local.console.seed import ConsoleSeed, seed_console
from local.stack import DevStack, DevStackConfig
from tests.browser.console import SCREENSHOTS, Console
from tests.support.fast_retries import retries_in_milliseconds  # noqa: F401 (autouse: faults stay fast)

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# Headless, and nothing that reaches for the network: this machine (and CI's) has none beyond loopback.
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# What the page shows may wait on the local stack's queues and on Xero's (emulated) delays: seconds, not minutes
# (a minute allows for a machine busy with other work).
expect.set_options(timeout=60_000)
NO_BROWSER = ("No Chromium to run the web console's browser tests in (looked for {where}). Install Debian's "
              "package: `make browser` (as root) or `sudo apt-get install chromium`, or set CHROMIUM to a "
              "Chromium binary; then run them again.")


def chromium_path() -> str | None:
    wanted = os.environ.get("CHROMIUM")
    candidates = (wanted,) if wanted else CHROMIUM
    return next((path for path in candidates if path and Path(path).is_file() and os.access(path, os.X_OK)), None)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        message = NO_BROWSER.format(where=os.environ.get("CHROMIUM") or ", ".join(CHROMIUM))
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    # Playwright gives each launch a fresh, empty profile (user-data dir) of its own and removes it afterwards.
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def stack() -> Iterator[DevStack]:
    # One stack per module, as in tests/e2e (its pollers must never outlive the module's tests).
    with DevStack(DevStackConfig(log_level="ERROR", visibility_timeout=2)) as running:
        # Xero activates a new feed at once: the sync a link asks for then sees it ACTIVE and the page shows it on
        # its next look, rather than after the half minute between the page's own looks at PENDING feeds
        # (docs/architecture.md, Connect). The e2e tests keep the delay and the wait.
        running.xero.configure(feed_connection_delay_s=0)
        yield running


@pytest.fixture(scope="module")
def seeded(stack: DevStack) -> ConsoleSeed:
    return seed_console(stack)


@pytest.fixture(scope="module")
def page(browser: Browser, stack: DevStack, request: pytest.FixtureRequest) -> Iterator[Page]:
    """One page per module, reused by its tests, in the bank's time zone (dates on screen are stable)."""
    context = browser.new_context(viewport={"width": 1360, "height": 940}, locale="en-GB",
                                  timezone_id="Asia/Singapore")
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"the console raised in the browser: {errors}"


@pytest.fixture(scope="module")
def console(page: Page, stack: DevStack, seeded: ConsoleSeed, request: pytest.FixtureRequest) -> Console:
    return Console(page, stack, seeded, folder=Path(request.module.__file__).stem.removeprefix("test_"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call" and report.failed and "console" in getattr(item, "funcargs", {}):
        item.funcargs["console"].shot(f"FAILED-{item.name}")
    return report
