"""A minimal OpenID Connect provider for the sign-in test: discovery, an authorization
endpoint that signs in one configured person at once (no login form), a token endpoint
that redeems each code once and only with the right PKCE verifier, and the JWKS.

Tokens are RS256: the access token is what the platform verifies (audience `crm`, claims
`ws` and `roles`), the ID token is for the app (audience the client id, the nonce).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from crm_kit.devstack import free_port, wait_for_port


@dataclass
class Person:
    sub: str
    name: str
    workspace: str
    roles: list[str]


@dataclass
class Provider:
    client_id: str
    person: Person
    port: int = field(default_factory=free_port)
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    codes: dict[str, dict] = field(default_factory=dict)
    redeemed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def jwks(self) -> dict:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": "test", "use": "sig", "alg": "RS256"}]}

    def write_jwks(self, path: Path) -> Path:
        path.write_text(json.dumps(self.jwks()))
        return path

    def _sign(self, claims: dict) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "test"})

    def app(self) -> Starlette:
        async def discovery(_: Request) -> Response:
            return JSONResponse(
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["none"],
                }
            )

        async def authorize(request: Request) -> Response:
            q = request.query_params
            if q.get("client_id") != self.client_id or q.get("code_challenge_method") != "S256":
                self.refused.append("authorize: bad client or no S256 challenge")
                return JSONResponse({"error": "invalid_request"}, 400)
            code = secrets.token_urlsafe(24)
            self.codes[code] = {
                "challenge": q["code_challenge"],
                "nonce": q.get("nonce"),
                "redirect_uri": q["redirect_uri"],
            }
            query = urlencode({"code": code, "state": q.get("state", ""), "iss": self.issuer})
            return RedirectResponse(f"{q['redirect_uri']}?{query}", 302)

        async def token(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode()))
            grant = self.codes.pop(str(form.get("code")), None)
            verifier = str(form.get("code_verifier", ""))
            digest = hashlib.sha256(verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if (
                grant is None
                or grant["challenge"] != challenge
                or grant["redirect_uri"] != form.get("redirect_uri")
                or form.get("client_id") != self.client_id
            ):
                self.refused.append("token: unknown code, wrong verifier or redirect")
                return JSONResponse({"error": "invalid_grant"}, 400)
            now = int(time.time())
            person = self.person
            access = self._sign(
                {
                    "iss": self.issuer,
                    "sub": person.sub,
                    "aud": "crm",
                    "ws": person.workspace,
                    "roles": person.roles,
                    "iat": now,
                    "exp": now + 600,
                }
            )
            identity = self._sign(
                {
                    "iss": self.issuer,
                    "sub": person.sub,
                    "aud": self.client_id,
                    "nonce": grant["nonce"],
                    "name": person.name,
                    "iat": now,
                    "exp": now + 600,
                }
            )
            self.redeemed.append(person.sub)
            return JSONResponse(
                {
                    "access_token": access,
                    "id_token": identity,
                    "token_type": "Bearer",
                    "expires_in": 600,
                },
                headers={"cache-control": "no-store"},
            )

        async def keys(_: Request) -> Response:
            return JSONResponse(self.jwks())

        app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/authorize", authorize),
                Route("/token", token, methods=["POST"]),
                Route("/jwks", keys),
            ]
        )
        # The app (another origin) reads discovery and the token endpoint with fetch.
        app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST"])
        return app

    def serve(self) -> tuple[uvicorn.Server, threading.Thread]:
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_for_port(self.port, 10)
        return server, thread
