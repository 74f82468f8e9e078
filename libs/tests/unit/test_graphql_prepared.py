"""Prepared operations (`crm_kit.graphql_prepared`) and plain objects completed in one pass
(`crm_kit.graphql_rows`): the same answers and errors as Strawberry's `Schema.execute`,
never a document that does not validate against this very schema, and everything they do
not take left to Strawberry."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import strawberry
from graphql import ExecutionResult
from graphql.execution.executor import Executor
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

import crm_kit.graphql_prepared as graphql_prepared
from crm_kit.graphql_prepared import PreparedOperations
from crm_kit.graphql_rows import row_value
from crm_kit.graphql_schema import subgraph_schema

QUERIES = {OperationType.QUERY}
QUERY_OR_MUTATION = {OperationType.QUERY, OperationType.MUTATION}
AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@strawberry.enum
class Stage(enum.Enum):
    OPEN = "open"
    WON = "won"


@strawberry.type
class Owner:
    id: strawberry.ID
    name: str | None


@strawberry.type
class Row:
    id: strawberry.ID
    title: str
    amount: int | None
    stage: Stage
    tags: list[str]
    owner: Owner | None
    created_at: datetime
    # Declared non-null, held as None by one row: graphql-core's error, not a silent null.
    required: str

    @strawberry.field
    def shouted(self) -> str:
        return self.title.upper()

    # Marked resolvers: values of the row and the request's context, completed in the
    # same pass as the plain fields unless they raise or answer something to await.
    @strawberry.field
    @row_value
    def signed(self, info: strawberry.Info) -> str:
        return f"{self.title} for {info.context['caller']}"

    @strawberry.field
    @row_value
    def boss(self) -> Owner | None:
        return self.owner

    @strawberry.field
    @row_value
    def guarded(self, info: strawberry.Info) -> int | None:
        if info.context["hide"] and self.amount is not None:
            raise ValueError("amount hidden")
        return self.amount

    # A marked resolver with arguments: literals are converted once (the enum to its
    # Python member, a default kept); a variable leaves the row to graphql-core.
    @strawberry.field
    @row_value
    def labelled(
        self, info: strawberry.Info, stage: Stage | None = None, times: int = 1
    ) -> str | None:
        if stage is not None and not isinstance(stage, Stage):
            raise TypeError("not converted")
        if stage is not None and stage != self.stage:
            return None
        return f"{self.title} {info.context['caller']}" * times

    @strawberry.field(graphql_type=str)
    @row_value
    def later(self, info: strawberry.Info) -> Any:
        if not info.context["late"]:
            return self.title

        async def title() -> str:
            return self.title.upper()

        return title()


@strawberry.type
class RowEdge:
    node: Row
    cursor: str


@strawberry.type
class RowPage:
    edges: list[RowEdge]
    total_count: int


def _row(n: int, required: Any = "yes") -> Row:
    return Row(
        id=strawberry.ID(f"r{n}"),
        title=f"row {n}",
        amount=None if n % 2 else n * 10,
        stage=Stage.WON if n % 3 == 0 else Stage.OPEN,
        tags=[f"t{n}", "all"],
        owner=Owner(id=strawberry.ID(f"o{n}"), name=None) if n % 2 else None,
        created_at=AT,
        required=required,
    )


BROKEN: list[Any] = []


@strawberry.type
class Query:
    @strawberry.field
    async def rows(self, first: int = 3) -> RowPage:
        rows = [_row(n) for n in range(first)]
        return RowPage(edges=[RowEdge(node=r, cursor=f"c{r.id}") for r in rows], total_count=9)

    @strawberry.field
    def broken_rows(self) -> list[Row]:
        return [_row(1), _row(2, required=BROKEN[0] if BROKEN else None)]


@strawberry.type
class Mutation:
    @strawberry.mutation
    def noop(self) -> bool:
        return True


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncIterator[int]:
        yield 1


@strawberry.type
class OtherQuery:
    @strawberry.field
    def other(self) -> str:
        return "other"


def _schema() -> Any:
    return subgraph_schema(query=Query, mutation=Mutation, subscription=Subscription, types=[])


def _plain(result: Any) -> dict[str, Any]:
    """A result as the HTTP body carries it: data, and each error's message and path."""
    errors = [{"message": e.message, "path": e.path} for e in result.errors or []]
    return {"data": result.data, "errors": errors}


