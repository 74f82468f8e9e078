"""Two small federation subgraphs for the realtime benchmark (`--fakes`): deals, whose
`dealChanged` subscription is served as GraphQL over SSE (distinct connections: the default
subgraph protocol of Hive Gateway and of this platform's gateway), and contacts, which
resolves `Company` entities. Every gateway under test talks to the same processes; a POST
to `/move` on deals sends one change to every open subscription.

    python bench/realtime/fake_live.py --ports 4201,4202
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
import uvicorn
from graphql import build_schema, execute, parse, subscribe

SDL_DIR = Path(__file__).parent / "fake_sdl"
FEDERATION = """
directive @link(url: String!, import: [link__Import]) repeatable on SCHEMA
scalar link__Import
directive @key(fields: String!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE
scalar _Any
type _Service { sdl: String }
"""


def _schema(name: str, entity: bool) -> Any:
    sdl = (SDL_DIR / f"{name}.graphql").read_text()
    entities = "_entities(representations: [_Any!]!): [_Entity]!" if entity else ""
    extra = ("union _Entity = Company\n" if entity else "") + (
        f"extend type Query {{ _service: _Service! {entities} }}\n"
    )
    return build_schema(FEDERATION + sdl + extra)


class Deals:
    def __init__(self) -> None:
        self.schema = _schema("deals", False)
        self.queues: set[asyncio.Queue[dict[str, Any]]] = set()
        self.moves = 0

    async def changes(self, *_: Any, **__: Any) -> Any:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.queues.add(queue)
        try:
            while True:
                yield {"dealChanged": await queue.get()}
        finally:
            self.queues.discard(queue)

    def move(self) -> int:
        self.moves += 1
        n = self.moves
        change = {
            "kind": "MOVED",
            "dealId": f"d{n}",
            "deal": {
                "id": f"d{n}",
                "title": f"Deal {n}",
                "stage": "won",
                "company": {"id": f"co{n % 40}"},
            },
        }
        for queue in self.queues:
            queue.put_nowait(change)
        return len(self.queues)


async def _body(receive: Any) -> bytes:
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


async def _json(send: Any, payload: Any) -> None:
    body = orjson.dumps(payload)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def deals_app(deals: Deals) -> Any:
    root = {"dealChanged": deals.changes}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await _body(receive)
        if scope["path"] == "/move":
            await _json(send, {"subscribers": deals.move()})
            return
        request = _request(scope, body)
        document = parse(request.get("query", "{ __typename }"))
        if b"text/event-stream" not in dict(scope["headers"]).get(b"accept", b""):
            result = await _maybe(
                execute(deals.schema, document, variable_values=request.get("variables"))
            )
            await _json(send, {"data": result.data})
            return
        stream = subscribe(
            deals.schema, document, root_value=root, variable_values=request.get("variables")
        )
        if inspect.isawaitable(stream):
            stream = await stream
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b": open\n\n", "more_body": True})

        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        gone = asyncio.ensure_future(disconnected())
        try:
            while True:
                nxt = asyncio.ensure_future(stream.__anext__())
                done, _ = await asyncio.wait({nxt, gone}, return_when="FIRST_COMPLETED")
                if gone in done:
                    nxt.cancel()
                    return
                result = nxt.result()
                payload = {"data": result.data}
                await send(
                    {
                        "type": "http.response.body",
                        "body": b"event: next\ndata: " + orjson.dumps(payload) + b"\n\n",
                        "more_body": True,
                    }
                )
        finally:
            gone.cancel()
            await stream.aclose()

    return app


def _request(scope: Any, body: bytes) -> dict[str, Any]:
    """A POST's JSON body, or a GET's query string (Hive Gateway subscribes with GET)."""
    if body:
        found: dict[str, Any] = orjson.loads(body)
        return found
    params = dict(parse_qsl(scope.get("query_string", b"").decode()))
    if "variables" in params:
        params["variables"] = orjson.loads(params["variables"])
    return params


async def _maybe(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) else value


def contacts_app() -> Any:
    schema = _schema("contacts", True)

    def entities(_: Any, __: Any, representations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {"__typename": "Company", "id": r["id"], "name": f"Company {r['id']}"}
            for r in representations
        ]

    schema.query_type.fields["_entities"].resolve = entities
    schema.type_map["_Entity"].resolve_type = lambda value, *_: value["__typename"]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = _request(scope, await _body(receive))
        result = await _maybe(
            execute(
                schema,
                parse(request.get("query", "{ __typename }")),
                variable_values=request.get("variables"),
            )
        )
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [{"message": e.message} for e in result.errors]
        await _json(send, payload)

    return app


async def main(ports: list[int]) -> None:
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                contacts_app(), host="127.0.0.1", port=ports[0], log_level="warning", lifespan="off"
            )
        ),
        uvicorn.Server(
            uvicorn.Config(
                deals_app(Deals()),
                host="127.0.0.1",
                port=ports[1],
                log_level="warning",
                lifespan="off",
            )
        ),
    ]
    await asyncio.gather(*(s.serve() for s in servers))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--ports", default="4201,4202", help="contacts,deals")
    asyncio.run(main([int(p) for p in parser.parse_args().ports.split(",")]))
