"""Request limits, checked before any subgraph is called.

Depth, aliases and root fields depend only on the document and are checked once when the
document enters the cache (`crm_kit.query_shape`: one walk, each fragment measured once).
The estimated cost can depend on variables (`first: $n`), so it is computed per request
unless it does not (`crm_gateway.cost`, linear too). Every setting is in the README.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from graphql import FragmentDefinitionNode, OperationDefinitionNode

from crm_kit.query_shape import ShapeLimits, ShapeRefused
from crm_kit.query_shape import check_shape as check_query_shape

__all__ = ["LimitExceeded", "Limits", "check_shape"]


@dataclass(frozen=True)
class Limits:
    max_document_bytes: int = 64_000
    max_depth: int = 15
    max_aliases: int = 30
    max_root_fields: int = 20
    # Fields once fragments are expanded: what planning and shaping walk. Bounds a fragment
    # bomb of scalars, which costs nothing and passes the other limits.
    max_fields: int = 2_000
    # The demand-control budget: the estimated cost (crm_gateway.cost) of one operation.
    # A board of 10 columns of 20 deals with company, contact, 3 interactions and tasks
    # each costs ~4,200; `first: 1000000` anywhere costs over a million.
    max_cost: int = 10_000
    default_list_size: int = 10  # assumed length of a list without a size argument
    default_page_size: int = 20  # a connection's page when `first`/`last` is left out

    @classmethod
    def unlimited(cls) -> Limits:
        big = 1 << 30
        return cls(big, big, big, big, big, big, 10, 20)


class LimitExceeded(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_shape(
    limits: Limits, op: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> None:
    shape_limits = ShapeLimits(
        limits.max_depth, limits.max_aliases, limits.max_root_fields, limits.max_fields
    )
    try:
        check_query_shape(shape_limits, op, fragments)
    except ShapeRefused as refused:
        raise LimitExceeded(refused.code, refused.message) from None
