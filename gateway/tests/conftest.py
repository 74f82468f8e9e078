"""In-process fake subgraphs for the gateway tests.

Each fake is a graphql-core schema built from the fixture SDL (the same SDL the real composer
turns into the test supergraph), answering `_entities` from plain dicts, and served through
httpx.MockTransport so no socket is opened. Every call is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from graphql import GraphQLSchema, build_schema, graphql

from crm_gateway.gateway import Gateway

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
REPO = HERE.parent.parent
COMPOSE = REPO / "gateway" / "compose" / "compose.mjs"
SUBGRAPH_NAMES = ("contacts", "deals", "tasks")

FEDERATION_PREAMBLE = """
directive @link(url: String!, import: [link__Import]) repeatable on SCHEMA
scalar link__Import
directive @key(fields: String!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE
directive @shareable repeatable on OBJECT | FIELD_DEFINITION
directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ENUM | ENUM_VALUE
  | SCALAR | INPUT_OBJECT | INPUT_FIELD_DEFINITION | ARGUMENT_DEFINITION
directive @provides(fields: String!) on FIELD_DEFINITION
directive @requires(fields: String!) on FIELD_DEFINITION
directive @external on FIELD_DEFINITION | OBJECT
directive @override(from: String!) on FIELD_DEFINITION
directive @interfaceObject on OBJECT
scalar _Any
type _Service { sdl: String }
"""


def compose(subgraphs: dict[str, tuple[str, Path]]) -> str:
    """Runs the real composer (Node); a missing node is a failure, never a skip."""
    node = shutil.which("node")
    assert node, "node is required to compose supergraphs (the build uses it too)"
    args = [node, str(COMPOSE), "--out", "-"]
    for name, (url, path) in subgraphs.items():
        args += ["--subgraph", f"{name}={url}={path}"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="session")
def supergraph_sdl() -> str:
    return compose(
        {n: (f"http://{n}.test/graphql", FIXTURES / f"{n}.graphql") for n in SUBGRAPH_NAMES}
    )


# --- fake data -------------------------------------------------------------------------


def _interactions(n: int) -> list[dict[str, str]]:
    return [{"kind": "email", "subject": f"mail {i}"} for i in range(n)]


CONTACTS = {
    "c1": {
        "id": "c1",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "company": {"id": "co1"},
        "all_interactions": _interactions(5),
        "secretNote": "hidden",
        "activities": [{"__typename": "Call", "id": "a1"}, {"__typename": "Note", "id": "a2"}],
    },
    "c2": {
        "id": "c2",
        "firstName": "Alan",
        "lastName": "Turing",
        "company": {"id": "co2"},
        "all_interactions": _interactions(1),
        "secretNote": "hidden",
        "activities": [],
    },
}
COMPANIES = {
    "co1": {"id": "co1", "domain": "acme.test", "name": "Acme"},
    "co2": {"id": "co2", "domain": "globex.test", "name": "Globex"},
}
ACTIVITIES = {
    "a1": {"__typename": "Call", "id": "a1", "subject": "Intro call", "minutes": 30},
    "a2": {"__typename": "Note", "id": "a2", "subject": "Notes", "body": "Likes tea"},
}
PEOPLE = [{"org": {"id": "o1"}, "login": "grace", "displayName": "Grace Hopper"}]
DEALS = {
    "d1": {
        "id": "d1",
        "title": "Big deal",
        "amount": 1000,
        "stage": "lead",
        "company": {"id": "co1"},
        "companyPreview": {"id": "co1", "name": "Acme (provided)"},
        "primaryContact": {"id": "c1"},
        "history": [{"dealId": "d1", "at": "2024-01-01", "toStage": "lead"}],
    },
    "d2": {
        "id": "d2",
        "title": "Small deal",
        "amount": 500,
        "stage": "won",
        "company": {"id": "co1"},
        "companyPreview": None,
        "primaryContact": {"id": "c2"},
        "history": [],
    },
    "d3": {
        "id": "d3",
        "title": "Ghost deal",
        "amount": 1,
        "stage": "won",
        "company": {"id": "nope"},
        "companyPreview": None,
        "primaryContact": {"id": "c1"},
        "history": [],
    },
}
TASKS = {
    "t1": {
        "id": "t1",
        "title": "Call Ada",
        "status": "OPEN",
        "dueAt": "2024-02-01",
        "assigneeId": "u1",
        "deal": {"id": "d1", "title": "Big deal"},
        "assignee": {"org": {"id": "o1"}, "login": "grace"},
    },
    "t2": {
        "id": "t2",
        "title": "Send offer",
        "status": "DONE",
        "dueAt": None,
        "assigneeId": "u2",
        "deal": {"id": "d1", "title": "Big deal"},
        "assignee": None,
    },
    "t3": {
        "id": "t3",
        "title": "Follow up",
        "status": "OPEN",
        "dueAt": "2024-03-01",
        "assigneeId": "u1",
        "deal": {"id": "d2", "title": "Small deal"},
        "assignee": None,
    },
}


def _contact(c: dict[str, Any]) -> dict[str, Any]:
    out = dict(c)
    out["interactions"] = lambda _info, first=3: c["all_interactions"][:first]
    out["activities"] = [ACTIVITIES[a["id"]] for a in c["activities"]]
    return out


def _amount_in(d: dict[str, Any]) -> Callable[..., int]:
    return lambda _info, currency: d["amount"] * (2 if currency == "EUR" else 1)


def _deal(d: dict[str, Any]) -> dict[str, Any]:
    out = dict(d)
    out["probability"] = 10  # overridden by tasks: the gateway must never use it
    out["amountIn"] = _amount_in(d)
    return out


def _column(name: str) -> dict[str, Any]:
    deals = [_deal(d) for d in DEALS.values() if d["stage"] == name and d["id"] != "d3"]
    return {"name": name, "total": sum(d["amount"] for d in deals), "deals": deals}


def _task_deal(rep: dict[str, Any]) -> dict[str, Any]:
    deal_id = rep["id"]
    base = DEALS.get(deal_id, {})
    return {
        "__typename": "Deal",
        "id": deal_id,
        "title": base.get("title"),
        "tasks": lambda _info, status=None: [
            t
            for t in TASKS.values()
            if t["deal"]["id"] == deal_id and status in (None, t["status"])
        ],
        # @requires: computed from what the gateway put into the representation.
        "riskScore": (rep["amountIn"] // 100) if "amountIn" in rep else None,
        "probability": 42,
    }


@dataclass
class Call:
    subgraph: str
    query: str
    variables: dict[str, Any]
    headers: dict[str, str]
    raw: bytes = b""


@dataclass
class FakeSubgraph:
    name: str
    schema: GraphQLSchema
    root: dict[str, Any]
    entities: dict[str, Callable[[dict[str, Any]], Any]]
    mutation: dict[str, Any] = field(default_factory=dict)
    down: bool = False
    delay: float = 0.0
    errors_for: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None


class World:
    """The three fake subgraphs and the log of what the gateway sent them."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.mutations: list[str] = []
        # Requests inside a subgraph's delay at once, and the most seen: fetches the
        # gateway sends concurrently overlap there.
        self.in_delay = 0
        self.most_in_delay = 0
        self.subgraphs = {
            "contacts": self._contacts(),
            "deals": self._deals(),
            "tasks": self._tasks(),
        }
        self.transport = httpx.MockTransport(self._handle)

    def _schema(self, name: str) -> GraphQLSchema:
        sdl = (FIXTURES / f"{name}.graphql").read_text()
        entity_types = [
            line.split()[1]
            for line in sdl.splitlines()
            if line.startswith("type ") and "@key" in line and "resolvable: false" not in line
        ]
        extra = f"union _Entity = {' | '.join(entity_types)}\n"
        extra += "extend type Query { _entities(representations: [_Any!]!): [_Entity]! "
        extra += "_service: _Service! }\n"
        return build_schema(FEDERATION_PREAMBLE + sdl + extra)

    def _contacts(self) -> FakeSubgraph:
        def search(_info: Any, term: str) -> list[dict[str, Any]]:
            hits: list[dict[str, Any]] = [
                {"__typename": "Contact", **_contact(c)}
                for c in CONTACTS.values()
                if term.lower() in c["lastName"].lower()
            ]
            hits += [
                {"__typename": "Company", **c}
                for c in COMPANIES.values()
                if term.lower() in c["name"].lower()
            ]
            return hits

        def company(rep: dict[str, Any]) -> Any:
            if "id" in rep:
                c = COMPANIES.get(rep["id"])
            else:
                c = next((x for x in COMPANIES.values() if x["domain"] == rep["domain"]), None)
            return None if c is None else {"__typename": "Company", **c}

        def activity(rep: dict[str, Any]) -> Any:
            return ACTIVITIES.get(rep["id"])

        def person(rep: dict[str, Any]) -> Any:
            for p in PEOPLE:
                if p["org"]["id"] == rep["org"]["id"] and p["login"] == rep["login"]:
                    return {"__typename": "Person", **p}
            return None

        return FakeSubgraph(
            "contacts",
            self._schema("contacts"),
            root={
                "contact": lambda _info, id: _contact(CONTACTS[id]) if id in CONTACTS else None,
                "contacts": [_contact(c) for c in CONTACTS.values()],
                "search": search,
                "people": PEOPLE,
            },
            entities={
                "Contact": lambda rep: (
                    {"__typename": "Contact", **_contact(CONTACTS[rep["id"]])}
                    if rep["id"] in CONTACTS
                    else None
                ),
                "Company": company,
                "Call": activity,
                "Note": activity,
                "Activity": activity,
                "Person": person,
            },
        )

    def _deals(self) -> FakeSubgraph:
        world = self

        def move(_info: Any, id: str, stage: str) -> Any:
            world.mutations.append(f"move:{id}:{stage}")
            return _deal({**DEALS[id], "stage": stage})

        def rename(_info: Any, id: str, title: str) -> Any:
            world.mutations.append(f"rename:{id}:{title}")
            return _deal({**DEALS[id], "title": title})

        def stage_change(rep: dict[str, Any]) -> Any:
            for d in DEALS.values():
                for h in d["history"]:
                    if h["dealId"] == rep["dealId"] and h["at"] == rep["at"]:
                        return {"__typename": "StageChange", **h}
            return None

        return FakeSubgraph(
            "deals",
            self._schema("deals"),
            root={
                "deals": [_deal(d) for d in DEALS.values()],
                "deal": lambda _info, id: _deal(DEALS[id]) if id in DEALS else None,
                "pipelineBoard": lambda _info, **_args: {
                    "columns": [_column("lead"), _column("won")]
                },
                "feed": [
                    {"__typename": "Deal", **_deal(DEALS["d1"])},
                    {"__typename": "StageChange", **DEALS["d1"]["history"][0]},
                ],
            },
            mutation={"moveDeal": move, "renameDeal": rename},
            entities={
                "Deal": lambda rep: (
                    {"__typename": "Deal", **_deal(DEALS[rep["id"]])}
                    if rep["id"] in DEALS
                    else None
                ),
                "Company": lambda rep: {"__typename": "Company", "id": rep["id"]},
                "StageChange": stage_change,
            },
        )

    def _tasks(self) -> FakeSubgraph:
        world = self

        def create(_info: Any, title: str) -> Any:
            world.mutations.append(f"create:{title}")
            return {
                "id": "t9",
                "title": title,
                "status": "OPEN",
                "dueAt": None,
                "assigneeId": None,
                "deal": None,
                "assignee": None,
            }

        return FakeSubgraph(
            "tasks",
            self._schema("tasks"),
            root={"tasks": list(TASKS.values())},
            mutation={"createTask": create},
            entities={
                "Task": lambda rep: {"__typename": "Task", **TASKS[rep["id"]]},
                "Deal": _task_deal,
                "Contact": lambda rep: {
                    "__typename": "Contact",
                    "id": rep["id"],
                    "openTaskCount": 2 if rep["id"] == "c1" else 0,
                },
                "StageChange": lambda rep: {
                    "__typename": "StageChange",
                    **rep,
                    "playbookTasks": [TASKS["t1"]],
                },
                "Activity": lambda rep: {
                    "__typename": "Activity",
                    "id": rep["id"],
                    "followUps": [TASKS["t3"]] if rep["id"] == "a1" else [],
                },
            },
        )

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        name = request.url.host.split(".")[0]
        sg = self.subgraphs[name]
        if request.url.path.endswith("/ready"):
            if sg.down:
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(200, content=b'{"ready": true}')
        body = orjson.loads(request.content)
        variables = body.get("variables") or {}
        self.calls.append(
            Call(name, body["query"], variables, dict(request.headers), request.content)
        )
        if sg.down:
            raise httpx.ConnectError("connection refused", request=request)
        if sg.delay:
            self.in_delay += 1
            self.most_in_delay = max(self.most_in_delay, self.in_delay)
            try:
                await asyncio.sleep(sg.delay)  # the fake is slow; the gateway's timeout decides
            finally:
                self.in_delay -= 1

        def resolve_entities(_root: Any, _info: Any, representations: list[dict]) -> list[Any]:
            out = []
            for rep in representations:
                resolver = sg.entities.get(rep["__typename"])
                out.append(resolver(rep) if resolver else None)
            return out

        root = {**sg.root, **sg.mutation}
        schema = sg.schema
        schema.query_type.fields["_entities"].resolve = resolve_entities  # type: ignore[union-attr]
        result = await graphql(
            schema,
            body["query"],
            root_value=root,
            variable_values=variables,
            type_resolver=lambda value, *_: value.get("__typename"),
        )
        out: dict[str, Any] = {"data": result.data}
        errors = [e.formatted for e in result.errors or ()]
        if sg.errors_for is not None:
            errors += sg.errors_for(variables)
        if errors:
            out["errors"] = errors
        return httpx.Response(200, content=orjson.dumps(out))

    def calls_to(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.subgraph == name]

    def entity_calls(self, name: str) -> list[Call]:
        return [c for c in self.calls_to(name) if "_entities" in c.query]


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
async def gateway(supergraph_sdl: str, world: World):
    gw = Gateway(supergraph_sdl, transport=world.transport)
    yield gw
    await gw.aclose()
