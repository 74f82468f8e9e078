"""Token verification: dev HS256, production RS256 (PEM and JWKS) with the configured
issuer and audience, and every refusal."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from crm_kit.auth import AUDIENCE, AuthError, TokenVerifier, issue_token


def test_dev_token_round_trip() -> None:
    token = issue_token("w1", "bob", ["rep"])
    ctx = TokenVerifier.from_env().verify(token)
    assert (ctx.workspace_id, ctx.subject, ctx.roles) == ("w1", "bob", frozenset({"rep"}))
    assert ctx.can_write and not ctx.has_role("admin")


def test_unknown_role_is_refused_at_issue() -> None:
    with pytest.raises(ValueError, match="unknown roles"):
        issue_token("w1", "bob", ["superuser"])


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing Authorization"),
        ("Basic abc", "must be 'Bearer"),
        ("Bearer not-a-jwt", "invalid token"),
    ],
)
def test_bad_headers_are_refused(header: str | None, message: str) -> None:
    with pytest.raises(AuthError, match=message):
        TokenVerifier.from_env().verify_header(header)


def test_expired_and_foreign_tokens_are_refused() -> None:
    verifier = TokenVerifier.from_env()
    expired = issue_token("w1", "bob", ["rep"], ttl_seconds=-10)
    with pytest.raises(AuthError, match="expired"):
        verifier.verify(expired)
    forged = jwt.encode(
        {"sub": "x", "ws": "w1", "exp": int(time.time()) + 60, "aud": AUDIENCE},
        "another-secret-that-is-long-enough-0123456789",
        algorithm="HS256",
    )
    with pytest.raises(AuthError, match="invalid token"):
        verifier.verify(forged)


def test_token_without_workspace_is_refused() -> None:
    from crm_kit.auth import dev_secret

    token = jwt.encode(
        {"sub": "x", "exp": int(time.time()) + 60, "aud": AUDIENCE}, dev_secret(), "HS256"
    )
    with pytest.raises(AuthError, match="workspace"):
        TokenVerifier.from_env().verify(token)


@pytest.fixture
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


PROD_ISSUER = "https://id.example.test/"
PROD_AUDIENCE = "crm-api"


def _rs256(key: rsa.RSAPrivateKey, **claims: object) -> str:
    base = {"sub": "carol", "ws": "w9", "roles": ["viewer"], "exp": int(time.time()) + 60}
    mine = {"aud": PROD_AUDIENCE, "iss": PROD_ISSUER}
    return jwt.encode({**base, **mine, **claims}, key, algorithm="RS256")


@pytest.fixture
def production(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> pytest.MonkeyPatch:
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "pub.pem").write_bytes(pem)
    monkeypatch.setenv("JWT_PUBLIC_KEY_FILE", str(tmp_path / "pub.pem"))
    monkeypatch.setenv("JWT_ISSUER", PROD_ISSUER)
    monkeypatch.setenv("JWT_AUDIENCE", PROD_AUDIENCE)
    return monkeypatch


def test_rs256_with_public_key_file(rsa_key: rsa.RSAPrivateKey, production: object) -> None:
    verifier = TokenVerifier.from_env()
    ctx = verifier.verify(_rs256(rsa_key))
    assert ctx.workspace_id == "w9" and not ctx.can_write
    # An HS256 dev token must not pass a production verifier.
    with pytest.raises(AuthError):
        verifier.verify(issue_token("w9", "mallory", ["admin"]))


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"iss": "https://evil.example.test/"}, r"(?i)issuer"),
        ({"iss": None}, "iss"),
        ({"aud": "another-app"}, r"(?i)audience"),
        ({"aud": None}, "aud"),
    ],
)
def test_production_requires_the_configured_issuer_and_audience(
    rsa_key: rsa.RSAPrivateKey, production: object, claims: dict[str, object], message: str
) -> None:
    token = jwt.encode(
        {
            k: v
            for k, v in {
                "sub": "carol",
                "ws": "w9",
                "exp": int(time.time()) + 60,
                "aud": PROD_AUDIENCE,
                "iss": PROD_ISSUER,
                **claims,
            }.items()
            if v is not None
        },
        rsa_key,
        algorithm="RS256",
    )
    with pytest.raises(AuthError, match=message):
        TokenVerifier.from_env().verify(token)


@pytest.mark.parametrize("missing", ["JWT_ISSUER", "JWT_AUDIENCE"])
def test_production_without_issuer_or_audience_refuses_to_start(
    production: pytest.MonkeyPatch, missing: str
) -> None:
    production.delenv(missing)
    with pytest.raises(ValueError, match="JWT_ISSUER"):
        TokenVerifier.from_env()


def test_production_mode_never_uses_the_dev_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_ENV", "production")
    monkeypatch.setenv("JWT_ISSUER", PROD_ISSUER)
    monkeypatch.setenv("JWT_AUDIENCE", PROD_AUDIENCE)
    with pytest.raises(ValueError, match="JWT_PUBLIC_KEY_FILE or JWKS_FILE"):
        TokenVerifier.from_env()


def test_a_configured_issuer_is_checked_in_development_too(monkeypatch: pytest.MonkeyPatch) -> None:
    token = issue_token("w1", "bob", ["rep"])  # iss: crm-dev
    monkeypatch.setenv("JWT_ISSUER", "someone-else")
    with pytest.raises(AuthError, match=r"(?i)issuer"):
        TokenVerifier.from_env().verify(token)


def test_rs256_with_jwks_file(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path, production: pytest.MonkeyPatch
) -> None:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    production.delenv("JWT_PUBLIC_KEY_FILE")
    production.setenv("JWKS_FILE", str(tmp_path / "jwks.json"))
    assert TokenVerifier.from_env().verify(_rs256(rsa_key)).subject == "carol"
