"""Web client benchmark on the demo data (8,800 deals), assets served by the gateway:

- JavaScript shipped for the first screen (the board), gzipped: every script the browser
  loaded until the board showed its cards (target < 300 KB);
- first load of the board: p50 of 10 cold loads, each in a fresh browser context (empty
  cache, session already signed in), from navigation start to the first deal cards shown
  (target < 1.5 s); beside it the board's GraphQL query alone, measured in the same run;
- interactions a rep repeats: opening a deal from the board, the next page of a column,
  My tasks (p50 of 10 each).

Prints the figures; asserts nothing (the tests assert behaviour). `--screens DIR` also
takes the README's screenshots of every screen on the same data (`make screenshots`).
"""

from __future__ import annotations

import gzip
import json
import re
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import ROOT, Platform, platform

from crm_kit.auth import issue_token
from crm_kit.demo_users import demo_user

RUNS = 10
DIST = ROOT / "web" / "dist"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BOARD_QUERY = (ROOT / "web" / "src" / "screens" / "board" / "queries.ts").read_text()
BOARD_SCREEN = (ROOT / "web" / "src" / "screens" / "board" / "BoardScreen.tsx").read_text()
FIRST_PAGE = int(re.search(r"const FIRST_PAGE = (\d+);", BOARD_SCREEN).group(1))  # type: ignore[union-attr]


def session_script(token: str, user_id: str) -> str:
    user = demo_user(user_id)
    session = {
        "token": token,
        "userId": user_id,
        "name": user.name if user else user_id,
        "workspace": "demo",
        "roles": list(user.roles) if user else ["rep"],
        "expiresAt": None,
        "method": "development",
    }
    return f"localStorage.setItem('crm.session', {json.dumps(json.dumps(session))});"


def p50(values: list[float]) -> float:
    return statistics.median(values)


def board_api_seconds(running: Platform, token: str) -> list[float]:
    """The board's first request alone (same document the app sends)."""
    start = BOARD_QUERY.index("fragment BoardCard")
    fragment = BOARD_QUERY[start : BOARD_QUERY.index("`);", start)]
    start = BOARD_QUERY.index("query Board(")
    query = BOARD_QUERY[start : BOARD_QUERY.index("`);", start)] + fragment
    times = []
    with httpx.Client(timeout=30) as http:
        for _ in range(RUNS):
            began = time.perf_counter()
            response = http.post(
                f"{running.base_url}/graphql",
                json={"query": query, "variables": {"first": FIRST_PAGE}},
                headers={"authorization": f"Bearer {token}"},
            )
            times.append(time.perf_counter() - began)
            assert not response.json().get("errors"), response.json()
    return times


def main() -> int:
    from playwright.sync_api import sync_playwright

    if not (DIST / "index.html").exists():
        print("build the web app first: make web")
        return 1
    with platform() as running, sync_playwright() as driver:
        print(f"demo data loaded in {running.demo_seconds:.0f} s (8,800 deals)")
        user = "darcel-schlecht"
        token = issue_token("demo", user, ["rep"])
        browser = driver.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        loads: list[float] = []
        scripts: dict[str, int] = {}
        for run in range(RUNS):
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            context.add_init_script(session_script(token, user))
            page = context.new_page()
            loaded: list[str] = []
            page.on(
                "response",
                lambda r, loaded=loaded: (
                    loaded.append(urlparse(r.url).path)
                    if r.request.resource_type == "script"
                    else None
                ),
            )
            page.goto(f"{running.base_url}/board", wait_until="commit")
            page.locator('[data-testid="deal-card"]').first.wait_for(timeout=30_000)
            loads.append(page.evaluate("performance.now()") / 1000)
            if run == 0:
                for path in loaded:
                    file = DIST / path.lstrip("/")
                    scripts[path] = len(gzip.compress(file.read_bytes(), 9))
            context.close()

        api = board_api_seconds(running, token)

        # Interactions, in one signed-in page.
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        context.add_init_script(session_script(token, user))
        page = context.new_page()
        page.goto(f"{running.base_url}/board")
        page.locator('[data-testid="deal-card"]').first.wait_for()
        open_deal, more, tasks = [], [], []
        for _ in range(RUNS):
            began = time.perf_counter()
            page.locator('[data-testid="deal-card"] a').first.click()
            page.get_by_test_id("deal-title").wait_for()
            page.get_by_test_id("win-probability").wait_for()
            open_deal.append(time.perf_counter() - began)
            page.go_back()
            page.locator('[data-testid="deal-card"]').first.wait_for()
            column = page.locator('[data-testid="board-column"][data-stage="engaging"]')
            cards = column.get_by_test_id("deal-card")
            before = cards.count()
            began = time.perf_counter()
            column.get_by_role("button", name="Show more").click()
            page.wait_for_function(
                "([n]) => document.querySelectorAll("
                "'[data-testid=board-column][data-stage=engaging] [data-testid=deal-card]'"
                ").length > n",
                arg=[before],
            )
            more.append(time.perf_counter() - began)
            began = time.perf_counter()
            page.get_by_role("link", name="My tasks").click()
            page.get_by_test_id("my-tasks-summary").wait_for()
            tasks.append(time.perf_counter() - began)
            page.get_by_role("link", name="Pipeline").click()
            page.locator('[data-testid="deal-card"]').first.wait_for()
        context.close()
        if "--screens" in sys.argv:
            from screens import take_screens

            out = Path(sys.argv[sys.argv.index("--screens") + 1])
            take_screens(browser, running.base_url, out)
            print(f"screenshots in {out}")
        browser.close()

    total_kb = sum(scripts.values()) / 1024
    files = len(scripts)
    print(f"first screen JavaScript, gzipped: {total_kb:.1f} KB in {files} files (target < 300 KB)")
    for path, size in sorted(scripts.items(), key=lambda item: -item[1]):
        print(f"  {size / 1024:7.1f} KB  {path}")
    print(
        f"board first load, cold, p50 of {RUNS}: {p50(loads) * 1000:.0f} ms "
        f"(min {min(loads) * 1000:.0f}, max {max(loads) * 1000:.0f}; target < 1500 ms)"
    )
    print(
        f"  the board's GraphQL query alone, p50: {p50(api) * 1000:.0f} ms "
        f"(first load = {p50(loads) / p50(api):.1f} x the query)"
    )
    print(f"open a deal from the board, p50: {p50(open_deal) * 1000:.0f} ms")
    print(f"next page of a board column, p50: {p50(more) * 1000:.0f} ms")
    print(f"My tasks from the board, p50: {p50(tasks) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