CONTEXT = {"caller": "ann", "hide": False, "late": False}


async def _both(
    query: str, variables: dict[str, Any] | None = None, context: Any = None
) -> tuple[Any, Any]:
    schema = _schema()
    prepared = PreparedOperations(schema)
    found = prepared.prepared_for(query, None, QUERIES)
    assert found is not None
    context = CONTEXT if context is None else context
    fast = await prepared.execute(
        found, variables=variables, context=context, operation_name=None, operation_extensions=None
    )
    slow = await schema.execute(query, variable_values=variables, context_value=context)
    return _plain(fast), _plain(slow)


@pytest.mark.parametrize(
    "query",
    [
        "{ rows { totalCount edges { node { id } } } }",
        "{ rows(first: 5) { totalCount edges { cursor node { id title amount stage tags"
        " createdAt owner { id name __typename } __typename } } } }",
        "{ rows { edges { a: node { x: id y: id } b: node { title } } } }",
        "{ rows { edges { node { ...F } } } } fragment F on Row { id stage owner { id } }",
        # A field with a resolver among the plain ones: graphql-core completes that row.
        "{ rows { edges { node { id shouted } } } }",
        "{ rows { edges { node { id signed guarded later boss { id name } } } } }",
        "{ rows(first: 4) { edges { node { id labelled a: labelled(stage: WON)"
        " b: labelled(stage: OPEN, times: 2) } } } }",
    ],
)
async def test_plain_objects_answer_as_graphql_core_does(query: str) -> None:
    fast, slow = await _both(query)
    assert fast == slow
    assert not fast["errors"]


async def test_include_and_skip_follow_the_variables_of_each_request() -> None:
    query = "query($all: Boolean!) { rows { edges { node { id title @include(if: $all) } } } }"
    schema = _schema()
    prepared = PreparedOperations(schema)
    found = prepared.prepared_for(query, None, QUERIES)
    assert found is not None and found.plans is None  # not kept across requests
    for show in (True, False, True):
        fast = await prepared.execute(
            found,
            variables={"all": show},
            context=None,
            operation_name=None,
            operation_extensions=None,
        )
        assert fast.data is not None
        assert ("title" in fast.data["rows"]["edges"][0]["node"]) is show


@pytest.mark.parametrize("held", [None, object()])
async def test_a_null_or_unserialisable_value_is_graphql_cores_error(held: Any) -> None:
    """A non-null field holding None, a string field holding an object: the same error
    and path as graphql-core gives (the row's plain read is dropped, not answered)."""
    BROKEN[:] = [held]
    try:
        fast, slow = await _both("{ brokenRows { id required } }")
    finally:
        BROKEN.clear()
    assert fast == slow
    assert fast["data"] is None
    assert fast["errors"][0]["path"] == ["brokenRows", 1, "required"]


async def test_invalid_or_unknown_operations_are_not_prepared() -> None:
    prepared = PreparedOperations(_schema())
    assert prepared.prepared_for("{ nothing }", None, QUERIES) is None
    assert prepared.prepared_for("{ rows { ", None, QUERIES) is None
    assert prepared.prepared_for("", None, QUERIES) is None
    assert prepared.prepared_for(None, None, QUERIES) is None
    two = "query A { rows { totalCount } } query B { rows { totalCount } }"
    assert prepared.prepared_for(two, None, QUERIES) is None  # which one: Strawberry says
    assert prepared.prepared_for(two, "C", QUERIES) is None
    assert prepared.prepared_for(two, "B", QUERIES) is not None
    # A GET runs queries only: its mutation goes to Strawberry, which refuses it.
    assert prepared.prepared_for("mutation { noop }", None, QUERIES) is None
    assert prepared.prepared_for("mutation { noop }", None, QUERY_OR_MUTATION) is not None
    every = {OperationType.QUERY, OperationType.MUTATION, OperationType.SUBSCRIPTION}
    assert prepared.prepared_for("subscription { ticks }", None, every) is None
    # Asked again, still refused (the refusal is what is kept for the text).
    assert prepared.prepared_for("{ nothing }", None, QUERIES) is None


