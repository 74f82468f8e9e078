"""Talking to the running gateway as a user of a workspace of the test's own (the kit's
one test client, `crm_kit.testing.GraphQLClient`)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from uuid import uuid4

import httpx

from crm_kit import testing
from crm_kit.testing import GraphQLClient, auth_headers


def new_workspace() -> str:
    """Each journey runs in a workspace of its own: no test sees another's records."""
    return f"e2e-{uuid4().hex[:10]}"


@contextlib.asynccontextmanager
async def gateway_client(
    url: str, workspace: str, subject: str = "alice", roles: str = "admin"
) -> AsyncIterator[GraphQLClient]:
    """A client of the gateway at `url` (its GraphQL endpoint) for one user."""
    async with httpx.AsyncClient(timeout=20.0) as http:
        yield GraphQLClient(http, auth_headers(workspace, subject, roles), path=url)


# Events travel asynchronously through the whole stack: a longer deadline than in-process.
eventually = functools.partial(testing.eventually, timeout=20.0, interval=0.1)
