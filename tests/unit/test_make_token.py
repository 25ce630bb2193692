"""`make token` mints a token for what its help names: BUSINESS, USER and ROLE."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from typing import Any

from local.template import REPO_ROOT
from tests.support.newcomer_shell import make_arguments


def _claims(token: str) -> dict[str, Any]:
    payload = token.strip().split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _make_token(*assignments: str) -> dict[str, Any]:
    env = {**os.environ, "USER": "someone-logged-in"}  # the login name, which must not become the user
    env.pop("USER_ID", None)
    done = subprocess.run(["make", *make_arguments(), "-s", "token", *assignments], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    return _claims(done.stdout)


def test_make_token_takes_business_user_and_role_as_its_help_says() -> None:
    claims = _make_token("BUSINESS=biz_9", "USER=u_9", "ROLE=Admin")
    assert (claims["business_id"], claims["sub"], claims["role"]) == ("biz_9", "u_9", "Admin")


def test_make_token_defaults_to_the_seeded_demo_business_finance_user_not_the_login_name() -> None:
    claims = _make_token()
    assert (claims["business_id"], claims["sub"], claims["role"]) == ("biz_demo", "u_1", "Finance")
