"""The soak's users follow the way out the product shows them, as people do, and give up only when there is none."""

from __future__ import annotations

import json
from typing import Any

import requests

from local.soak.users import Users
from local.soak.world import Account, Business

ACCOUNT = Account(account_id="acc_hkd", currency="HKD", number="0011-22", name="HKD Operating", opened_at=0.0)
FEED_PATH = f"/v1/bank-accounts/{ACCOUNT.account_id}/feed"


def _answer(status: int, body: dict[str, Any]) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = json.dumps(body).encode()
    return answer


class _Stack:
    """The HTTP API as the user meets it: the connection page as given, and the link answers in turn."""

    def __init__(self, pages: list[str], links: list[requests.Response]) -> None:
        self.pages = pages  # the connection's status on each read of the page
        self.links = links
        self.calls: list[tuple[str, str]] = []

    def token(self, **_: str) -> str:
        return "token"

    def api(self, method: str, path: str, **_: Any) -> requests.Response:
        self.calls.append((method, path))
        if method == "GET":
            return _answer(200, {"connection": {"status": self.pages.pop(0)},
                                 "accounts": [{"account_id": ACCOUNT.account_id, "link": None}]})
        return self.links.pop(0)


CHANGED = _answer(409, {"error": {"code": "connection_changed", "action": "Refresh the page and try again."}})
LINKED = _answer(200, {"account": {"link": {"status": "PENDING"}}})


def _users(stack: _Stack) -> tuple[Users, Business]:
    business = Business(business_id="biz_1", country="SG", legal_name="Harbour Trading", tenant_id="t",
                        user_id="u_fiona", xero_user="fiona", accounts=[ACCOUNT])
    return Users(stack, world=None, clock=None, activity=None), business  # type: ignore[arg-type]


def test_a_link_refused_because_the_connection_changed_is_made_again_after_a_refresh() -> None:
    stack = _Stack(pages=["ACTIVE", "ACTIVE"], links=[CHANGED, LINKED])
    users, business = _users(stack)
    users.link_all(business)
    assert stack.calls == [("GET", "/v1/xero/connection"), ("PUT", FEED_PATH)] * 2
    assert users.gave_up == []


def test_after_the_refresh_a_connection_another_user_disconnected_is_left_alone() -> None:
    stack = _Stack(pages=["ACTIVE", "DISCONNECTED"], links=[CHANGED])
    users, business = _users(stack)
    users.link_all(business)
    assert stack.calls == [("GET", "/v1/xero/connection"), ("PUT", FEED_PATH), ("GET", "/v1/xero/connection")]
    assert users.gave_up == []


def test_a_second_change_in_a_row_is_given_up_and_reported() -> None:
    stack = _Stack(pages=["ACTIVE", "ACTIVE"], links=[CHANGED, CHANGED])
    users, business = _users(stack)
    users.link_all(business)
    assert len(stack.calls) == 4
    assert len(users.gave_up) == 1 and "connection_changed" in users.gave_up[0]
