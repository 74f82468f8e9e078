"""Talking to the running gateway as a user of a workspace of the test's own."""

from __future__ import annotations

import functools
from typing import Any
from uuid import uuid4

import httpx

from crm_kit import testing
from crm_kit.auth import issue_token


def new_workspace() -> str:
    """Each journey runs in a workspace of its own: no test sees another's records."""
    return f"e2e-{uuid4().hex[:10]}"


class Client:
    def __init__(self, url: str, workspace: str, subject: str = "alice", roles: str = "admin"):
        self.url = url
        self.workspace = workspace
        self.headers = {
            "Authorization": f"Bearer {issue_token(workspace, subject, roles.split(','))}"
        }
        self.http = httpx.AsyncClient(timeout=20.0)

    async def execute(
        self, query: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> dict[str, Any]:
        response = await self.http.post(
            self.url,
            json={"query": query, "variables": variables or {}},
            headers={**self.headers, **headers},
        )
        return response.json()

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self.execute(query, variables)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def close(self) -> None:
        await self.http.aclose()


# Events travel asynchronously through the whole stack: a longer deadline than in-process.
eventually = functools.partial(testing.eventually, timeout=20.0, interval=0.1)
