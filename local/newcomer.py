"""What `make up` tells a newcomer, and the by-hand half of connecting: Xero's consent played from a shell.

``python -m local consent`` stands in for the user on Xero's consent page. It reads the answer of
``POST /v1/xero/connect`` (or takes its ``authorize_url``), asks the Xero emulator that the URL points at
to consent for the named organisation, and prints the body of ``POST /v1/xero/connect/complete``::

    curl -s -X POST -H "$AUTH" $API/v1/xero/connect \\
      | .venv/bin/python -m local consent --organisation "Harbour & Lion Trading" > consent.json

The README's walkthrough (connect, link, sync now, sync expenses) is written with it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from local.console.seed import ConsoleSeed

#: The user whose token `make token` mints by default, and the role that may connect and sync.
DEMO_USER = "u_1"
DEMO_ROLE = "Finance"


class ConsentError(Exception):
    """The consent could not be played; the message says why and what to do."""


def authorize_url_from(text: str) -> str:
    """The authorize URL from ``POST /v1/xero/connect``'s answer (JSON), or the URL itself."""
    text = text.strip()
    if text.startswith("{"):
        try:
            answer: Any = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConsentError(f"The connect answer is not JSON ({error}).") from error
        if not isinstance(answer, dict) or "authorize_url" not in answer:
            raise ConsentError("The connect answer has no authorize_url: "
                               f"{text[:300]} (is the token right, and the business not connected yet?)")
        return str(answer["authorize_url"])
    if not text.startswith("http"):
        raise ConsentError("Give the answer of POST /v1/xero/connect on standard input, or --authorize-url.")
    return text


def consent(authorize_url: str, organisation: str | None = None, *, deny: bool = False) -> dict[str, str]:
    """Consent (or deny) on the Xero emulator behind ``authorize_url``; the ``code`` and ``state`` it returns.

    ``organisation`` is an organisation's name or tenant id; without it the emulator needs exactly one.
    """
    parts = urlsplit(authorize_url)
    emulator = f"{parts.scheme}://{parts.netloc}"
    tenant_ids = None
    try:
        if organisation:
            organisations = requests.get(emulator + "/_emulator/organisations", timeout=10).json()
            matches = [o["OrganisationID"] for o in organisations
                       if organisation in (o.get("Name"), o.get("OrganisationID"))]
            if not matches:
                names = ", ".join(repr(o.get("Name")) for o in organisations)
                raise ConsentError(f"No organisation {organisation!r} in the Xero emulator; there are: {names}.")
            tenant_ids = matches[:1]
        answer = requests.post(emulator + "/_emulator/consent", timeout=10,
                               json={"authorize_url": authorize_url, "tenant_ids": tenant_ids, "deny": deny})
    except requests.RequestException as error:
        raise ConsentError(f"The Xero emulator at {emulator} did not answer ({error}): is `make up` running?") \
            from error
    if not answer.ok:
        raise ConsentError(f"The Xero emulator refused the consent: {answer.text}")
    redirect = urlsplit(answer.json()["redirect_url"])
    query = {key: values[0] for key, values in parse_qs(redirect.query).items()}
    if "code" not in query:
        # Denied, or an error Xero sends back to the redirect URI: the product shows it at its callback.
        return query
    return {"code": query["code"], "state": query["state"]}


def describe_demo(seed: ConsoleSeed, api: str) -> str:
    """The lines `make up` prints under the seeded data: a token that works, and where to go next."""
    return "\n".join([
        f"A token for {seed.business_id} (user {DEMO_USER}, {DEMO_ROLE}), in another shell:",
        f"  API={api}",
        "  TOKEN=$(make -s token)   # = .venv/bin/python -m local token "
        f"--business {seed.business_id} --user {DEMO_USER} --role {DEMO_ROLE}",
        "  curl -s -H \"Authorization: Bearer $TOKEN\" $API/v1/xero/connection",
        "Connect, link an account, sync now and sync expenses by hand: README.md, \"Running the stack by hand\".",
        "Xero's consent from a shell: curl -s -X POST -H \"Authorization: Bearer $TOKEN\" $API/v1/xero/connect "
        f"| .venv/bin/python -m local consent --organisation \"{next(iter(seed.organisations))}\"",
        "Fire a schedule now:  .venv/bin/python -m local fire EveryThreeHours",
    ])
