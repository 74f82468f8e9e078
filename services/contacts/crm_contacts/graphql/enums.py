"""The domain's enums as GraphQL enums (registered once; fields are typed with the domain
enums themselves) and the GraphQL-only orderings."""

from __future__ import annotations

from enum import Enum

import strawberry

from ..domain.contact import LifecycleStage
from ..domain.duplicates import DuplicateReason
from ..domain.interaction import Direction, InteractionKind

strawberry.enum(LifecycleStage, name="LifecycleStage")
strawberry.enum(InteractionKind, name="InteractionKind")
strawberry.enum(Direction, name="Direction")
strawberry.enum(DuplicateReason, name="DuplicateReason")

__all__ = ["Direction", "DuplicateReason", "InteractionKind", "LifecycleStage", "OrderDirection"]


@strawberry.enum
class OrderDirection(Enum):
    ASC = "asc"
    DESC = "desc"
