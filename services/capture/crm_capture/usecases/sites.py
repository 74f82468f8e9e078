"""The sites a workspace tracks: each has a public key the snippet carries (never the
workspace id), the hosts it may report from, whether consent is required, and what makes
a hot lead."""

from __future__ import annotations

import secrets

from crm_kit.errors import BadUserInput, NotFound
from crm_kit.unset import Unset

from ..domain import rules
from ..domain.tracking import Site
from .inputs import SiteInput
from .scope import Scope

MAX_SITES = 50
MAX_LIST = 50


def new_site_key() -> str:
    return "s_" + secrets.token_urlsafe(15)


def _paths(values: list[str], field: str) -> list[str]:
    if len(values) > MAX_LIST:
        raise BadUserInput(f"at most {MAX_LIST} paths", field=field)
    found = []
    for index, value in enumerate(values):
        path = value.strip().lower()
        if not path.startswith("/") or len(path) > 200 or " " in path:
            raise BadUserInput("a path starts with / (e.g. /pricing)", field=f"{field}[{index}]")
        found.append(path)
    return list(dict.fromkeys(found))


def _values(data: SiteInput) -> dict[str, object]:
    values: dict[str, object] = {}
    if not isinstance(data.name, Unset):
        values["name"] = rules.clean_text(data.name, "input.name", required=True)
    if not isinstance(data.domains, Unset):
        if len(data.domains) > MAX_LIST:
            raise BadUserInput(f"at most {MAX_LIST} domains", field="input.domains")
        values["domains"] = list(
            dict.fromkeys(
                rules.normalise_domain(d, f"input.domains[{n}]") for n, d in enumerate(data.domains)
            )
        )
    if not isinstance(data.require_consent, Unset):
        values["require_consent"] = data.require_consent
    if not isinstance(data.hot_paths, Unset):
        values["hot_paths"] = _paths(data.hot_paths, "input.hotPaths")
    if not isinstance(data.hot_threshold, Unset):
        values["hot_threshold"] = rules.bounded_int(
            data.hot_threshold, "input.hotThreshold", 1, 100
        )
    if not isinstance(data.hot_window_days, Unset):
        values["hot_window_days"] = rules.bounded_int(
            data.hot_window_days, "input.hotWindowDays", 1, 90
        )
    if not isinstance(data.enabled, Unset):
        values["enabled"] = data.enabled
    return values


async def create_site(scope: Scope, data: SiteInput) -> Site:
    scope.require_admin()
    if len(await scope.store.list_sites()) >= MAX_SITES:
        raise BadUserInput(f"at most {MAX_SITES} sites per workspace", field="input")
    values = _values(data)
    if "name" not in values:
        raise BadUserInput("must not be empty", field="input.name")
    site = Site(
        id=new_site_key(),
        workspace_id=scope.workspace_id,
        name=str(values.pop("name")),
        created_at=scope.now(),
        created_by=scope.subject,
    )
    for name, value in values.items():
        setattr(site, name, value)
    await scope.store.add_site(site)
    return site


async def update_site(scope: Scope, site_id: str, data: SiteInput) -> Site:
    scope.require_admin()
    values = _values(data)

    async def change(site: Site) -> bool:
        for name, value in values.items():
            setattr(site, name, value)
        return bool(values)

    changed = await scope.store.change_site(site_id, change)
    if changed is None:
        raise NotFound(f"no site {site_id}", field="id")
    return changed


async def list_sites(scope: Scope) -> list[Site]:
    return await scope.store.list_sites()
