"""Import rules (GUIDE §2; docs/developing-a-service.md, "Import rules"):

- services never import each other, and the shared libs import no service;
- the event contracts do no I/O; the tabular file reader reads files and nothing else;
- inside a service, every module sits in a layer, and imports run with the grain:
  `graphql` and `entrypoints` -> `usecases` -> `domain`; adapters (`store`, `events`) ->
  `domain`; the use cases see the store's port (`store/port.py`), never its adapters; the
  composition roots (`app.py`, `__main__.py`, `export_schema.py`, `importer.py`, tasks'
  `demo.py`, deals' `win_model_cli.py`) may import anything;
- the domain imports no framework;
- no import circles, in any service or in the libs.

Every service and the libs keep every rule: a violation fails the test.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crm_kit.paths import REPO_ROOT

PACKAGES = {
    "crm_contacts": REPO_ROOT / "services/contacts/crm_contacts",
    "crm_deals": REPO_ROOT / "services/deals/crm_deals",
    "crm_tasks": REPO_ROOT / "services/tasks/crm_tasks",
    "crm_capture": REPO_ROOT / "services/capture/crm_capture",
    "crm_webhooks": REPO_ROOT / "services/webhooks/crm_webhooks",
    "crm_imports": REPO_ROOT / "services/imports/crm_imports",
    "crm_gateway": REPO_ROOT / "gateway/crm_gateway",
    "crm_kit": REPO_ROOT / "libs/crm_kit",
    "crm_contracts": REPO_ROOT / "libs/crm_contracts",
    "crm_tabular": REPO_ROOT / "libs/crm_tabular",
}
OWNED = {
    "crm_contacts",
    "crm_deals",
    "crm_tasks",
    "crm_capture",
    "crm_webhooks",
    "crm_imports",
    "crm_gateway",
}
SERVICES = (
    "crm_contacts",
    "crm_deals",
    "crm_tasks",
    "crm_capture",
    "crm_webhooks",
    "crm_imports",
)

# What each layer of a service may import (besides itself).
ROOT = "composition root"
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "port": {"domain"},
    "usecases": {"domain", "port", "config"},
    "store": {"domain", "port", "config"},
    "events": {"domain", "config"},
    "graphql": {"usecases", "domain", "config"},
    # Request/reply answers in the contracts' snapshots, built by the events adapter.
    "entrypoints": {"usecases", "domain", "config", "events"},
    "config": set(),
}
ROOT_MODULES = {"app", "__main__", "export_schema", "importer", "demo", "win_model_cli"}
FRAMEWORKS = {"strawberry", "starlette", "pymongo", "bson", "nats", "httpx", "uvicorn"}


@dataclass(frozen=True)
class Import:
    source: str  # module importing
    target: str  # module or package imported
    where: str  # path:line


def module_name(package: str, root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


@functools.cache
def modules_of(package: str) -> dict[str, Path]:
    root = PACKAGES[package]
    return {module_name(package, root, path): path for path in sorted(root.rglob("*.py"))}


@functools.cache
def imports_of(package: str) -> tuple[Import, ...]:
    """Every import statement of the package's modules, relative ones resolved; `from a
    import b` names the module `a.b` when there is one."""
    return tuple(_imports(package))


def _imports(package: str) -> Iterator[Import]:
    modules = modules_of(package)
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            where = f"{path.relative_to(REPO_ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(name, alias.name, where)
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node.module, node.level)
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    yield Import(name, candidate if candidate in modules else base, where)


def _resolve(module: str, is_package: bool, target: str | None, level: int) -> str:
    if level == 0:
        return target or ""
    parts = module.split(".")
    anchor = parts if is_package else parts[:-1]
    anchor = anchor[: len(anchor) - (level - 1)]
    return ".".join([*anchor, *([target] if target else [])])


# -- services never import each other ----------------------------------------------------


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_package_imports_no_other_service(package: str) -> None:
    if not PACKAGES[package].exists():
        pytest.fail(f"{PACKAGES[package]} is missing")
    allowed_services = {package} if package in OWNED else set()
    offending = sorted(
        f"{found.where} imports {found.target}"
        for found in imports_of(package)
        if found.target.split(".")[0] in OWNED - allowed_services
    )
    assert offending == []


def test_contracts_do_no_io() -> None:
    offending = sorted(
        f"{found.where} imports {found.target}"
        for found in imports_of("crm_contracts")
        if found.target.split(".")[0] in {"crm_kit", "pymongo", "nats", "httpx", "starlette"}
    )
    assert offending == []


def test_tabular_reads_files_and_nothing_else() -> None:
    """The file reader is shared by the import service and the CLI: no database, no NATS,
    no network, no runtime kit."""
    offending = sorted(
        f"{found.where} imports {found.target}"
        for found in imports_of("crm_tabular")
        if found.target.split(".")[0]
        in {"crm_kit", "crm_contracts", "pymongo", "nats", "httpx", "starlette", "socket"}
    )
    assert offending == []


# -- layers inside a service -------------------------------------------------------------


def layer_of(package: str, module: str) -> str | None:
    parts = module.split(".")[1:]
    if not parts or parts[0] in ROOT_MODULES:
        return ROOT
    if parts[0] == "store" and parts[1:2] == ["port"]:
        return "port"
    return parts[0] if parts[0] in ALLOWED else None


def layer_violations(package: str) -> set[str]:
    found: set[str] = set()
    for module in modules_of(package):
        if layer_of(package, module) is None:
            found.add(f"{module} is in no layer")
    for imported in imports_of(package):
        source = layer_of(package, imported.source)
        top = imported.target.split(".")[0]
        if source == "domain" and top in FRAMEWORKS:
            found.add(f"{imported.source} (domain) imports {top}")
        if top != package or source in (None, ROOT):
            continue
        target = layer_of(package, imported.target)
        if target is None or target == source or target in ALLOWED[source]:
            continue
        found.add(f"{imported.source} ({source}) imports {imported.target} ({target})")
    return found


def circles(package: str) -> set[str]:
    """Import circles between the package's modules (strongly connected components of
    more than one module), named by their first two members in order."""
    modules = modules_of(package)
    edges: dict[str, set[str]] = {module: set() for module in modules}
    for imported in imports_of(package):
        if imported.target in modules and imported.target != imported.source:
            edges[imported.source].add(imported.target)
    found: set[str] = set()
    for component in _strongly_connected(edges):
        if len(component) > 1:
            first, second = sorted(component)[:2]
            more = f" (+{len(component) - 2} more)" if len(component) > 2 else ""
            found.add(f"{first} imports {second}, and back (a circle){more}")
    return found


def _strongly_connected(edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iteratively (no recursion limit on deep chains)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(edges[successor]))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                found.append(component)
    return found


def violations(package: str) -> set[str]:
    return layer_violations(package) | circles(package)


@pytest.mark.parametrize("package", SERVICES)
def test_services_keep_the_layers_and_have_no_circles(package: str) -> None:
    found = sorted(violations(package))
    assert found == [], "import rules broken (see this module's doc):\n" + "\n".join(found)


@pytest.mark.parametrize("package", ["crm_kit", "crm_contracts", "crm_tabular", "crm_gateway"])
def test_libs_and_gateway_have_no_circles(package: str) -> None:
    assert sorted(circles(package)) == []


def test_the_rules_catch_what_they_are_for() -> None:
    """The checker itself: relative imports resolve, layers and circles are found."""
    assert _resolve("crm_x.usecases.deals", False, "store.mongo", 2) == "crm_x.store.mongo"
    assert _resolve("crm_x.store", True, "port", 1) == "crm_x.store.port"
    assert layer_of("crm_x", "crm_x.store.port") == "port"
    assert layer_of("crm_x", "crm_x.store.mongo") == "store"
    assert layer_of("crm_x", "crm_x.app") == ROOT
    assert layer_of("crm_x", "crm_x.rpc") is None
    assert "usecases" in ALLOWED["graphql"] and "store" not in ALLOWED["usecases"]
    ring = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert [sorted(c) for c in _strongly_connected(ring) if len(c) > 1] == [["a", "b", "c"]]
