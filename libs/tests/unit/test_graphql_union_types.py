"""A union's values completed as the object type their Python class resolves to
(`crm_kit.graphql_rows.PlainRows.complete_abstract_value`): Strawberry's union resolver
asked once per union and class, then not again; the same answers and errors as
Strawberry's own execution for mixed members, `_entities`, a value cast with
`strawberry.cast` to another member, and a value of a class outside the union."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
import strawberry
from graphql import GraphQLUnionType
from strawberry.types.graphql import OperationType

import crm_kit.graphql_rows as graphql_rows
from crm_kit.graphql_prepared import PreparedOperations
from crm_kit.graphql_schema import subgraph_schema

QUERIES = {OperationType.QUERY}


@strawberry.type
class Cat:
    name: str
    lives: int


@strawberry.type
class Dog:
    name: str
    good: bool


@strawberry.type
class Robot:
    name: str


@strawberry.federation.type(keys=["id"])
class Deal:
    id: strawberry.ID
    title: str

    @classmethod
    async def resolve_references(cls, info: Any, ids: list[strawberry.ID]) -> list[Deal]:
        return [cls(id=i, title=f"deal {i}") for i in ids]


Pet = Annotated[Cat | Dog, strawberry.union("Pet")]


def _pets() -> list[Any]:
    return [Cat(name="Tom", lives=9), Dog(name="Rex", good=True), Cat(name="Kit", lives=3)]


@strawberry.type
class Query:
    @strawberry.field
    def pets(self) -> list[Pet]:
        return _pets()

    @strawberry.field
    def cast_pet(self) -> Pet:
        # A Cat object answered as a Dog: the cast decides, per value.
        return strawberry.cast(Dog, Cat(name="Odd", lives=1))  # type: ignore[return-value]

    @strawberry.field
    def wrong_pet(self) -> Pet:
        return Robot(name="R2")  # type: ignore[return-value]


@strawberry.type
class Mutation:
    @strawberry.mutation
    def noop(self) -> bool:
        return True


PETS = "{ pets { __typename ... on Cat { name lives } ... on Dog { name good } } }"
CAST = "{ castPet { __typename ... on Dog { name } ... on Cat { lives } } }"
WRONG = "{ wrongPet { __typename ... on Cat { name } } }"
ENTITIES = """query($reps: [_Any!]!) { _entities(representations: $reps) {
  __typename ... on Deal { id title } } }"""


def _schema() -> Any:
    return subgraph_schema(query=Query, mutation=Mutation, types=[Deal, Robot])


async def both(query: str, variables: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """The answer through the prepared path (our executor) and through Strawberry's."""
    schema = _schema()
    prepared = PreparedOperations(schema)
    document = prepared.prepared_for(query, None, QUERIES)
    assert document is not None
    fast = await prepared.execute(
        document, variables=variables, context=None, operation_name=None, operation_extensions=None
    )
    slow = await schema.execute(query, variable_values=variables)
    return fast, slow


def _resolver_counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call of a union's resolver (Strawberry's), by the union's name."""
    seen: list[str] = []
    original = GraphQLUnionType.__init__

    def counting_init(self: GraphQLUnionType, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        resolve = self.resolve_type
        if resolve is not None:

            def counted(value: Any, info: Any, union: Any) -> Any:
                seen.append(self.name)
                return resolve(value, info, union)

            self.resolve_type = counted

    monkeypatch.setattr(GraphQLUnionType, "__init__", counting_init)
    return seen


async def test_mixed_members_answer_as_strawberry_does_and_resolve_once_per_class(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = _resolver_counting(monkeypatch)
    schema = _schema()
    prepared = PreparedOperations(schema)
    document = prepared.prepared_for(PETS, None, QUERIES)
    assert document is not None
    answers = []
    for _ in range(3):
        result = await prepared.execute(
            document, variables=None, context=None, operation_name=None, operation_extensions=None
        )
        answers.append((result.data, result.errors))
    assert answers[0] == (
        {
            "pets": [
                {"__typename": "Cat", "name": "Tom", "lives": 9},
                {"__typename": "Dog", "name": "Rex", "good": True},
                {"__typename": "Cat", "name": "Kit", "lives": 3},
            ]
        },
        None,
    )
    assert answers[1] == answers[0] and answers[2] == answers[0]
    # Once per class (Cat, Dog) for the life of the schema: 9 values, 2 resolutions.
    assert seen == ["Pet", "Pet"]
    slow = await schema.execute(PETS)
    assert (slow.data, slow.errors) == answers[0]


async def test_a_cast_value_answers_as_the_type_it_is_cast_to() -> None:
    # The Cat class is learned first (a plain Cat), then a Cat cast to Dog comes.
    fast, slow = await both(PETS)
    assert fast.data == slow.data
    fast, slow = await both(CAST)
    assert fast.errors is None and slow.errors is None
    assert fast.data == slow.data == {"castPet": {"__typename": "Dog", "name": "Odd"}}


async def test_a_value_outside_the_union_is_the_same_error_as_before() -> None:
    fast, slow = await both(WRONG)
    assert fast.data == slow.data  # null, up to the query (the field is non-null)
    assert fast.errors is not None and slow.errors is not None
    assert [e.message for e in fast.errors] == [e.message for e in slow.errors]
    assert [e.path for e in fast.errors] == [["wrongPet"]]
    assert not any(key[1] is Robot for key in graphql_rows._RUNTIME_TYPES)


async def test_entities_resolve_their_type_once_per_class(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _resolver_counting(monkeypatch)
    reps = [{"__typename": "Deal", "id": str(n)} for n in range(20)]
    fast, slow = await both(ENTITIES, {"reps": reps})
    assert fast.errors is None
    assert fast.data == slow.data
    assert fast.data["_entities"][3] == {"__typename": "Deal", "id": "3", "title": "deal 3"}
    # Our executor: once; Strawberry's own execution: once per representation.
    assert seen.count("_Entity") == 1 + 20


def test_only_plain_strawberry_classes_are_kept() -> None:
    """A class that is not a Strawberry type, a cast value: never asked nor kept."""

    class NotStrawberry:
        name = "x"

    def never(*_: Any) -> str:
        raise AssertionError("not asked")

    union = GraphQLUnionType("Probe", types=[], resolve_type=never)
    info: Any = None
    assert graphql_rows._learn_runtime_type(union, NotStrawberry(), info) is None
    cast = strawberry.cast(Dog, Cat(name="c", lives=1))
    assert graphql_rows._learn_runtime_type(union, cast, info) is None
    assert not any(key[0] is union for key in graphql_rows._RUNTIME_TYPES)
