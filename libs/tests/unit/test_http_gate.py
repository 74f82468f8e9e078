"""The subgraph HTTP layer: only the gateway's assertion gets in, bounds hold again, every
malformed request is a 400 (never a 500), errors are coded, readiness says what works."""

from __future__ import annotations

import pytest
import strawberry
from strawberry.federation import Schema

from crm_kit.assertions import KeyRing
from crm_kit.auth import issue_token
from crm_kit.context import RequestContext
from crm_kit.errors import NotFound
from crm_kit.graphql_http import ASSERTION_HEADER, subgraph_audience
from crm_kit.paths import data_dir
from crm_kit.runtime import build_http_app, readiness_report
from crm_kit.testing import MALFORMED_REQUESTS, gateway_auth, running_app

SERVICE = "things"
ALICE = RequestContext("w7", "dana", frozenset({"rep"}))


@strawberry.type
class Query:
    @strawberry.field
    def whoami(self, info: strawberry.Info) -> str:
        ctx: RequestContext = info.context["ctx"]
        return f"{ctx.subject}@{ctx.workspace_id}:{','.join(sorted(ctx.roles))}"

    @strawberry.field
    def missing(self) -> str:
        raise NotFound("no such record", field="id")

    @strawberry.field
    def broken(self) -> str:
        raise RuntimeError("database password is hunter2")


@strawberry.type
class Mutation:
    @strawberry.mutation
    def touch(self, info: strawberry.Info) -> int:
        info.context["touched"].append(1)
        return len(info.context["touched"])


TOUCHED: list[int] = []


async def _ready() -> dict[str, bool]:
    return {"mongo": True, "nats": False}


def _app(monkeypatch: pytest.MonkeyPatch | None = None, **env: str):
    if monkeypatch is not None:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
    schema = Schema(query=Query, mutation=Mutation, federation_version="2.9")
    return build_http_app(
        schema=schema,
        context_factory=lambda ctx, request: {"ctx": ctx, "touched": TOUCHED},
        service=SERVICE,
        readiness=_ready,
    )


AS_DANA = gateway_auth(SERVICE, "w7", "dana", "rep")


def _signed(body: bytes, *, audience: str = subgraph_audience(SERVICE), party: str = "gateway"):
    token = KeyRing.from_env(party).mint(audience=audience, context=ALICE, body=body)
    return {ASSERTION_HEADER: token, "content-type": "application/json"}


async def test_the_gateways_assertion_reaches_resolvers_with_its_context() -> None:
    async with running_app(_app()) as http:
        ok = await http.post("/graphql", json={"query": "{ whoami }"}, auth=AS_DANA)
        assert ok.json() == {"data": {"whoami": "dana@w7:rep"}}
        via_get = await http.get("/graphql", params={"query": "{ whoami }"}, auth=AS_DANA)
        assert via_get.json() == {"data": {"whoami": "dana@w7:rep"}}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": f"Bearer {issue_token('w7', 'dana', ['admin'])}"},
        {"crm-workspace": "w7", "x-workspace": "w7"},
        {ASSERTION_HEADER: "not-a-jwt"},
    ],
    ids=["nothing", "user-bearer-token", "workspace-header", "garbage-assertion"],
)
async def test_anything_but_a_gateway_assertion_is_refused(headers: dict[str, str]) -> None:
    TOUCHED.clear()
    async with running_app(_app()) as http:
        response = await http.post(
            "/graphql", json={"query": "mutation { touch }"}, headers=headers
        )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert TOUCHED == []


async def test_assertions_for_another_body_audience_or_issuer_are_refused() -> None:
    TOUCHED.clear()
    body = b'{"query":"mutation { touch }"}'
    other = b'{"query":"{ whoami }"}'
    async with running_app(_app()) as http:
        replayed = await http.post("/graphql", content=body, headers=_signed(other))
        elsewhere = await http.post(
            "/graphql", content=body, headers=_signed(body, audience=subgraph_audience("deals"))
        )
        # A party with keys of its own (a service) is not the gateway.
        by_a_service = await http.post(
            "/graphql", content=body, headers=_signed(body, party="deals")
        )
        genuine = await http.post("/graphql", content=body, headers=_signed(body))
    for refused in (replayed, elsewhere, by_a_service):
        assert refused.status_code == 401, refused.text
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert genuine.json() == {"data": {"touch": 1}}
    assert TOUCHED == [1]


async def test_errors_are_coded_and_never_leak() -> None:
    async with running_app(_app()) as http:
        missing = await http.post("/graphql", json={"query": "{ missing }"}, auth=AS_DANA)
        assert missing.json()["errors"][0]["extensions"] == {"code": "NOT_FOUND", "field": "id"}
        broken = await http.post("/graphql", json={"query": "{ broken }"}, auth=AS_DANA)
        assert broken.status_code == 200
        assert "hunter2" not in broken.text
        assert broken.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        bad = await http.post("/graphql", json={"query": "{ whoami("}, auth=AS_DANA)
        assert bad.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


@pytest.mark.parametrize(
    ("content", "content_type", "field"),
    MALFORMED_REQUESTS,
)
async def test_malformed_requests_are_400_with_a_graphql_error(
    content: bytes, content_type: str, field: str
) -> None:
    headers = {**_signed(content), "content-type": content_type}
    async with running_app(_app()) as http:
        response = await http.post("/graphql", content=content, headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "BAD_REQUEST", "field": field}


