"""The browser's side of the gateway: the web app (same origin as /graphql), sign-in
support, and CORS for apps served elsewhere.

- `/` and every client route: `index.html` (revalidated on each load: `no-cache`), so a
  deep link such as `/deals/42` opens the app there; `/assets/*`: the build's hashed files,
  cached for good (`immutable`) and gzipped once in memory when the browser accepts it.
- `/auth/config`: how this deployment signs people in (development demo users, or the
  organisation's OIDC issuer with the app's client id).
- `/auth/dev/users`, `/auth/dev/token`: the demo users and a development token for one of
  them. Mounted only in development mode (`crm_kit.auth.development_mode()`): with a
  production key or issuer configured these routes do not exist.
- CORS: `CORS_ALLOW_ORIGINS` (comma-separated origins) lets apps on those origins call the
  API, preflight included; none by default (the web app needs none: same origin).
"""

from __future__ import annotations

import gzip
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from crm_kit.auth import development_mode, issue_token
from crm_kit.demo_users import DEMO_USERS, demo_user
from crm_kit.paths import REPO_ROOT

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
DEV_TOKEN_TTL_SECONDS = 12 * 3600
_WORKSPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_MAX_SIGN_IN_BODY = 4096
# Paths the gateway itself answers: never the app's HTML.
_RESERVED = ("/graphql", "/health", "/ready", "/metrics", "/auth/dev/", "/auth/config", "/assets/")
_COMPRESSIBLE = (".js", ".css", ".svg", ".json", ".map", ".html", ".txt")


def default_dist() -> Path:
    return Path(os.environ.get("WEB_DIST_DIR", REPO_ROOT / "web" / "dist"))


@dataclass(frozen=True)
class WebSettings:
    dist_dir: Path = field(default_factory=default_dist)
    cors_origins: tuple[str, ...] = ()
    development: bool = True
    demo_workspace: str = "demo"
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_scopes: str = "openid profile email"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> WebSettings:
        env = dict(os.environ if env is None else env)
        origins = tuple(o.strip().rstrip("/") for o in env.get("CORS_ALLOW_ORIGINS", "").split(","))
        return cls(
            dist_dir=Path(env["WEB_DIST_DIR"]) if env.get("WEB_DIST_DIR") else default_dist(),
            cors_origins=tuple(o for o in origins if o),
            development=development_mode(),
            demo_workspace=env.get("CRM_DEMO_WORKSPACE", "demo"),
            oidc_issuer=env.get("OIDC_ISSUER") or None,
            oidc_client_id=env.get("OIDC_CLIENT_ID") or None,
            oidc_scopes=env.get("OIDC_SCOPES", "openid profile email"),
        )


def _json(body: object, status: int = 200) -> Response:
    return Response(
        orjson.dumps(body), status, {"cache-control": "no-store"}, media_type="application/json"
    )


class WebApp:
    """Serves the built app from `dist_dir`, read per request so a rebuild needs no restart."""

    def __init__(self, dist_dir: Path) -> None:
        self.dist = dist_dir.resolve()
        self._gzipped: dict[Path, bytes] = {}

    def _index(self) -> Response:
        index = self.dist / "index.html"
        if not index.is_file():
            return HTMLResponse(
                "<!doctype html><title>CRM</title><p>The web app is not built. Run "
                "<code>make web</code> (or <code>make run</code>, which builds it).</p>",
                503,
                {"cache-control": REVALIDATE},
            )
        return FileResponse(index, headers={"cache-control": REVALIDATE}, media_type="text/html")

    def _asset_path(self, relative: str) -> Path | None:
        candidate = (self.dist / "assets" / relative).resolve()
        if not candidate.is_relative_to(self.dist / "assets") or not candidate.is_file():
            return None
        return candidate

    async def asset(self, request: Request) -> Response:
        path = self._asset_path(request.path_params["path"])
        if path is None:
            return Response("Not found", 404, {"cache-control": REVALIDATE})
        accepts_gzip = "gzip" in request.headers.get("accept-encoding", "")
        if accepts_gzip and path.suffix in _COMPRESSIBLE:
            # Hashed assets never change: compress each once.
            body = self._gzipped.get(path)
            if body is None:
                body = self._gzipped[path] = gzip.compress(path.read_bytes(), 6)
            media = FileResponse(path).media_type
            return Response(
                body,
                headers={
                    "cache-control": IMMUTABLE,
                    "content-encoding": "gzip",
                    "vary": "accept-encoding",
                },
                media_type=media,
            )
        return FileResponse(path, headers={"cache-control": IMMUTABLE, "vary": "accept-encoding"})

    async def page(self, request: Request) -> Response:
        """Any client route gets the app; a missing file (a name with an extension) is 404."""
        path = request.url.path
        is_file = "." in path.rsplit("/", 1)[-1]
        if request.method not in ("GET", "HEAD") or path.startswith(_RESERVED) or is_file:
            return Response("Not found", 404)
        return self._index()


