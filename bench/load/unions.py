"""A union's values completed by their Python class (`crm_kit.graphql_rows`), in process:
`_entities` with N representations of one federated type through the prepared path (the
services' executor), with the object type kept per class (as shipped) and with it
resolved by Strawberry's union resolver for every value (as before), alternating in the
same run. No store and no HTTP: the CPU of executing the fetch alone.

    .venv/bin/python bench/load/unions.py [--cards 140] [--requests 500] [--rounds 5]

Prints the CPU milliseconds per fetch of each way per round, their ratio, and whether the
answers are equal."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "libs"))

import strawberry  # noqa: E402
from strawberry.types.graphql import OperationType  # noqa: E402

import crm_kit.graphql_rows as graphql_rows  # noqa: E402
from crm_kit.graphql_prepared import PreparedOperations  # noqa: E402
from crm_kit.graphql_schema import subgraph_schema  # noqa: E402


@strawberry.federation.type(keys=["id"])
class Card:
    id: strawberry.ID
    title: str
    open_tasks: int

    @classmethod
    async def resolve_references(cls, info: Any, ids: list[strawberry.ID]) -> list[Card]:
        return [cls(id=i, title=f"card {i}", open_tasks=len(i) % 3) for i in ids]


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


FETCH = """query($reps: [_Any!]!) { _entities(representations: $reps) {
  ... on Card { id title openTasks } } }"""


async def timed(
    prepared: PreparedOperations, reps: list[dict[str, str]], n: int
) -> tuple[float, Any]:
    document = prepared.prepared_for(FETCH, None, {OperationType.QUERY})
    assert document is not None
    variables = {"reps": reps}
    answer = None
    started = time.process_time()
    for _ in range(n):
        result = await prepared.execute(
            document,
            variables=variables,
            context=None,
            operation_name=None,
            operation_extensions=None,
        )
        answer = result.data
    return (time.process_time() - started) * 1000 / n, answer


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cards", type=int, default=140)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    prepared = PreparedOperations(subgraph_schema(query=Query, mutation=Mutation, types=[Card]))
    reps = [{"__typename": "Card", "id": f"{n:024x}"} for n in range(args.cards)]
    learn = graphql_rows._learn_runtime_type

    def never(*_: Any) -> None:
        return None

    await timed(prepared, reps, 20)  # warm-up (plans, the kept type)
    print(f"_entities x{args.cards}, {args.requests} fetches a round: CPU ms per fetch")
    print("round  per class  per value  ratio  same answer")
    for round_ in range(args.rounds):
        graphql_rows._RUNTIME_TYPES.clear()
        graphql_rows._learn_runtime_type = learn
        kept, a = await timed(prepared, reps, args.requests)
        graphql_rows._RUNTIME_TYPES.clear()
        graphql_rows._learn_runtime_type = never  # type: ignore[assignment]
        each, b = await timed(prepared, reps, args.requests)
        graphql_rows._learn_runtime_type = learn
        print(f"{round_ + 1:>5}  {kept:9.3f}  {each:9.3f}  {kept / each:5.2f}  {a == b}")


if __name__ == "__main__":
    asyncio.run(main())