async def test_bounds_hold_at_the_subgraph_too(monkeypatch: pytest.MonkeyPatch) -> None:
    app = _app(monkeypatch, SUBGRAPH_MAX_BODY_BYTES="300", SUBGRAPH_MAX_ALIASES="2")
    fragments = (
        "".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }} " for i in range(20))
        + "fragment F20 on Query { a: whoami }"
    )
    async with running_app(app) as http:
        big = b'{"query": "{ whoami }", "pad": "' + b"x" * 400 + b'"}'
        too_big = await http.post("/graphql", content=big, headers=_signed(big))
        assert too_big.status_code == 413
        assert too_big.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        aliases = await http.post(
            "/graphql", json={"query": "{ a: whoami b: whoami c: whoami }"}, auth=AS_DANA
        )
        assert aliases.json()["errors"][0]["extensions"]["code"] == "MAX_ALIASES_EXCEEDED"
    app = _app(monkeypatch, SUBGRAPH_MAX_BODY_BYTES="100000", SUBGRAPH_MAX_ALIASES="1000")
    async with running_app(app) as http:
        # 2^20 expanded aliases from a document of a kilobyte: counted, not expanded.
        bomb = await http.post("/graphql", json={"query": "{ ...F0 } " + fragments}, auth=AS_DANA)
        assert bomb.status_code == 400
        assert bomb.json()["errors"][0]["extensions"]["code"] == "MAX_ALIASES_EXCEEDED"


async def test_browser_get_neither_skips_the_gate_nor_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    html = {"accept": "text/html"}
    async with running_app(_app()) as http:
        with_query = await http.get("/graphql", params={"query": "{ whoami }"}, headers=html)
        assert with_query.status_code == 401
        ide = await http.get("/graphql", headers=html)
        assert ide.status_code == 200 and "graphiql" in ide.text.lower()
    monkeypatch.setenv("CRM_ENV", "production")
    # Production insists on a configured key: hand it the one development made.
    monkeypatch.setenv("INTERNAL_KEY_FILE", str(data_dir() / "keys" / "things.key"))
    async with running_app(_app()) as http:
        no_ide = await http.get("/graphql", headers=html)
    assert no_ide.status_code == 401
    assert "graphiql" not in no_ide.text.lower()


async def test_operation_types_per_method_and_unknown_operations() -> None:
    """The gate executes what it admitted (not through Strawberry's HTTP view, which would
    read the body again) with the view's rules: a GET runs queries only, a mutation by
    GET is a 400 and runs nothing, an unknown operation name is a 400, a POST runs a
    mutation once, variables and the operation's name are honoured."""
    TOUCHED.clear()
    document = "query Who { whoami } mutation Touch { touch }"
    async with running_app(_app()) as http:
        by_get = await http.get("/graphql", params={"query": "mutation { touch }"}, auth=AS_DANA)
        assert by_get.status_code == 400
        assert by_get.text == "mutations are not allowed when using GET"
        assert TOUCHED == []
        unknown = await http.post(
            "/graphql", json={"query": document, "operationName": "Nope"}, auth=AS_DANA
        )
        assert unknown.status_code == 400
        assert unknown.text == 'Unknown operation named "Nope".'
        named = await http.post(
            "/graphql", json={"query": document, "operationName": "Who"}, auth=AS_DANA
        )
        assert named.json() == {"data": {"whoami": "dana@w7:rep"}}
        assert named.headers["content-type"] == "application/json"
        touched = await http.post(
            "/graphql", json={"query": document, "operationName": "Touch"}, auth=AS_DANA
        )
        assert touched.json() == {"data": {"touch": 1}} and TOUCHED == [1]
        conditional = "query($yes: Boolean!) { whoami @include(if: $yes) }"
        skipped = await http.post(
            "/graphql", json={"query": conditional, "variables": {"yes": False}}, auth=AS_DANA
        )
        assert skipped.json() == {"data": {}}
        refused = await http.post(
            "/graphql", json={"query": conditional, "variables": {"yes": "x"}}, auth=AS_DANA
        )
        assert refused.status_code == 200 and refused.json()["data"] is None
        assert "$yes" in refused.json()["errors"][0]["message"]


async def test_health_never_depends_and_readiness_survives_nats() -> None:
    async with running_app(_app()) as http:
        assert (await http.get("/health")).json() == {"status": "ok"}
        ready = await http.get("/ready")
    # NATS down, database up: writes still land (their events wait in the outbox).
    assert ready.status_code == 200
    assert ready.json() == {
        "ready": True,
        "status": "degraded",
        "checks": {"mongo": True, "nats": False},
    }


@pytest.mark.parametrize(
    ("checks", "status", "state"),
    [
        ({"mongo": True, "nats": True}, 200, "ready"),
        ({"mongo": True, "nats": False}, 200, "degraded"),
        ({"mongo": False, "nats": True}, 503, "unavailable"),
        ({"store": True}, 200, "ready"),
    ],
)
def test_readiness_report(checks: dict[str, bool], status: int, state: str) -> None:
    body, code = readiness_report(checks)
    assert (code, body["status"], body["ready"]) == (status, state, status == 200)
