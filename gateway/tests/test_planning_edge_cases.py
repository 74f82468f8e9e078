"""Planning cases at the edges of federation, each over two small subgraphs of its own.

These pin behaviours the federation gateway audit checks: a field required with different
arguments, an interface field no subgraph can reach, and union members under a shareable
path. The subgraphs are graphql-core schemas answering from dicts, composed by the real
composer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from graphql import GraphQLSchema, build_schema, graphql

from crm_gateway.gateway import Gateway, GatewayRequest
from crm_gateway.plan import iter_fetches

from .conftest import FEDERATION_PREAMBLE, compose

Resolver = Callable[[dict[str, Any]], Any]


class MiniGraph:
    """Subgraphs from SDL strings, served in-process; every query sent is recorded."""

    def __init__(self, tmp_path: Path, subgraphs: dict[str, tuple[str, dict[str, Any]]]) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.schemas: dict[str, GraphQLSchema] = {}
        self.roots: dict[str, dict[str, Any]] = {}
        self.entities: dict[str, dict[str, Resolver]] = {}
        paths = {}
        for name, (sdl, resolvers) in subgraphs.items():
            path = tmp_path / f"{name}.graphql"
            path.write_text(sdl)
            paths[name] = (f"http://{name}.test/graphql", path)
            self.schemas[name] = _schema(sdl)
            self.roots[name] = resolvers.get("Query", {})
            self.entities[name] = resolvers.get("entities", {})
        self.supergraph = compose(paths)

    def gateway(self) -> Gateway:
        return Gateway(self.supergraph, transport=httpx.MockTransport(self._handle))

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        name = request.url.host.split(".")[0]
        body = orjson.loads(request.content)
        variables = body.get("variables") or {}
        self.sent.append((name, body["query"], variables))
        entities = self.entities[name]

        def resolve_entities(_root: Any, _info: Any, representations: list[dict]) -> list[Any]:
            return [entities[r["__typename"]](r) for r in representations]

        schema = self.schemas[name]
        schema.query_type.fields["_entities"].resolve = resolve_entities  # type: ignore[union-attr]
        result = await graphql(
            schema,
            body["query"],
            root_value=self.roots[name],
            variable_values=variables,
            type_resolver=lambda value, *_: value.get("__typename"),
        )
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [e.formatted for e in result.errors]
        return httpx.Response(200, content=orjson.dumps(out))


def _schema(sdl: str) -> GraphQLSchema:
    """The subgraph's schema plus the federation fields it serves (`_entities`)."""
    entity_types = [
        line.split()[1]
        for line in sdl.splitlines()
        if line.startswith("type ") and "@key" in line and "resolvable: false" not in line
    ] or ["_NoEntity"]  # a union needs a member even where no entity is resolvable
    extra = f"union _Entity = {' | '.join(entity_types)}\ntype _NoEntity {{ _: Boolean }}\n"
    query = "extend type Query" if "type Query" in sdl else "type Query"
    extra += f"{query} {{ _entities(representations: [_Any!]!): [_Entity]! _service: _Service! }}"
    return build_schema(FEDERATION_PREAMBLE + sdl + extra)


async def run(gw: Gateway, query: str) -> dict[str, Any]:
    return (await gw.execute(GatewayRequest(query=query))).body


LINK = """extend schema
  @link(url: "https://specs.apollo.dev/federation/v2.3", import: [{imports}])
"""

# --- one field required with two different arguments ---------------------------------

DEALS_SDL = (
    LINK.replace("{imports}", '"@key"')
    + """
type Query {
  deals: [Deal!]!
}

type Deal @key(fields: "id") {
  id: ID!
  amountIn(currency: String!): Int!
}
"""
)

FORECAST_SDL = (
    LINK.replace("{imports}", '"@key", "@external", "@requires"')
    + """
type Deal @key(fields: "id") {
  id: ID!
  amountIn(currency: String!): Int! @external
  weightedUsd: Int! @requires(fields: "amountIn(currency: \\"USD\\")")
  weightedEur: Int! @requires(fields: "amountIn(currency: \\"EUR\\")")
}
"""
)


def _amount_in(base: int) -> Callable[..., int]:
    return lambda _info, currency: base * (2 if currency == "EUR" else 1)


def _weighted(rep: dict[str, Any]) -> dict[str, Any]:
    # The forecast subgraph sees one `amountIn` per representation: whichever currency the
    # gateway put there. It halves it for both fields, so a wrong currency shows.
    return {
        "__typename": "Deal",
        "id": rep["id"],
        "weightedUsd": rep["amountIn"] // 2,
        "weightedEur": rep["amountIn"] // 2,
    }


