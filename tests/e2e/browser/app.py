"""What the journeys do with the app and the API: sign in through the sign-in page, seed a
workspace through the gateway, wait for what events bring, check colour contrast."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import httpx
from playwright.sync_api import Page

from crm_kit.auth import issue_token
from crm_kit.demo_users import demo_user

from .conftest import AXE


def new_workspace() -> str:
    return f"web-{uuid4().hex[:10]}"


class Api:
    """GraphQL through the gateway as one demo user of a workspace (for seeding)."""

    def __init__(self, gateway_url: str, workspace: str, user_id: str = "admin") -> None:
        user = demo_user(user_id)
        roles = list(user.roles) if user else ["admin"]
        self.url = gateway_url
        self.workspace = workspace
        self.headers = {"authorization": f"Bearer {issue_token(workspace, user_id, roles)}"}

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(
            self.url,
            json={"query": query, "variables": variables or {}},
            headers=self.headers,
            timeout=20,
        )
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def company(self, name: str) -> str:
        query = "mutation($n: String!) { createCompany(input: {name: $n}) { id } }"
        return self.data(query, {"n": name})["createCompany"]["id"]

    def contact(self, first: str, last: str, **fields: Any) -> str:
        query = "mutation($i: CreateContactInput!) { createContact(input: $i) { id } }"
        data = self.data(query, {"i": {"firstName": first, "lastName": last, **fields}})
        return data["createContact"]["id"]

    def deal(self, title: str, amount: str = "1000", **fields: Any) -> str:
        query = "mutation($i: CreateDealInput!) { createDeal(input: $i) { id } }"
        data = self.data(query, {"i": {"title": title, "amount": amount, **fields}})
        return data["createDeal"]["id"]


def base_url(gateway_url: str) -> str:
    return gateway_url.removesuffix("/graphql")


def sign_in(page: Page, base: str, workspace: str, name: str, path: str = "/board") -> None:
    """Through the sign-in page, as a person would: pick the demo user, land on `path`."""
    page.goto(f"{base}{path}")
    page.wait_for_url("**/sign-in?next=*")
    page.get_by_label("Workspace").fill(workspace)
    page.get_by_test_id("demo-user").filter(has_text=name).click()
    page.wait_for_url(f"**{path}")
    page.get_by_test_id("signed-in-user").filter(has_text=name).wait_for()


def eventually(page: Page, check: Callable[[], bool], timeout: float = 20.0) -> None:
    """Events travel asynchronously: reload until `check` holds (a journey that checks the
    live updates themselves must not use this: test_live_updates.py)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.5)
        page.reload()
        page.wait_for_load_state("networkidle")


def contrast_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG AA colour-contrast rule on the current page."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['color-contrast']})).violations"
        ".map(v => ({id: v.id, nodes: v.nodes.map("
        "n => n.target.join(' ') + ': ' + n.failureSummary)}))"
    )
    return list(result)
