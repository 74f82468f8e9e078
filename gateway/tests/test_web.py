"""The gateway's browser side: the app's files with their cache headers, client routes,
development sign-in (present only in development mode), auth config, CORS."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from crm_gateway.app import create_app
from crm_gateway.config import GatewaySettings
from crm_gateway.graphiql import graphiql_html
from crm_gateway.web import IMMUTABLE, WebSettings, mount_web
from crm_kit.auth import TokenVerifier


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><div id=root></div>")
    (tmp_path / "assets" / "app-abc123.js").write_text("console.log('app');" * 50)
    (tmp_path / "secret.txt").write_text("outside assets")
    return tmp_path


def client_for(settings: WebSettings) -> httpx.AsyncClient:
    async def api(_: object) -> PlainTextResponse:
        return PlainTextResponse("api")

    app = Starlette(routes=[Route("/graphql", api, methods=["GET", "POST"])])
    mount_web(app, settings)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


async def test_index_and_client_routes_are_revalidated(dist: Path) -> None:
    async with client_for(WebSettings(dist_dir=dist)) as client:
        routes = ("/", "/board", "/deals/42", "/dashboards/forecast?x=1", "/auth/callback?code=1")
        for path in routes:
            response = await client.get(path)
            assert response.status_code == 200, path
            assert "<div id=root>" in response.text
            assert response.headers["cache-control"] == "no-cache"
        assert (await client.get("/graphql")).text == "api"  # the API keeps its route


async def test_hashed_assets_are_immutable_and_gzipped(dist: Path) -> None:
    async with client_for(WebSettings(dist_dir=dist)) as client:
        raw = await client.get("/assets/app-abc123.js", headers={"accept-encoding": "identity"})
        assert raw.status_code == 200 and raw.headers["cache-control"] == IMMUTABLE
        assert "content-encoding" not in raw.headers
        zipped = await client.get("/assets/app-abc123.js", headers={"accept-encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.headers["cache-control"] == IMMUTABLE
        assert zipped.text == raw.text  # httpx decodes; the bytes on the wire were smaller
        assert int(zipped.headers["content-length"]) < len(raw.content)
        assert len(gzip.compress(raw.content)) > 0


async def test_missing_files_and_escapes_are_404(dist: Path) -> None:
    async with client_for(WebSettings(dist_dir=dist)) as client:
        for path in (
            "/assets/nope.js",
            "/assets/../secret.txt",
            "/assets/%2e%2e/secret.txt",
            "/robots.txt",
        ):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert "outside assets" not in response.text


async def test_without_a_build_the_page_says_how_to_make_one(tmp_path: Path) -> None:
    async with client_for(WebSettings(dist_dir=tmp_path / "none")) as client:
        response = await client.get("/board")
        assert response.status_code == 503 and "make web" in response.text


async def test_development_sign_in_lists_demo_users_and_issues_their_token(dist: Path) -> None:
    async with client_for(WebSettings(dist_dir=dist, development=True)) as client:
        config = (await client.get("/auth/config")).json()
        assert config == {"mode": "development", "workspace": "demo"}
        users = (await client.get("/auth/dev/users")).json()["users"]
        roles = [role for user in users for role in user["roles"]]
        assert roles.count("admin") >= 1 and roles.count("manager") >= 1
        assert roles.count("rep") >= 2 and roles.count("viewer") >= 1
        assert all(user["name"] and user["name"] != user["id"] for user in users)
        manager = next(u for u in users if "manager" in u["roles"])
        response = await client.post(
            "/auth/dev/token", json={"userId": manager["id"], "workspace": "w-7"}
        )
        assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
        context = TokenVerifier.from_env().verify(response.json()["token"])
        assert context.subject == manager["id"] and context.workspace_id == "w-7"
        assert context.roles == frozenset({"manager"})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"userId": "mallory"}, "userId"),
        ({"userId": "admin", "workspace": "../other"}, "workspace"),
        ({"userId": "admin", "workspace": 7}, "workspace"),
    ],
)
async def test_development_sign_in_refuses_bad_input(dist: Path, body: dict, field: str) -> None:
    async with client_for(WebSettings(dist_dir=dist, development=True)) as client:
        response = await client.post("/auth/dev/token", json=body)
        assert response.status_code == 400 and response.json()["field"] == field
        assert (await client.post("/auth/dev/token", content=b"[1")).status_code == 400
        big = b'{"userId": "' + b"a" * 5000 + b'"}'
        assert (await client.post("/auth/dev/token", content=big)).status_code == 413


async def test_in_production_there_is_no_dev_sign_in_only_the_issuer(dist: Path) -> None:
    settings = WebSettings(
        dist_dir=dist,
        development=False,
        oidc_issuer="https://id.example.com",
        oidc_client_id="crm-web",
    )
    async with client_for(settings) as client:
        assert (await client.post("/auth/dev/token", json={"userId": "admin"})).status_code == 404
        assert (await client.get("/auth/dev/users")).status_code == 404
        config = (await client.get("/auth/config")).json()
        assert config == {
            "mode": "oidc",
            "issuer": "https://id.example.com",
            "clientId": "crm-web",
            "scope": "openid profile email",
        }
    async with client_for(WebSettings(dist_dir=dist, development=False)) as client:
        assert (await client.get("/auth/config")).json() == {"mode": "unconfigured"}


def test_development_mode_follows_the_kit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRM_ENV", raising=False)
    for name in ("JWT_PUBLIC_KEY_FILE", "JWKS_FILE", "OIDC_ISSUER"):
        monkeypatch.delenv(name, raising=False)
    assert WebSettings.from_env().development is True
    monkeypatch.setenv("OIDC_ISSUER", "https://id.example.com")
    monkeypatch.setenv("OIDC_CLIENT_ID", "crm-web")
    settings = WebSettings.from_env()
    assert settings.development is False and settings.oidc_client_id == "crm-web"


PREFLIGHT = {
    "origin": "https://app.example.com",
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization, content-type",
}


async def test_no_cors_by_default(dist: Path) -> None:
    async with client_for(WebSettings(dist_dir=dist)) as client:
        response = await client.options("/graphql", headers=PREFLIGHT)
        assert "access-control-allow-origin" not in response.headers
        post = await client.post("/graphql", headers={"origin": "https://app.example.com"})
        assert "access-control-allow-origin" not in post.headers


async def test_cors_allow_list_answers_preflight_for_listed_origins_only(dist: Path) -> None:
    settings = WebSettings.from_env(
        {"CORS_ALLOW_ORIGINS": "https://app.example.com/, https://other.example.com"}
    )
    assert settings.cors_origins == ("https://app.example.com", "https://other.example.com")
    async with client_for(WebSettings(dist_dir=dist, cors_origins=settings.cors_origins)) as client:
        response = await client.options("/graphql", headers=PREFLIGHT)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "authorization" in response.headers["access-control-allow-headers"].lower()
        post = await client.post("/graphql", headers={"origin": "https://app.example.com"})
        assert post.headers["access-control-allow-origin"] == "https://app.example.com"
        evil = await client.options(
            "/graphql", headers={**PREFLIGHT, "origin": "https://evil.example"}
        )
        assert evil.status_code == 400
        assert "access-control-allow-origin" not in evil.headers


async def test_the_gateway_app_serves_the_web_app(
    supergraph_sdl: str, world, dist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEB_DIST_DIR", str(dist))
    app = create_app(
        GatewaySettings(), supergraph_sdl=supergraph_sdl, auth=False, transport=world.transport
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as c:
        assert "<div id=root>" in (await c.get("/deals/1")).text
        assert (await c.post("/graphql", json={"query": "{ deals { id } }"})).json()["data"]
        assert (await c.get("/health")).json() == {"status": "ok"}


def test_graphiql_loads_nothing_from_the_internet(
    dist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (dist / "graphiql.html").write_text(
        '<script type="module" src="/assets/graphiql-1.js"></script>'
    )
    monkeypatch.setenv("WEB_DIST_DIR", str(dist))
    page = graphiql_html()
    assert "/assets/graphiql-1.js" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    monkeypatch.setenv("WEB_DIST_DIR", str(dist / "missing"))
    assert "make web" in graphiql_html()