async def test_a_document_is_validated_against_the_cache_s_own_schema() -> None:
    """The same text, valid for one schema and not another: each cache asks its own."""
    ours = PreparedOperations(_schema())
    other = PreparedOperations(subgraph_schema(query=OtherQuery, mutation=Mutation, types=[]))
    assert other.prepared_for("{ other }", None, QUERIES) is not None
    assert ours.prepared_for("{ other }", None, QUERIES) is None
    assert ours.prepared_for("{ rows { totalCount } }", None, QUERIES) is not None
    assert other.prepared_for("{ rows { totalCount } }", None, QUERIES) is None


async def test_each_text_is_validated_once_and_the_cache_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    validated: list[str] = []
    real = graphql_prepared.validate_document

    def counting(schema: Any, document: Any, rules: Any) -> Any:
        validated.append(document.loc.source.body)
        return real(schema, document, rules)

    monkeypatch.setattr(graphql_prepared, "validate_document", counting)
    prepared = PreparedOperations(_schema(), maxsize=2)
    texts = [f"{{ rows(first: {n}) {{ totalCount }} }}" for n in range(3)]
    for text in (texts[0], texts[0], texts[1], texts[0], texts[2], texts[1]):
        assert prepared.prepared_for(text, None, QUERIES) is not None
    # texts[1] was the least recently used when texts[2] came: validated again.
    assert validated == [texts[0], texts[1], texts[2], texts[1]]


class Watching(SchemaExtension):
    def on_execute(self) -> Any:
        yield


async def test_a_schema_with_per_request_work_runs_everything_through_strawberry() -> None:
    schema = strawberry.federation.Schema(query=Query, extensions=[Watching])
    prepared = PreparedOperations(schema)
    assert not prepared.enabled
    assert prepared.prepared_for("{ rows { totalCount } }", None, QUERIES) is None


async def test_resolver_errors_are_processed_as_strawberry_processes_them() -> None:
    """The schema's `process_errors` sees a resolver's failure (it logs unexpected ones)."""
    seen: list[str] = []

    class Recording(type(_schema())):  # type: ignore[misc]
        def process_errors(self, errors: list[Any], execution_context: Any = None) -> None:
            seen.extend(error.message for error in errors)

    @strawberry.type
    class Failing:
        @strawberry.field
        def boom(self) -> str:
            raise RuntimeError("no")

    schema = Recording(query=Failing, federation_version="2.9")
    prepared = PreparedOperations(schema)
    found = prepared.prepared_for("{ boom }", None, QUERIES)
    assert found is not None
    result = await prepared.execute(
        found, variables=None, context=None, operation_name=None, operation_extensions=None
    )
    assert isinstance(result, ExecutionResult)
    assert result.data is None and result.errors and result.errors[0].path == ["boom"]
    assert seen == ["no"]


async def test_graphql_core_completes_only_the_objects_that_are_not_plain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A page of plain rows is completed in one pass (graphql-core's object completion
    never runs); a row with a resolver field is graphql-core's, row by row."""
    completed: list[str] = []
    real = Executor.complete_object_value

    def spying(self: Any, return_type: Any, *args: Any) -> Any:
        completed.append(return_type.name)
        return real(self, return_type, *args)

    monkeypatch.setattr(Executor, "complete_object_value", spying)
    fast, slow = await _both("{ rows { totalCount edges { node { id owner { id } } } } }")
    assert fast == slow
    # Strawberry's own execution (`slow`) completes each object; the prepared one none.
    assert completed.count("RowEdge") == 3
    completed.clear()
    schema = _schema()
    prepared = PreparedOperations(schema)
    for query, expected in (
        ("{ rows { edges { node { id } } } }", []),
        ("{ rows { edges { node { id shouted } } } }", ["RowPage"] + ["RowEdge", "Row"] * 3),
    ):
        found = prepared.prepared_for(query, None, QUERIES)
        assert found is not None
        await prepared.execute(
            found, variables=None, context=None, operation_name=None, operation_extensions=None
        )
        assert completed == expected
        completed.clear()


