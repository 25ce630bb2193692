"""Who is calling: the business, user and role from the token's claims, never from the path or body."""

from typing import Any

from pydantic import ConfigDict

from xerosync.errors import Forbidden, Unauthenticated
from xerosync.model import Model
from xerosync.settings import DEFAULT_ACCOUNTING_ROLES


class Caller(Model):
    model_config = ConfigDict(frozen=True)

    business_id: str
    user_id: str
    role: str  # as the identity provider spells it
    can_manage_accounting: bool

    def require_accounting_role(self) -> None:
        if not self.can_manage_accounting:
            raise Forbidden(
                "Only Admin and Finance users can change the Xero integration.",
                action="Ask an Admin or Finance user of your business to do this.",
                code="role_not_allowed",
            )


def caller_from_claims(claims: dict[str, Any], *, business_claim: str, user_claim: str, role_claim: str,
                       accounting_roles: frozenset[str] = DEFAULT_ACCOUNTING_ROLES) -> Caller:
    """Build the caller from API Gateway's JWT claims (values arrive as strings)."""
    business_id = str(claims.get(business_claim) or "").strip()
    user_id = str(claims.get(user_claim) or "").strip()
    role = str(claims.get(role_claim) or "")
    if not business_id or not user_id:
        raise Unauthenticated(
            "Your sign-in does not identify a business and a user.",
            action="Sign in to the bank again.",
        )
    return Caller(business_id=business_id, user_id=user_id, role=role, can_manage_accounting=role in accounting_roles)
