"""The subgraph schema's validation cache: each operation text validated once, an invalid
one answering its errors every time, different texts validated apart."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry

import crm_kit.graphql_schema as graphql_schema
from crm_kit.graphql_schema import subgraph_schema


@strawberry.type
class Query:
    @strawberry.field
    def greeting(self, name: str) -> str:
        return f"hello {name}"


@strawberry.type
class Mutation:
    @strawberry.mutation
    def noop(self) -> bool:
        return True


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The documents validated, by their first field's name."""
    seen: list[str] = []
    real = graphql_schema.validate_document

    def counting(schema: Any, document: Any, rules: Any) -> Any:
        seen.append(document.definitions[0].selection_set.selections[0].name.value)
        return real(schema, document, rules)

    monkeypatch.setattr(graphql_schema, "validate_document", counting)
    return seen


async def test_the_same_text_is_validated_once(validations: list[str]) -> None:
    schema = subgraph_schema(query=Query, mutation=Mutation, types=[])
    for _ in range(3):
        result = await schema.execute('{ greeting(name: "a") }')
        assert result.errors is None and result.data == {"greeting": "hello a"}
    await schema.execute('{ greeting(name: "b") }')
    assert validations == ["greeting", "greeting"]


async def test_an_invalid_text_answers_its_errors_every_time(validations: list[str]) -> None:
    schema = subgraph_schema(query=Query, mutation=Mutation, types=[])
    for _ in range(2):
        result = await schema.execute("{ nothing }")
        assert result.errors and "nothing" in result.errors[0].message
    assert validations == ["nothing"]


async def test_the_cache_is_bounded(validations: list[str]) -> None:
    cache = graphql_schema.TextValidationCache(maxsize=2)
    schema = strawberry.federation.Schema(query=Query, extensions=[cache])  # type: ignore[list-item]
    for name in ("a", "b", "c", "a"):
        await schema.execute(f'{{ greeting(name: "{name}") }}')
    assert len(validations) == 4  # "a" had been evicted by "c"
    assert len(cache._results) == 2