@pytest.mark.parametrize(
    "context",
    [
        {"caller": "bob", "hide": True, "late": False},
        {"caller": "bob", "hide": False, "late": True},
    ],
)
async def test_a_marked_resolver_that_raises_or_awaits_is_graphql_cores(
    context: dict[str, Any],
) -> None:
    """A marked field that raises (its error at its path, the row's other fields kept) or
    answers an awaitable gives graphql-core's answer for that row."""
    fast, slow = await _both(
        "{ rows(first: 4) { edges { node { id signed guarded later } } } }", context=context
    )
    assert fast == slow
    nodes = [edge["node"] for edge in fast["data"]["rows"]["edges"]]
    if context["hide"]:
        assert [node["guarded"] for node in nodes] == [None, None, None, None]
        assert [error["path"][-1] for error in fast["errors"]] == ["guarded", "guarded"]
    else:
        assert [node["later"] for node in nodes] == ["ROW 0", "ROW 1", "ROW 2", "ROW 3"]


async def test_marked_resolvers_complete_in_one_pass_with_each_requests_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows whose fields are plain or marked are completed without graphql-core's object
    completion, and a plan kept with the document reads each request's own context."""
    completed: list[str] = []
    real = Executor.complete_object_value

    def spying(self: Any, return_type: Any, *args: Any) -> Any:
        completed.append(return_type.name)
        return real(self, return_type, *args)

    monkeypatch.setattr(Executor, "complete_object_value", spying)
    prepared = PreparedOperations(_schema())
    query = "{ rows(first: 2) { edges { node { id signed boss { id } } } } }"
    found = prepared.prepared_for(query, None, QUERIES)
    assert found is not None
    for caller in ("ann", "bob"):
        result = await prepared.execute(
            found,
            variables=None,
            context={**CONTEXT, "caller": caller},
            operation_name=None,
            operation_extensions=None,
        )
        assert isinstance(result, ExecutionResult) and result.data is not None
        assert [e["node"]["signed"] for e in result.data["rows"]["edges"]] == [
            f"row 0 for {caller}",
            f"row 1 for {caller}",
        ]
    assert completed == []


async def test_marked_resolvers_with_literal_arguments_complete_in_one_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Literal arguments are the plan's; arguments given by variables are graphql-core's,
    with each request's own values (a plan kept with the document never holds them)."""
    completed: list[str] = []
    real = Executor.complete_object_value

    def spying(self: Any, return_type: Any, *args: Any) -> Any:
        completed.append(return_type.name)
        return real(self, return_type, *args)

    monkeypatch.setattr(Executor, "complete_object_value", spying)
    literal = "{ rows(first: 3) { edges { node { id w: labelled(stage: WON, times: 2) } } } }"
    fast, slow = await _both(literal)
    assert fast == slow and not fast["errors"]
    assert [e["node"]["w"] for e in fast["data"]["rows"]["edges"]] == [
        "row 0 annrow 0 ann",
        None,
        None,
    ]
    completed.clear()
    await _both(literal)
    assert completed.count("Row") == 3  # Strawberry's own execution only
    completed.clear()
    query = "query($s: Stage) { rows(first: 3) { edges { node { id labelled(stage: $s) } } } }"
    for stage, expected in (
        ("OPEN", [None, "row 1 ann", "row 2 ann"]),
        ("WON", ["row 0 ann", None, None]),
    ):
        fast, slow = await _both(query, {"s": stage})
        assert fast == slow and not fast["errors"]
        assert [e["node"]["labelled"] for e in fast["data"]["rows"]["edges"]] == expected
    assert completed.count("Row") == 12  # graphql-core's in both executions
