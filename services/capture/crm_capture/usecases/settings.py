"""A workspace's capture settings (created with a fresh capture address the first time
they are read), what admins change of them, and what each user sets for themselves."""

from __future__ import annotations

import secrets

from crm_kit.errors import BadUserInput, Conflict
from crm_kit.unset import Unset

from ..domain import rules
from ..domain.settings import CaptureSettings
from ..store.port import Change
from .inputs import MyCaptureInput, SettingsInput
from .scope import Scope

KEY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no look-alikes (l, 1, o, 0)
KEY_LENGTH = 16
MAX_LIST = 200
MAX_BODY_LIMIT = 10_000


def new_inbound_key() -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH))


def inbound_address(settings: CaptureSettings, domain: str) -> str:
    return f"{settings.inbound_key}@{domain}"


async def settings_of(scope: Scope) -> CaptureSettings:
    """The workspace's settings, made on first use (its own capture address)."""
    found = await scope.store.get_settings()
    if found is not None:
        return found
    fresh = CaptureSettings(
        workspace_id=scope.workspace_id,
        inbound_key=new_inbound_key(),
        updated_at=scope.now(),
        updated_by=scope.subject,
    )
    if await scope.store.add_settings(fresh):
        await scope.store.claim_inbound_key(fresh.inbound_key)
        return fresh
    made = await scope.store.get_settings()  # another request made them first
    assert made is not None
    return made


def _domains(values: list[str], field: str) -> list[str]:
    if len(values) > MAX_LIST:
        raise BadUserInput(f"at most {MAX_LIST} entries", field=field)
    return list(
        dict.fromkeys(rules.normalise_domain(v, f"{field}[{n}]") for n, v in enumerate(values))
    )


def _emails(values: list[str], field: str) -> list[str]:
    if len(values) > MAX_LIST:
        raise BadUserInput(f"at most {MAX_LIST} entries", field=field)
    return list(
        dict.fromkeys(rules.normalise_email(v, f"{field}[{n}]") for n, v in enumerate(values))
    )


async def update_settings(scope: Scope, data: SettingsInput) -> CaptureSettings:
    scope.require_admin()
    await settings_of(scope)
    values: dict[str, object] = {}
    if not isinstance(data.internal_domains, Unset):
        values["internal_domains"] = _domains(data.internal_domains, "input.internalDomains")
    if not isinstance(data.excluded_domains, Unset):
        values["excluded_domains"] = _domains(data.excluded_domains, "input.excludedDomains")
    if not isinstance(data.excluded_addresses, Unset):
        values["excluded_addresses"] = _emails(data.excluded_addresses, "input.excludedAddresses")
    if not isinstance(data.body_limit, Unset):
        values["body_limit"] = rules.bounded_int(
            data.body_limit, "input.bodyLimit", 0, MAX_BODY_LIMIT
        )

    async def change(settings: CaptureSettings) -> bool:
        for name, value in values.items():
            setattr(settings, name, value)
        settings.updated_at, settings.updated_by = scope.now(), scope.subject
        return bool(values)

    return await _change(scope, change)


async def rotate_inbound_key(scope: Scope) -> CaptureSettings:
    """A new capture address; mail to the old one is refused from now on."""
    scope.require_admin()
    await settings_of(scope)
    key = new_inbound_key()

    async def change(settings: CaptureSettings) -> bool:
        settings.inbound_key = key
        settings.updated_at, settings.updated_by = scope.now(), scope.subject
        return True

    await scope.store.claim_inbound_key(key)
    return await _change(scope, change)


async def update_my_capture(scope: Scope, data: MyCaptureInput) -> CaptureSettings:
    """The caller's own addresses (mail from them is theirs) and pause switch."""
    scope.require_write()
    if not scope.acts_for_user:
        raise BadUserInput("only a user has their own capture settings", field="input")
    settings = await settings_of(scope)
    addresses = None
    if not isinstance(data.addresses, Unset):
        addresses = _emails(data.addresses, "input.addresses")
        for email in addresses:
            owner = settings.rep_of(email)
            if owner is not None and owner != scope.subject:
                raise Conflict(f"{email} belongs to another user", field="input.addresses")

    async def change(settings: CaptureSettings) -> bool:
        if addresses is not None:
            settings.set_user_addresses(scope.subject, addresses)
        if not isinstance(data.paused, Unset):
            settings.set_paused(scope.subject, data.paused)
        return True

    return await _change(scope, change)


async def _change(scope: Scope, change: Change[CaptureSettings]) -> CaptureSettings:
    changed = await scope.store.change_settings(change)
    assert changed is not None  # made above
    return changed
