"""The web console as a person uses it, for the browser tests: pick who to act as, click, read the page.

Every step can leave a screenshot in ``.local/screenshots/<module>/`` (git-ignored, rewritten by each run).
With ``UPDATE_README_SCREENSHOTS=1`` (``make screenshots``) the steps the README shows are also copied to
``docs/screenshots/``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from local.console.seed import ConsoleSeed
from local.stack import DevStack
from local.template import REPO_ROOT

SCREENSHOTS = REPO_ROOT / ".local" / "screenshots"
README_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"


class Console:
    def __init__(self, page: Page, stack: DevStack, seed: ConsoleSeed, folder: str) -> None:
        self.page = page
        self.stack = stack
        self.seed = seed
        self.folder = SCREENSHOTS / folder
        self.steps = 0

    # ------------------------------------------------------------------------------------------ seeing
    def shot(self, name: str, readme: str | None = None) -> Path:
        self.steps += 1
        path = self.folder / f"{self.steps:02d}-{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=path, full_page=True)
        if readme and os.environ.get("UPDATE_README_SCREENSHOTS") == "1":
            README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, README_SCREENSHOTS / f"{readme}.png")
        return path

    @property
    def flash(self) -> Locator:
        return self.page.locator("#flash")

    def button(self, name: str | re.Pattern[str]) -> Locator:
        return self.page.get_by_role("button", name=name, exact=isinstance(name, str))

    def account(self, name: str) -> Locator:
        """An account's row on the Xero page (its name, currency, Xero account, feed state, last sync)."""
        return self.page.locator("#accounts tbody tr:not(.detail)").filter(has=self.page.get_by_role(
            "rowheader", name=re.compile(re.escape(name))))

    def account_notice(self, name: str) -> Locator:
        """The line under an account's row that explains its problem and the way out."""
        row_id = self.account(name).get_attribute("data-account-id")
        return self.page.locator(f'#accounts tr.detail[data-account-id="{row_id}"]')

    def list_ready(self) -> None:
        """The Sync expenses list has been read again after a tab, filter or page change."""
        expect(self.page.locator("#expenses-panel")).to_have_attribute("aria-busy", "false")

    # ------------------------------------------------------------------------------------------ acting
    def open(self, business: str, role: str = "Finance") -> None:
        self.page.goto(self.stack.urls["console"])
        self.ready()
        self.act_as(business, role)

    def ready(self) -> None:
        expect(self.page.locator("body")).to_have_attribute("data-ready", "true")

    def act_as(self, business: str, role: str) -> None:
        businesses = self.page.get_by_label("Business")
        label = next(text for text in businesses.locator("option").all_inner_texts() if text.startswith(business))
        if businesses.locator("option:checked").inner_text() != label:
            businesses.select_option(label=label)
        roles = self.page.get_by_label("Role")
        if not roles.locator("option:checked").inner_text().startswith(role):
            roles.select_option(value=role)
        expect(self.page.locator("#connection-status")).to_be_visible()

    def connect_in_xero(self, *organisations: str, start: str = "Connect Now") -> None:
        """Click the page's connect button, tick the organisations on Xero's consent page, allow, come back."""
        self.button(start).click()
        self.page.wait_for_url(re.compile(r"/identity/connect/authorize"))
        expect(self.page.get_by_role("heading", level=1)).to_contain_text("wants your consent")
        for organisation in organisations:
            self.page.get_by_role("checkbox", name=re.compile(re.escape(organisation))).check()
        self.page.get_by_role("button", name="Allow access").click()
        self.page.wait_for_url(re.compile(r"/console/"))
        self.ready()

    def local_control(self, name: str) -> None:
        """Click a local control (an emulator or a schedule) and wait until the panel says it was done."""
        log = self.page.locator("#controls-log")
        done = int(log.get_attribute("data-done") or 0)
        self.page.locator("#controls, .local-box").get_by_role("button", name=name, exact=True).click()
        expect(log).to_have_attribute("data-done", str(done + 1))
