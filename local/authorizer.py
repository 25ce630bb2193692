"""The HTTP API's JWT authorizer, played locally with a development signing key.

API Gateway verifies the bank's user tokens (issuer, audience, expiry, signature) before a request
reaches a function, and passes the claims on as strings. Locally the same checks run against a key kept
in ``.local/``; ``python -m local token`` mints tokens for the demo and for manual calls.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from local.template import REPO_ROOT

DEFAULT_KEY_PATH = REPO_ROOT / ".local" / "dev-jwt-key.pem"
LOCAL_ISSUER = "https://auth.bank.local/"
LOCAL_AUDIENCE = "xero-sync-local"


class Unauthorized(Exception):
    """Why API Gateway would answer 401 before any function runs."""


class DevTokenAuthority:
    def __init__(self, issuer: str = LOCAL_ISSUER, audience: str | list[str] = LOCAL_AUDIENCE,
                 key_path: Path | None = DEFAULT_KEY_PATH) -> None:
        self.issuer = issuer
        self.audiences = [audience] if isinstance(audience, str) else list(audience)
        self._key = _load_or_create_key(key_path)
        self.key_id = "local-dev"

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self._key.public_key()

    def mint(self, *, business_id: str, user_id: str, role: str, ttl_seconds: int = 3600,
             extra: dict[str, Any] | None = None, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        claims = {
            "iss": self.issuer, "aud": self.audiences[0], "sub": user_id, "business_id": business_id,
            "role": role, "iat": issued, "nbf": issued, "exp": issued + ttl_seconds, "jti": str(uuid.uuid4()),
            "scope": "xero-sync",
            **(extra or {}),
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.key_id})

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """The claims of a valid ``Authorization: Bearer`` header, else ``Unauthorized``."""
        if not authorization:
            raise Unauthorized("missing Authorization header")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Authorization is not a Bearer token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token.strip(), self.public_key, algorithms=["RS256"], audience=self.audiences, issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
        return claims


def claims_as_api_gateway_passes_them(claims: dict[str, Any]) -> dict[str, str]:
    """HTTP API's JWT authorizer hands claims to the function as strings; arrays become "[a b]"."""
    passed = {}
    for name, value in claims.items():
        if isinstance(value, list):
            passed[name] = "[" + " ".join(str(v) for v in value) + "]"
        elif isinstance(value, bool):
            passed[name] = str(value).lower()
        else:
            passed[name] = str(value)
    return passed


def _load_or_create_key(path: Path | None) -> rsa.RSAPrivateKey:
    if path is not None and path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} is not an RSA private key")
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        path.chmod(0o600)
    return key
