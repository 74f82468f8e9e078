"""Per-request GraphQL context: the caller, the workspace-scoped use-case scope, loaders."""

from __future__ import annotations

from dataclasses import dataclass, field

from strawberry.types import Info

from crm_kit.context import RequestContext
from crm_kit.errors import Forbidden

from ..usecases.base import Scope
from .loaders import Loaders


@dataclass
class TasksContext:
    request: RequestContext
    scope: Scope
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.scope)


def context_of(info: Info) -> TasksContext:
    ctx: TasksContext = info.context
    return ctx


def require_writer(info: Info) -> TasksContext:
    ctx = context_of(info)
    if not ctx.request.can_write:
        raise Forbidden("your role may not change data")
    return ctx


def require_manager(info: Info) -> TasksContext:
    ctx = context_of(info)
    if not ctx.request.has_role("manager", "admin"):
        raise Forbidden("only a manager or admin may manage teams and automation rules")
    return ctx
