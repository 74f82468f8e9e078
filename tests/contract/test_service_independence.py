"""Services never import each other, and the shared libs import no service (GUIDE §2)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from crm_kit.paths import REPO_ROOT

PACKAGES = {
    "crm_contacts": REPO_ROOT / "services/contacts/crm_contacts",
    "crm_deals": REPO_ROOT / "services/deals/crm_deals",
    "crm_tasks": REPO_ROOT / "services/tasks/crm_tasks",
    "crm_gateway": REPO_ROOT / "gateway/crm_gateway",
    "crm_kit": REPO_ROOT / "libs/crm_kit",
    "crm_contracts": REPO_ROOT / "libs/crm_contracts",
}
OWNED = {"crm_contacts", "crm_deals", "crm_tasks", "crm_gateway"}


def imported_packages(root: Path) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            found.update((name.split(".")[0], str(path.relative_to(REPO_ROOT))) for name in names)
    return found


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_package_imports_no_other_service(package: str) -> None:
    root = PACKAGES[package]
    if not root.exists():
        pytest.fail(f"{root} is missing")
    allowed_services = {package} if package in OWNED else set()
    offending = sorted(
        f"{where} imports {name}"
        for name, where in imported_packages(root)
        if name in OWNED and name not in allowed_services
    )
    assert offending == []


def test_contracts_do_no_io() -> None:
    offending = sorted(
        f"{where} imports {name}"
        for name, where in imported_packages(PACKAGES["crm_contracts"])
        if name in {"crm_kit", "pymongo", "nats", "httpx", "starlette"}
    )
    assert offending == []
