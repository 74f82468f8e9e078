"""Screenshots of each screen on the demo data, for the README (`make screenshots`)."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page

from crm_kit.auth import issue_token

VIEWPORT = {"width": 1440, "height": 900}


def _sign_in(page: Page, base: str, name: str) -> None:
    page.goto(f"{base}/sign-in")
    page.get_by_test_id("demo-user").filter(has_text=name).click()
    page.wait_for_url("**/board")
    page.locator('[data-testid="deal-card"]').first.wait_for()


def _shot(page: Page, out: Path, name: str, ready: str | None = None) -> None:
    if ready:
        page.locator(ready).first.wait_for(timeout=20_000)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(400)  # charts draw after their data arrives
    page.screenshot(path=str(out / f"{name}.png"))


def _engaging_deal(base: str) -> str:
    """A deal of Darcel's in Engaging with a company: its win probability has history."""
    token = issue_token("demo", "darcel-schlecht", ["rep"])
    query = """{ deals(filter: {ownerId: "darcel-schlecht", stageKey: "engaging"}, first: 20,
      orderBy: {field: AMOUNT, direction: DESC}) { edges { node { id company { id } } } } }"""
    body = httpx.post(
        f"{base}/graphql", json={"query": query}, headers={"authorization": f"Bearer {token}"}
    ).json()
    return next(e["node"]["id"] for e in body["data"]["deals"]["edges"] if e["node"]["company"])


def take_screens(browser: Browser, base: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB")
    page = context.new_page()
    page.goto(f"{base}/sign-in")
    _shot(page, out, "sign-in", '[data-testid="demo-user"]')

    _sign_in(page, base, "Darcel Schlecht")
    _shot(page, out, "board", '[data-testid="deal-card"]')
    # A move the exit criteria refuse: a prospect without a company, dragged forward.
    page.goto(f"{base}/board?q=GTX%20Plus%20Pro")
    bare = page.get_by_test_id("deal-card").filter(has_text="No company").first
    bare.drag_to(page.locator('[data-testid="board-column"][data-stage="qualification"]'))
    _shot(page, out, "board-move-blocked", '[data-testid="unmet-list"]')
    page.keyboard.press("Escape")

    page.goto(f"{base}/deals/{_engaging_deal(base)}")
    _shot(page, out, "deal", '[data-testid="win-probability"] li')
    page.goto(f"{base}/tasks")
    _shot(page, out, "my-tasks", '[data-testid="task-row"]')
    page.goto(f"{base}/contacts")
    _shot(page, out, "contacts", '[data-testid="contacts-table"]')
    page.get_by_test_id("contacts-table").get_by_role("link").first.click()
    _shot(page, out, "contact", '[data-testid="timeline-item"]')
    page.goto(f"{base}/companies")
    _shot(page, out, "companies", '[data-testid="companies-table"]')
    context.close()

    context = browser.new_context(viewport=VIEWPORT, locale="en-GB")
    page = context.new_page()
    _sign_in(page, base, "Melvin Marxen")
    for tab, ready in (
        ("funnel", '[data-testid="funnel-chart"] canvas'),
        ("forecast", '[data-testid="forecast-chart"] canvas'),
        ("win-model", '[data-testid="calibration-chart"] canvas'),
        ("scorecards", '[data-testid="scorecards-table"]'),
    ):
        page.goto(f"{base}/dashboards/{tab}")
        _shot(page, out, f"dashboard-{tab}", ready)
    page.goto(f"{base}/tasks")
    _shot(page, out, "team-queues", '[data-testid="team-select"]')
    page.goto(f"{base}/settings/pipelines")
    _shot(page, out, "settings-pipelines", '[data-testid="stage-editor"]')
    page.goto(f"{base}/settings/teams")
    _shot(page, out, "settings-teams", '[data-testid="teams-table"]')
    page.goto(f"{base}/graphql")
    _shot(page, out, "graphiql", ".graphiql-container")
    context.close()
