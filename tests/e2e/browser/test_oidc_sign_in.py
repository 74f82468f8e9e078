"""Production sign-in: the app signs in with the organisation's identity provider (OIDC
authorization code + PKCE, here a local provider started by the test) and the gateway,
running in production mode, verifies the provider's tokens. No development sign-in then."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from crm_kit.devstack import free_port, spawn, wait_http_ok
from crm_kit.paths import REPO_ROOT, data_dir

from ..conftest import Stack
from .app import new_workspace
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
def production(
    stack: Stack, provider: Provider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A gateway in production mode in front of the session's services: it verifies the
    provider's tokens and signs each call to a service with its own key, which the
    services check (they never see the user's token)."""
    root = tmp_path_factory.mktemp("oidc")
    port = free_port()
    env = {
        **stack.env,
        "CRM_ENV": "production",
        "JWKS_FILE": str(provider.write_jwks(root / "jwks.json")),
        "OIDC_ISSUER": provider.issuer,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "JWT_AUDIENCE": "crm",
        "JWT_SECRET": "",  # no development secret in production
        "INTERNAL_KEY_FILE": str(data_dir() / "keys" / "gateway.key"),
        "GATEWAY_PORT": str(port),
    }
    log = root / "gateway.log"
    process = spawn([sys.executable, "-m", "crm_gateway"], log, env=env, cwd=REPO_ROOT)
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/health", process, log, 60.0)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_sign_in_with_the_identity_provider_then_use_the_app(
    production: str, provider: Provider, page: Page
) -> None:
    base = production
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
