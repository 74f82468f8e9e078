"""The subgraph HTTP layer refuses requests without a valid token and formats errors."""

from __future__ import annotations

import strawberry
from strawberry.federation import Schema

from crm_kit.auth import TokenVerifier
from crm_kit.context import RequestContext
from crm_kit.errors import NotFound
from crm_kit.runtime import build_http_app
from crm_kit.testing import auth_headers, running_app


@strawberry.type
class Query:
    @strawberry.field
    def whoami(self, info: strawberry.Info) -> str:
        ctx: RequestContext = info.context["ctx"]
        return f"{ctx.subject}@{ctx.workspace_id}"

    @strawberry.field
    def missing(self) -> str:
        raise NotFound("no such record", field="id")

    @strawberry.field
    def broken(self) -> str:
        raise RuntimeError("database password is hunter2")


async def _ready() -> dict[str, bool]:
    return {"mongo": True, "nats": False}


def _app():
    schema = Schema(query=Query, federation_version="2.9")
    return build_http_app(
        schema=schema,
        context_factory=lambda ctx, request: {"ctx": ctx},
        verifier=TokenVerifier.from_env(),
        readiness=_ready,
    )


async def test_missing_token_is_refused_with_unauthenticated() -> None:
    async with running_app(_app()) as http:
        response = await http.post("/graphql", json={"query": "{ whoami }"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_valid_token_reaches_resolvers_and_errors_are_coded() -> None:
    async with running_app(_app()) as http:
        headers = auth_headers("w7", "dana", "rep")
        ok = await http.post("/graphql", json={"query": "{ whoami }"}, headers=headers)
        assert ok.json() == {"data": {"whoami": "dana@w7"}}
        missing = await http.post("/graphql", json={"query": "{ missing }"}, headers=headers)
        assert missing.json()["errors"][0]["extensions"] == {"code": "NOT_FOUND", "field": "id"}
        broken = await http.post("/graphql", json={"query": "{ broken }"}, headers=headers)
        assert broken.status_code == 200
        assert "hunter2" not in broken.text
        assert broken.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        bad = await http.post("/graphql", json={"query": "{ whoami("}, headers=headers)
        assert bad.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


async def test_health_and_readiness() -> None:
    async with running_app(_app()) as http:
        assert (await http.get("/health")).json() == {"status": "ok"}
        ready = await http.get("/ready")
    assert ready.status_code == 503
    assert ready.json() == {"ready": False, "checks": {"mongo": True, "nats": False}}
