"""The Relay connection types every subgraph's lists share.

`PageInfo` is defined once, marked @shareable, so the supergraph has a single `PageInfo`
type and a client reads pages the same way whichever service a connection comes from.
`Connection[Node]` / `Edge[Node]` are Strawberry generics: `Connection[Contact]` is the
GraphQL type `ContactConnection` (`edges`, `pageInfo`, `totalCount`), with edges of type
`ContactEdge` (`node`, `cursor`). `connection(page, node, cursor)` builds one from a page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import strawberry

from .pagination import Page

NodeT = TypeVar("NodeT")
RecordT = TypeVar("RecordT")


@strawberry.federation.type(shareable=True)
class PageInfo:
    has_next_page: bool
    has_previous_page: bool = False
    start_cursor: str | None = None
    end_cursor: str | None = None


@strawberry.type
class Edge(Generic[NodeT]):
    node: NodeT
    cursor: str


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo
    total_count: int


def connection(
    page: Page[RecordT],
    node: Callable[[RecordT], NodeT],
    cursor: Callable[[RecordT], str],
) -> Connection[NodeT]:
    """A page of records as a connection: `node(record)` the GraphQL object, `cursor(record)`
    its opaque keyset cursor."""
    edges = [Edge(node=node(record), cursor=cursor(record)) for record in page.items]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None
        ),
        total_count=page.total,
    )
