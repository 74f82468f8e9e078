"""`_entities` with types that resolve many references at once (`resolve_references`):
one call per type per fetch, each answer at its representation's index, the same answers
as one `resolve_reference` each; other types and other representations (more keys than
`id`, unknown ones) as Strawberry resolves them; a failing batch an error at each of its
indexes only."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from strawberry.types import Info

import crm_kit.graphql_schema as graphql_schema
from crm_kit.graphql_schema import subgraph_schema

KNOWN = {"a1": "Acme", "b2": "Bolt", "c3": "Cork"}
calls: list[tuple[str, list[str]]] = []


@strawberry.federation.type(keys=["id"])
class Company:
    id: strawberry.ID
    name: str

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Company | None:
        calls.append(("one", [str(id)]))
        return cls(id=id, name=KNOWN[id]) if id in KNOWN else None

    @classmethod
    async def resolve_references(cls, info: Info, ids: list[strawberry.ID]) -> list[Company | None]:
        calls.append(("batch", [str(i) for i in ids]))
        if "boom" in ids:
            raise RuntimeError("store down")
        return [cls(id=i, name=KNOWN[i]) if i in KNOWN else None for i in ids]


@strawberry.federation.type(keys=["id"])
class Person:
    id: strawberry.ID

    @strawberry.field
    def label(self) -> str:
        return f"person {self.id}"

    @classmethod
    async def resolve_reference(cls, id: strawberry.ID) -> Person:
        calls.append(("person", [str(id)]))
        return cls(id=id)


@strawberry.type
class Query:
    @strawberry.field
    def ping(self) -> str:
        return "pong"


@strawberry.type
class Mutation:
    @strawberry.mutation
    def noop(self) -> bool:
        return True


ENTITIES = """query($reps: [_Any!]!) { _entities(representations: $reps) {
  ... on Company { id name } ... on Person { id label } } }"""


async def entities(reps: list[dict[str, Any]]) -> Any:
    schema = subgraph_schema(query=Query, mutation=Mutation, types=[Company, Person])
    calls.clear()
    return await schema.execute(ENTITIES, variable_values={"reps": reps})


def company(i: str) -> dict[str, str]:
    return {"__typename": "Company", "id": i}


def person(i: str) -> dict[str, str]:
    return {"__typename": "Person", "id": i}


async def test_one_call_per_type_answers_in_order() -> None:
    result = await entities([company("b2"), person("p1"), company("zz"), company("a1")])
    assert result.errors is None
    assert result.data == {
        "_entities": [
            {"id": "b2", "name": "Bolt"},
            {"id": "p1", "label": "person p1"},
            None,
            {"id": "a1", "name": "Acme"},
        ]
    }
    assert ("batch", ["b2", "zz", "a1"]) in calls
    assert [c for c in calls if c[0] == "batch"] == [("batch", ["b2", "zz", "a1"])]
    assert ("person", ["p1"]) in calls and not [c for c in calls if c[0] == "one"]


async def test_the_batch_answers_what_one_by_one_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reps = [company(i) for i in ("c3", "a1", "nope", "b2")]
    batched = await entities(reps)
    monkeypatch.setattr(graphql_schema, "BATCH_RESOLVER", "no_such_method")
    one_by_one = await entities(reps)
    assert [c[0] for c in calls] == ["one"] * 4
    assert batched.data == one_by_one.data and batched.errors is None


async def test_other_representations_go_one_by_one() -> None:
    result = await entities([company("a1"), {**company("b2"), "name": "Bolt"}])
    assert result.errors is not None  # resolve_reference takes no `name`: Strawberry's error
    assert result.data == {"_entities": [{"id": "a1", "name": "Acme"}, None]}
    assert calls == [("batch", ["a1"])]


async def test_a_failing_batch_fails_its_own_indexes_only() -> None:
    result = await entities([person("p1"), company("boom"), company("a1")])
    assert result.data == {"_entities": [{"id": "p1", "label": "person p1"}, None, None]}
    assert result.errors is not None
    assert sorted(error.path for error in result.errors) == [
        ["_entities", 1],
        ["_entities", 2],
    ]
    assert all("store down" in error.message for error in result.errors)


async def test_an_unknown_type_is_refused_as_before() -> None:
    result = await entities([company("a1"), {"__typename": "Nope", "id": "x"}])
    assert result.errors is not None and result.data is None
