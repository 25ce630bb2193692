"""`make demo`: the product's story, told by driving the local stack the way its users do.

Each chapter calls the HTTP API with a user's token (or fires a schedule) and prints what the user would
see. A chapter that does not get what it expects stops the demo with a non-zero exit.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from local.stack import DevStack, DevStackConfig


class DemoFailure(Exception):
    pass


class Story:
    def __init__(self, stack: DevStack) -> None:
        self.stack = stack
        self.facts: list[str] = []
        # What earlier chapters set up for later ones (business ids, tokens, linked accounts, tenant).
        self.state: dict[str, Any] = {}

    def say(self, text: str = "") -> None:
        print(text)
        sys.stdout.flush()

    def expect(self, condition: bool, what: str) -> None:
        if not condition:
            raise DemoFailure(what)

    def call(self, method: str, path: str, token: str | None, body: Any = None, expect: int = 200) -> Any:
        response = self.stack.api(method, path, token=token, json_body=body)
        if response.status_code != expect:
            raise DemoFailure(f"{method} {path}: expected {expect}, got {response.status_code}: {response.text[:400]}")
        return response.json() if response.content else None


def chapter_platform(story: Story) -> None:
    story.say("1. The platform: the HTTP API behind its JWT authorizer")
    finance = story.stack.token(business_id="biz_demo_sg", user_id="u_fiona", role="Finance")
    employee = story.stack.token(business_id="biz_demo_sg", user_id="u_eric", role="Employee")
    health = story.call("GET", "/v1/health", finance)
    story.expect(health["business_id"] == "biz_demo_sg" and health["role"] == "Finance", "health shows the caller")
    story.say(f"   GET /v1/health as Fiona (Finance): business {health['business_id']}, role {health['role']}, "
              f"may manage accounting: {health['can_manage_accounting']}, Xero: {health['xero_connection']}")
    health = story.call("GET", "/v1/health", employee)
    story.expect(not health["can_manage_accounting"], "an Employee may not manage accounting")
    story.say(f"   GET /v1/health as Eric (Employee): may manage accounting: {health['can_manage_accounting']}")
    refused = story.stack.api("GET", "/v1/health")
    story.expect(refused.status_code == 401, "no token is refused")
    story.say(f"   GET /v1/health without a token: {refused.status_code} {refused.json()['message']}")
    story.facts.append("HTTP API, authorizer and DynamoDB answer")


def chapters() -> list[Callable[[Story], None]]:
    from local.demo_auto_sync import chapter_auto_sync
    from local.demo_connect import chapter_connect, chapter_disconnect_in_xero
    from local.demo_receipts import chapter_receipts
    from local.demo_sync_expenses import chapter_sync_expenses

    return [chapter_platform, chapter_connect, chapter_disconnect_in_xero, chapter_auto_sync, chapter_sync_expenses,
            chapter_receipts]


def run_demo() -> int:
    started = time.perf_counter()
    print("Starting the local stack (moto server, Xero and ledger emulators, HTTP API, queue pollers)...")
    with DevStack(DevStackConfig(log_level="ERROR")) as stack:
        print(stack.describe())
        print(f"  ready in {stack.ready_seconds:.2f} s\n")
        story = Story(stack)
        try:
            for chapter in chapters():
                chapter(story)
                print()
        except DemoFailure as failure:
            print(f"\nDEMO FAILED: {failure}")
            return 1
    print(f"Summary ({time.perf_counter() - started:.1f} s): " + "; ".join(story.facts) + ".")
    return 0
