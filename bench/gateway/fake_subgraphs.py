"""Small, cheap federation subgraphs for the gateway benchmark (`--fake-subgraphs`).

Three subgraphs (contacts, deals, tasks) with the field names of the real services, served
from memory by graphql-core behind a bare ASGI app: every gateway under test talks to the same
processes, and the subgraphs spend as little CPU as possible so the gateways are what differs.

    python bench/gateway/fake_subgraphs.py --ports 4101,4102,4103
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from graphql import (
    DocumentNode,
    GraphQLSchema,
    build_schema,
    execute,
    parse,
    validate,
)

SDL_DIR = Path(__file__).parent / "fake_sdl"
NAMES = ("contacts", "deals", "tasks")

FEDERATION = """
directive @link(url: String!, import: [link__Import]) repeatable on SCHEMA
scalar link__Import
directive @key(fields: String!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE
scalar _Any
type _Service { sdl: String }
"""

STAGES = ["Lead", "Qualified", "Proposal", "Negotiation", "Won"]
N_DEALS, N_COMPANIES, N_CONTACTS = 60, 40, 100


def _data() -> dict[str, dict[str, dict[str, Any]]]:
    companies = {f"co{i}": {"id": f"co{i}", "name": f"Company {i}"} for i in range(N_COMPANIES)}
    contacts = {
        f"c{i}": {
            "id": f"c{i}",
            "firstName": f"First{i}",
            "lastName": f"Last{i}",
            "_interactions": [
                {
                    "id": f"i{i}-{j}",
                    "kind": ("email", "call", "meeting")[j % 3],
                    "subject": f"Subject {j} for contact {i}",
                }
                for j in range(6)
            ],
        }
        for i in range(N_CONTACTS)
    }
    deals = {
        f"d{i}": {
            "id": f"d{i}",
            "title": f"Deal {i}",
            "amount": f"{1000 + i * 17}.00",
            "stage": STAGES[i % len(STAGES)],
            "company": {"id": f"co{i % N_COMPANIES}"},
            "primaryContact": {"id": f"c{(i * 7) % N_CONTACTS}"},
        }
        for i in range(N_DEALS)
    }
    tasks = {
        f"t{i}-{j}": {
            "id": f"t{i}-{j}",
            "title": f"Task {j} of deal {i}",
            "status": "DONE" if j == 2 else "OPEN",
            "dueAt": f"2025-0{1 + j}-1{i % 10}T09:00:00Z",
            "assigneeId": f"u{(i + j) % 7}",
            "_deal": f"d{i}",
        }
        for i in range(N_DEALS)
        for j in range(3)
    }
    return {"companies": companies, "contacts": contacts, "deals": deals, "tasks": tasks}


DATA = _data()
TASKS_BY_DEAL: dict[str, list[dict[str, Any]]] = {}
for _t in DATA["tasks"].values():
    TASKS_BY_DEAL.setdefault(_t["_deal"], []).append(_t)


def _connection(items: list[dict[str, Any]], first: int | None) -> dict[str, Any]:
    chosen = items if first is None else items[:first]
    return {"edges": [{"cursor": it["id"], "node": it} for it in chosen]}


def _contact(c: dict[str, Any]) -> dict[str, Any]:
    return {
        **c,
        "__typename": "Contact",
        "interactions": lambda _info, first=None, after=None: _connection(
            c["_interactions"], first
        ),
    }


def _deal(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "__typename": "Deal"}


def _column(stage: str) -> dict[str, Any]:
    deals = [_deal(d) for d in DATA["deals"].values() if d["stage"] == stage]
    return {
        "stage": {"key": stage.lower(), "name": stage},
        "count": len(deals),
        "totalAmount": f"{sum(float(d['amount']) for d in deals):.2f}",
        "deals": lambda _info, first=None, after=None: _connection(deals, first),
    }


def _entities(name: str) -> dict[str, Any]:
    if name == "contacts":
        return {
            "Contact": lambda r: (
                _contact(DATA["contacts"][r["id"]]) if r["id"] in DATA["contacts"] else None
            ),
            "Company": lambda r: (
                {"__typename": "Company", **DATA["companies"][r["id"]]}
                if r["id"] in DATA["companies"]
                else None
            ),
        }
    if name == "deals":
        return {
            "Deal": lambda r: _deal(DATA["deals"][r["id"]]) if r["id"] in DATA["deals"] else None
        }
    return {
        "Task": lambda r: DATA["tasks"].get(r["id"]),
        "Deal": lambda r: {
            "__typename": "Deal",
            "id": r["id"],
            "tasks": lambda _info, status=None: [
                t for t in TASKS_BY_DEAL.get(r["id"], []) if status in (None, t["status"])
            ],
        },
    }


def _root(name: str) -> dict[str, Any]:
    if name == "contacts":
        return {
            "contact": lambda _i, id: (
                _contact(DATA["contacts"][id]) if id in DATA["contacts"] else None
            )
        }
    if name == "deals":
        return {
            "pipelineBoard": lambda _i, **_args: {
                "currency": "EUR",
                "columns": [_column(s) for s in STAGES],
            },
            "deal": lambda _i, id: _deal(DATA["deals"][id]) if id in DATA["deals"] else None,
        }
    return {"task": lambda _i, id: DATA["tasks"].get(id)}


class FakeSubgraph:
    """A bare ASGI app: POST /graphql with a JSON body, nothing else."""

    def __init__(self, name: str) -> None:
        sdl = (SDL_DIR / f"{name}.graphql").read_text()
        entity_types = [
            line.split()[1]
            for line in sdl.splitlines()
            if line.startswith("type ") and "@key" in line and "resolvable: false" not in line
        ]
        extra = f"union _Entity = {' | '.join(entity_types)}\n"
        extra += "extend type Query { _entities(representations: [_Any!]!): [_Entity]! "
        extra += "_service: _Service! }\n"
        self.sdl = sdl
        self.schema: GraphQLSchema = build_schema(FEDERATION + sdl + extra)
        resolvers = _entities(name)

        def resolve_entities(_root: Any, _info: Any, representations: list[dict]) -> list[Any]:
            return [
                resolvers[r["__typename"]](r) if r.get("__typename") in resolvers else None
                for r in representations
            ]

        self.schema.query_type.fields["_entities"].resolve = resolve_entities  # type: ignore[union-attr]
        self.root = {**_root(name), "_service": {"sdl": sdl}}
        self.documents: dict[str, DocumentNode | list[dict[str, Any]]] = {}

    def run(self, body: dict[str, Any]) -> dict[str, Any]:
        query = body.get("query") or ""
        doc = self.documents.get(query)
        if doc is None:
            parsed = parse(query)
            errors = validate(self.schema, parsed)
            doc = [e.formatted for e in errors] if errors else parsed
            self.documents[query] = doc
        if isinstance(doc, list):
            return {"errors": doc}
        result = execute(
            self.schema,
            doc,
            root_value=self.root,
            variable_values=body.get("variables") or {},
            operation_name=body.get("operationName"),
            type_resolver=lambda value, *_: value.get("__typename"),
        )
        out: dict[str, Any] = {"data": result.data}  # type: ignore[union-attr]
        if result.errors:  # type: ignore[union-attr]
            out["errors"] = [e.formatted for e in result.errors]  # type: ignore[union-attr]
        return out

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        chunks = []
        more = True
        while more:
            msg = await receive()
            chunks.append(msg.get("body", b""))
            more = msg.get("more_body", False)
        raw = b"".join(chunks)
        try:
            payload = self.run(orjson.loads(raw)) if raw else {"data": {"__typename": "Query"}}
        except Exception as exc:  # noqa: BLE001 (a broken request must not kill the run)
            payload = {"errors": [{"message": str(exc)}]}
        content = orjson.dumps(payload)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(content)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})


async def serve(ports: list[int]) -> None:
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                FakeSubgraph(name),
                host="127.0.0.1",
                port=port,
                log_level="warning",
                access_log=False,
                lifespan="on",
            )
        )
        for name, port in zip(NAMES, ports, strict=True)
    ]
    await asyncio.gather(*(s.serve() for s in servers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ports", default="4101,4102,4103")
    args = parser.parse_args()
    asyncio.run(serve([int(p) for p in args.ports.split(",")]))


if __name__ == "__main__":
    main()