async def test_a_field_required_with_different_arguments_gets_separate_fetches(
    tmp_path: Path,
) -> None:
    world = MiniGraph(
        tmp_path,
        {
            "deals": (
                DEALS_SDL,
                {"Query": {"deals": [{"id": "d1", "amountIn": _amount_in(100)}]}},
            ),
            "forecast": (FORECAST_SDL, {"entities": {"Deal": _weighted}}),
        },
    )
    gw = world.gateway()
    body = await run(gw, "{ deals { id weightedUsd weightedEur } }")
    await gw.aclose()
    assert body == {"data": {"deals": [{"id": "d1", "weightedUsd": 50, "weightedEur": 100}]}}
    forecast = [(q, v) for name, q, v in world.sent if name == "forecast"]
    assert len(forecast) == 2  # one per currency, never one representation for both
    amounts = sorted(v["representations"][0]["amountIn"] for _, v in forecast)
    assert amounts == [100, 200]


# --- an interface field that no subgraph can serve from where the interface is --------

CATALOG_SDL = (
    LINK.replace("{imports}", '"@key"')
    + """
type Query {
  featured: Listing
}

interface Listing @key(fields: "id") {
  id: ID!
}
"""
)

REVIEWS_SDL = (
    LINK.replace("{imports}", '"@key", "@interfaceObject"')
    + """
type Listing @key(fields: "id", resolvable: false) @interfaceObject {
  id: ID!
  rating: Int
}

type Query {
  topRated: Listing
}
"""
)


async def test_an_unreachable_interface_field_fails_planning_instead_of_vanishing(
    tmp_path: Path,
) -> None:
    world = MiniGraph(
        tmp_path,
        {
            "catalog": (CATALOG_SDL, {"Query": {"featured": None}}),
            "reviews": (REVIEWS_SDL, {"Query": {"topRated": None}}),
        },
    )
    gw = world.gateway()
    body = await run(gw, "{ featured { rating } }")
    await gw.aclose()
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "QUERY_PLANNING_FAILED"
    assert "Listing.rating" in body["errors"][0]["message"]
    assert world.sent == []  # refused before any subgraph call


# --- union members below a shareable path ---------------------------------------------


def _board_sdl(only: str, extra_root: str, extra_field: str) -> str:
    return (
        LINK.replace("{imports}", '"@key", "@shareable"')
        + f"""
type Query {{
  {extra_root}: Board
}}

type Board @key(fields: "id") {{
  id: ID!
  lane: Lane @shareable
  {extra_field}
}}

type Lane @shareable {{
  cards: [Card!]! @shareable
}}

union Card = Note | {only}

type Note @shareable {{
  text: String
}}

type {only} {{
  detail: String
}}
"""
    )


CARDS_QUERY = """{ %s { %s { cards { __typename
  ... on Note { text } ... on OnlyHere { detail } ... on OnlyThere { detail } } } } }"""


def _cards_world(tmp_path: Path) -> MiniGraph:
    here_cards = [
        {"__typename": "Note", "text": "hi"},
        {"__typename": "OnlyHere", "detail": "here"},
    ]
    there_cards = [{"__typename": "OnlyThere", "detail": "there"}]
    return MiniGraph(
        tmp_path,
        {
            "here": (
                _board_sdl("OnlyHere", "hereBoard", ""),
                {"Query": {"hereBoard": {"id": "b1", "lane": {"cards": here_cards}}}},
            ),
            "there": (
                _board_sdl("OnlyThere", "thereBoard", "ownLane: Lane"),
                {
                    "entities": {
                        "Board": lambda r: {
                            "__typename": "Board",
                            "id": r["id"],
                            "ownLane": {"cards": there_cards},
                        }
                    }
                },
            ),
        },
    )


async def test_a_union_below_a_shareable_path_selects_only_common_members(
    tmp_path: Path,
) -> None:
    world = _cards_world(tmp_path)
    gw = world.gateway()
    body = await run(gw, CARDS_QUERY % ("hereBoard", "lane"))
    plan = gw.plan_for(CARDS_QUERY % ("hereBoard", "lane"), None)
    await gw.aclose()
    # `lane` could as well come from `there` (same key, same shareable fields), which
    # knows no `OnlyHere`: only `Note` is common, so only `Note` is selected.
    operation = iter_fetches(plan.node)[0].operation
    assert "Note" in operation and "OnlyHere" not in operation
    assert body == {
        "data": {
            "hereBoard": {
                "lane": {
                    "cards": [
                        {"__typename": "Note", "text": "hi"},
                        {"__typename": "OnlyHere", "detail": None},
                    ]
                }
            }
        }
    }


async def test_a_union_reached_by_an_entity_hop_uses_that_subgraphs_members(
    tmp_path: Path,
) -> None:
    world = _cards_world(tmp_path)
    gw = world.gateway()
    body = await run(gw, CARDS_QUERY % ("hereBoard", "ownLane"))
    await gw.aclose()
    assert body == {
        "data": {
            "hereBoard": {"ownLane": {"cards": [{"__typename": "OnlyThere", "detail": "there"}]}}
        }
    }
