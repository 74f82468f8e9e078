"""GraphQL input types and their conversion to the use cases' typed inputs. Update inputs
default to UNSET so that "not given" (keep) differs from a value."""

from __future__ import annotations

from typing import TypeVar

import strawberry

from crm_kit.unset import UNSET, Unset

from ..usecases import inputs
from .enums import Security

T = TypeVar("T")


def _given(value: T | None) -> T | Unset:
    """Strawberry's "not sent" (and null, for settings that have no "none") as UNSET."""
    return UNSET if value is strawberry.UNSET or value is None else value


@strawberry.input
class CaptureSettingsInput:
    internal_domains: list[str] | None = strawberry.UNSET
    excluded_domains: list[str] | None = strawberry.UNSET
    excluded_addresses: list[str] | None = strawberry.UNSET
    body_limit: int | None = strawberry.field(
        default=strawberry.UNSET, description="0 to 10000 characters; 0 keeps no body."
    )

    def to_input(self) -> inputs.SettingsInput:
        return inputs.SettingsInput(
            internal_domains=_given(self.internal_domains),
            excluded_domains=_given(self.excluded_domains),
            excluded_addresses=_given(self.excluded_addresses),
            body_limit=_given(self.body_limit),
        )


@strawberry.input
class MyCaptureInput:
    addresses: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Your own addresses: mail from them is yours."
    )
    paused: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Pause capturing your mail and meetings."
    )

    def to_input(self) -> inputs.MyCaptureInput:
        return inputs.MyCaptureInput(addresses=_given(self.addresses), paused=_given(self.paused))


@strawberry.input
class AcceptSuggestionInput:
    first_name: str | None = None
    last_name: str | None = None

    def to_input(self) -> inputs.AcceptInput:
        return inputs.AcceptInput(first_name=self.first_name, last_name=self.last_name)


@strawberry.input
class AddMailboxInput:
    host: str
    username: str
    password: str = strawberry.field(description="Stored encrypted; never returned.")
    port: int | None = strawberry.field(default=None, description="993 for SSL, else 143.")
    security: Security = Security.SSL
    folder: str = "INBOX"

    def to_input(self) -> inputs.ImapAccountInput:
        return inputs.ImapAccountInput(
            host=self.host,
            username=self.username,
            password=self.password,
            port=self.port,
            security=self.security,
            folder=self.folder,
        )


@strawberry.input
class TrackingSiteInput:
    name: str | None = strawberry.UNSET
    domains: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Hosts the snippet may report from (none: any)."
    )
    require_consent: bool | None = strawberry.UNSET
    hot_paths: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Paths whose views make a hot lead (/pricing)."
    )
    hot_threshold: int | None = strawberry.UNSET
    hot_window_days: int | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET

    def to_input(self) -> inputs.SiteInput:
        return inputs.SiteInput(
            name=_given(self.name),
            domains=_given(self.domains),
            require_consent=_given(self.require_consent),
            hot_paths=_given(self.hot_paths),
            hot_threshold=_given(self.hot_threshold),
            hot_window_days=_given(self.hot_window_days),
            enabled=_given(self.enabled),
        )
