"""The event catalogue: every subject, its owner and its payload model, and every
request/reply endpoint, gathered from the contract modules of this package.

A contract module is one that names its service (`SERVICE`) and declares its events
(`EVENTS`: subject -> payload model) and its endpoints (`ENDPOINTS`); it is found by
looking, not listed here, so a new service's module is catalogued by existing. The
documents for the teams that consume events (`docs/asyncapi.yaml`, `docs/asyncapi.html`,
`docs/events.md`) are generated from this: `python -m crm_contracts.asyncapi docs`.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from types import ModuleType

from .base import Payload
from .endpoints import RpcEndpoint
from .envelope import SUBJECT_PATTERN

RPC_PATTERN = re.compile(r"^rpc\.[a-z]+\.[a-z_]+\.[a-z_]+$")
# Modules of the package that are not contracts and import the catalogue themselves.
_GENERATORS = frozenset({"asyncapi", "catalogue", "docs_render"})


def contract_modules() -> tuple[ModuleType, ...]:
    """Every module of this package declaring a service's contracts, by service name."""
    found = []
    for info in pkgutil.iter_modules(_package_path()):
        if info.name in _GENERATORS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__package__}.{info.name}")
        if isinstance(getattr(module, "SERVICE", None), str) and hasattr(module, "EVENTS"):
            found.append(module)
    return tuple(sorted(found, key=lambda m: m.SERVICE))


def _package_path() -> list[str]:
    return list(importlib.import_module(__package__ or "crm_contracts").__path__)


MODULES: tuple[ModuleType, ...] = contract_modules()


def _catalogue() -> dict[str, type[Payload]]:
    events: dict[str, type[Payload]] = {}
    for module in MODULES:
        for subject, model in module.EVENTS.items():
            if subject in events:
                raise ValueError(f"{subject} is declared twice")
            events[subject] = model
    return events


CATALOGUE: dict[str, type[Payload]] = _catalogue()
ENDPOINTS: tuple[RpcEndpoint, ...] = tuple(
    endpoint for module in MODULES for endpoint in getattr(module, "ENDPOINTS", ())
)


def _constants(pattern: re.Pattern[str]) -> set[str]:
    return {
        value
        for module in MODULES
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str) and pattern.match(value)
    }


def declared_subjects() -> set[str]:
    """Every event subject constant the contract modules declare."""
    return _constants(SUBJECT_PATTERN)


def declared_rpc_subjects() -> set[str]:
    """Every request/reply subject constant the contract modules declare."""
    return _constants(RPC_PATTERN)
