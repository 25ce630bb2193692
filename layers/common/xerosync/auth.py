"""Who is calling: the business, user and role from the token's claims, never from the path or body."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from xerosync.errors import Forbidden, Unauthenticated


class Role(StrEnum):
    ADMIN = "Admin"
    FINANCE = "Finance"
    EMPLOYEE = "Employee"
    VIEWER = "Viewer"

    @classmethod
    def parse(cls, raw: str) -> Role | None:
        for role in cls:
            if role.value.lower() == raw.strip().lower():
                return role
        return None


# The help centre: "Any user who has access to the accounting features, i.e Admins and Finance users".
ACCOUNTING_ROLES = frozenset({Role.ADMIN, Role.FINANCE})


class Caller(BaseModel):
    model_config = ConfigDict(frozen=True)

    business_id: str
    user_id: str
    role: Role | None
    raw_role: str

    @property
    def can_manage_accounting(self) -> bool:
        return self.role in ACCOUNTING_ROLES

    def require_accounting_role(self) -> None:
        if not self.can_manage_accounting:
            raise Forbidden(
                "Only Admin and Finance users can change the Xero integration.",
                action="Ask an Admin or Finance user of your business to do this.",
                code="role_not_allowed",
            )


def caller_from_claims(claims: dict[str, Any], *, business_claim: str, user_claim: str, role_claim: str) -> Caller:
    """Build the caller from API Gateway's JWT claims (values arrive as strings)."""
    business_id = str(claims.get(business_claim) or "").strip()
    user_id = str(claims.get(user_claim) or "").strip()
    raw_role = str(claims.get(role_claim) or "").strip()
    if not business_id or not user_id:
        raise Unauthenticated(
            "Your sign-in does not identify a business and a user.",
            action="Sign in to the bank again.",
        )
    return Caller(business_id=business_id, user_id=user_id, role=Role.parse(raw_role), raw_role=raw_role)
