"""Bearer-token verification: who the caller is, in which workspace, with which roles.

Development default: HS256 with a secret generated once into ./.data/dev-jwt-secret and
shared by every local process. Production: RS256 with a PEM public key
(JWT_PUBLIC_KEY_FILE) or a JWKS document (JWKS_FILE); the secret is then never used.
Claims: `sub`, `ws` (workspace id), `roles` (list), `exp`, `aud`, `iss`.

Issuer and audience: in production mode (not `development_mode()`) both must be configured
— JWT_ISSUER (or OIDC_ISSUER) and JWT_AUDIENCE — and every token must carry exactly those
(`iss`, `aud`); a verifier without them refuses to start, so a token minted by any other
party that happens to share the signing keys is never accepted. In development the
audience defaults to `crm` and the issuer is checked only when one is configured, so the
dev tokens of `issue_token` keep working.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

from .context import ROLES, RequestContext
from .paths import data_dir

__all__ = [
    "AuthError",
    "RequestContext",
    "TokenVerifier",
    "dev_secret",
    "development_mode",
    "issue_token",
]

AUDIENCE = "crm"
ISSUER = "crm-dev"


class AuthError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# Any of these configures a production identity provider; development conveniences (the
# HS256 dev secret, dev sign-in, GraphiQL on subgraphs) exist only without them.
PRODUCTION_KEY_SETTINGS = ("JWT_PUBLIC_KEY_FILE", "JWKS_FILE", "OIDC_ISSUER")


def development_mode() -> bool:
    """True unless `CRM_ENV=production` or a production key or issuer is configured."""
    if os.environ.get("CRM_ENV", "").strip().lower() == "production":
        return False
    return not any(os.environ.get(name) for name in PRODUCTION_KEY_SETTINGS)


def dev_secret() -> str:
    """The HS256 secret: JWT_SECRET if set, else a file generated on first use."""
    configured = os.environ.get("JWT_SECRET")
    if configured:
        return configured
    path = Path(os.environ.get("JWT_SECRET_FILE", data_dir() / "dev-jwt-secret"))
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = secrets.token_urlsafe(48)
        # O_EXCL: when several processes start at once, exactly one writes the secret.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(candidate)
        except FileExistsError:
            pass
    return path.read_text().strip()


def issue_token(
    workspace: str, subject: str, roles: list[str], ttl_seconds: int = 30 * 24 * 3600
) -> str:
    """A development token signed with the HS256 secret."""
    unknown = [role for role in roles if role not in ROLES]
    if unknown:
        raise ValueError(f"unknown roles {unknown}; expected some of {list(ROLES)}")
    claims = token_claims(workspace, subject, roles, ttl_seconds, issuer=ISSUER, audience=AUDIENCE)
    return jwt.encode(claims, dev_secret(), algorithm="HS256")


def token_claims(
    workspace: str, subject: str, roles: list[str], ttl_seconds: int, *, issuer: str, audience: str
) -> dict[str, object]:
    """The claims of a platform token (what `TokenVerifier` reads)."""
    now = int(time.time())
    return {
        "sub": subject,
        "ws": workspace,
        "roles": roles,
        "iat": now,
        "exp": now + ttl_seconds,
        "aud": audience,
        "iss": issuer,
    }


def expected_issuer_and_audience() -> tuple[str | None, str]:
    """(issuer, audience) every token must carry; ValueError in production mode when
    either is not configured."""
    issuer = os.environ.get("JWT_ISSUER") or os.environ.get("OIDC_ISSUER") or None
    audience = os.environ.get("JWT_AUDIENCE") or None
    if not development_mode() and (issuer is None or audience is None):
        raise ValueError(
            "production mode: set JWT_ISSUER (or OIDC_ISSUER) and JWT_AUDIENCE to the issuer "
            "and audience of the platform's tokens"
        )
    return issuer, audience or AUDIENCE


@dataclass
class TokenVerifier:
    algorithm: str
    keys: list[object]
    audience: str = AUDIENCE
    issuer: str | None = None  # None: not checked (development only)

    @classmethod
    def from_env(cls) -> TokenVerifier:
        issuer, audience = expected_issuer_and_audience()
        public_key_file = os.environ.get("JWT_PUBLIC_KEY_FILE")
        jwks_file = os.environ.get("JWKS_FILE")
        if public_key_file:
            return cls("RS256", [Path(public_key_file).read_text()], audience, issuer)
        if jwks_file:
            jwks = json.loads(Path(jwks_file).read_text())
            keys = [jwt.PyJWK(k).key for k in jwks.get("keys", []) if k.get("kty") == "RSA"]
            if not keys:
                raise ValueError(f"{jwks_file}: no RSA keys")
            return cls("RS256", keys, audience, issuer)
        if not development_mode():
            raise ValueError(
                "production mode: the HS256 development secret is not used; set "
                "JWT_PUBLIC_KEY_FILE or JWKS_FILE"
            )
        return cls("HS256", [dev_secret()], audience, issuer)

    def verify(self, token: str) -> RequestContext:
        last_error = "invalid token"
        required = ["sub", "exp", "aud"] + (["iss"] if self.issuer is not None else [])
        for key in self.keys:
            try:
                claims = jwt.decode(
                    token,
                    key,  # type: ignore[arg-type]
                    algorithms=[self.algorithm],
                    audience=self.audience,
                    issuer=self.issuer,
                    options={"require": required},
                )
            except jwt.ExpiredSignatureError:
                raise AuthError("token expired") from None
            except jwt.PyJWTError as error:
                last_error = f"invalid token: {error}"
                continue
            return _context_from_claims(claims)
        raise AuthError(last_error)

    def verify_header(self, authorization: str | None) -> RequestContext:
        if not authorization:
            raise AuthError("missing Authorization header (expected 'Bearer <token>')")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("Authorization header must be 'Bearer <token>'")
        return self.verify(token.strip())


def _context_from_claims(claims: dict[str, object]) -> RequestContext:
    workspace = claims.get("ws")
    if not isinstance(workspace, str) or not workspace:
        raise AuthError("token has no workspace claim 'ws'")
    roles = claims.get("roles", [])
    if not isinstance(roles, list):
        raise AuthError("claim 'roles' must be a list")
    return RequestContext(
        workspace_id=workspace,
        subject=str(claims["sub"]),
        roles=frozenset(str(role) for role in roles),
    )