def _auth_config(settings: WebSettings) -> dict[str, str]:
    if settings.development:
        return {"mode": "development", "workspace": settings.demo_workspace}
    if settings.oidc_issuer and settings.oidc_client_id:
        return {
            "mode": "oidc",
            "issuer": settings.oidc_issuer,
            "clientId": settings.oidc_client_id,
            "scope": settings.oidc_scopes,
        }
    return {"mode": "unconfigured"}


def _dev_routes(settings: WebSettings) -> list[Route]:
    async def users(_: Request) -> Response:
        return _json(
            {
                "workspace": settings.demo_workspace,
                "users": [
                    {"id": u.id, "name": u.name, "roles": list(u.roles), "title": u.title}
                    for u in DEMO_USERS
                ],
            }
        )

    async def token(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > _MAX_SIGN_IN_BODY:
            return _json({"error": "request body too large"}, 413)
        try:
            body = orjson.loads(raw or b"{}")
        except orjson.JSONDecodeError:
            return _json({"error": "body must be JSON: {userId, workspace?}"}, 400)
        if not isinstance(body, dict):
            return _json({"error": "body must be a JSON object: {userId, workspace?}"}, 400)
        user = demo_user(str(body.get("userId") or ""))
        if user is None:
            return _json({"error": "unknown demo user", "field": "userId"}, 400)
        workspace = body.get("workspace") or settings.demo_workspace
        if not isinstance(workspace, str) or not _WORKSPACE.match(workspace):
            return _json(
                {"error": "workspace must be 1-63 letters, digits, - or _", "field": "workspace"},
                400,
            )
        issued = issue_token(workspace, user.id, list(user.roles), DEV_TOKEN_TTL_SECONDS)
        return _json(
            {
                "token": issued,
                "expiresIn": DEV_TOKEN_TTL_SECONDS,
                "user": {"id": user.id, "name": user.name, "roles": list(user.roles)},
                "workspace": workspace,
            }
        )

    return [
        Route("/auth/dev/users", users, methods=["GET"]),
        Route("/auth/dev/token", token, methods=["POST"]),
    ]


def mount_web(app: Starlette, settings: WebSettings | None = None) -> None:
    """Adds the web routes after the API's (the app's catch-all comes last) and CORS."""
    settings = settings or WebSettings.from_env()
    web = WebApp(settings.dist_dir)

    async def config(_: Request) -> Response:
        return _json(_auth_config(settings))

    routes = [Route("/auth/config", config, methods=["GET"])]
    if settings.development:
        routes += _dev_routes(settings)
    routes += [
        Route("/assets/{path:path}", web.asset, methods=["GET", "HEAD"]),
        # Every method, so a POST to a path that does not exist is a 404, not a 405.
        Route("/{path:path}", web.page, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
    ]
    app.router.routes.extend(routes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=[
                "authorization",
                "content-type",
                "accept",
                "x-request-id",
                "traceparent",
                "tracestate",
            ],
            expose_headers=["x-request-id"],
            max_age=600,
        )
