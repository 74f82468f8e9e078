"""Production sign-in: the app signs in with the organisation's identity provider (OIDC
authorization code + PKCE, here a local provider started by the test) and the platform,
running in production mode, verifies the provider's tokens. No development sign-in then."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from crm_kit.devstack import InfraStack, free_port

from ...conftest import Stack, running_platform
from .app import base_url, new_workspace
from .oidc_provider import Person, Provider

pytestmark = pytest.mark.e2e
CLIENT_ID = "crm-web"


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    idp = Provider(CLIENT_ID, Person("u-1042", "Morgan Lee", new_workspace(), ["manager"]))
    server, thread = idp.serve()
    yield idp
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def production(provider: Provider) -> Iterator[Stack]:
    # Its own FerretDB and NATS: the session's stack keeps its consumers to itself.
    with tempfile.TemporaryDirectory(prefix="crm-oidc-") as tmp:
        root = Path(tmp)
        infra = InfraStack(root / "infra", free_port(), free_port()).start()
        env = {
            "CRM_ENV": "production",
            "JWKS_FILE": str(provider.write_jwks(root / "jwks.json")),
            "OIDC_ISSUER": provider.issuer,
            "OIDC_CLIENT_ID": CLIENT_ID,
            "JWT_SECRET": "",  # no development secret in production
        }
        try:
            with running_platform(infra, root, env) as running:
                yield running
        finally:
            infra.stop()


def test_sign_in_with_the_identity_provider_then_use_the_app(
    production: Stack, provider: Provider, page: Page
) -> None:
    base = base_url(production.gateway_url)
    assert httpx.post(f"{base}/auth/dev/token", json={"userId": "admin"}).status_code == 404

    page.goto(f"{base}/tasks")
    page.wait_for_url("**/sign-in?next=*")
    page.get_by_test_id("oidc-sign-in").click()
    # To the provider and back with a code; the app redeems it with its PKCE verifier.
    page.wait_for_url(f"{base}/tasks")
    expect(page.get_by_test_id("signed-in-user")).to_contain_text("Morgan Lee")
    expect(page.get_by_test_id("signed-in-user")).to_contain_text(provider.person.workspace)
    expect(page.get_by_test_id("my-tasks-summary")).to_contain_text("0 open")
    page.get_by_role("link", name="Pipeline").click()
    expect(page.get_by_test_id("board-column")).to_have_count(5)
    assert provider.redeemed == ["u-1042"] and provider.refused == []

    # A second redemption of any code fails: the provider saw exactly one exchange.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in")
    expect(page.get_by_test_id("oidc-sign-in")).to_be_visible()
    expect(page.get_by_test_id("demo-user")).to_have_count(0)
