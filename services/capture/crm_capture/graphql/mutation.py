"""Write resolvers: thin, they translate inputs and call the use cases."""

from __future__ import annotations

import strawberry

from crm_kit.errors import BadUserInput

from ..usecases import emails, mailboxes, meetings, settings, sites, suggestions
from .inputs import (
    AcceptSuggestionInput,
    AddMailboxInput,
    CaptureSettingsInput,
    MyCaptureInput,
    TrackingSiteInput,
)
from .types import (
    CapturedEmail,
    CaptureSettings,
    CaptureSuggestion,
    ContextInfo,
    EmailCaptureResult,
    Mailbox,
    MeetingCaptureResult,
    TrackingSite,
)

UPLOAD = "upload"


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Capture an uploaded message (.eml, RFC 5322). The same message captured "
        "again (by BCC, IMAP or another upload) is the same interaction (duplicate: true)."
    )
    async def capture_email(self, info: ContextInfo, raw: str) -> EmailCaptureResult:
        scope = info.context.scope
        scope.require_write()
        try:
            data = raw.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise BadUserInput("the message is not text", field="raw") from None
        outcome = await emails.capture_email(scope, data, UPLOAD)
        return EmailCaptureResult(
            email=CapturedEmail.of(outcome.email),
            duplicate=outcome.duplicate,
            meetings=[MeetingCaptureResult.of(m) for m in outcome.meetings],
        )

    @strawberry.mutation(
        description="Capture the meetings of an iCalendar document. A newer version (higher "
        "SEQUENCE) of a meeting changes or cancels its interactions instead of adding more."
    )
    async def capture_calendar(self, info: ContextInfo, ics: str) -> list[MeetingCaptureResult]:
        scope = info.context.scope
        scope.require_write()
        outcomes = await meetings.capture_calendar(scope, ics, UPLOAD)
        return [MeetingCaptureResult.of(o) for o in outcomes]

    @strawberry.mutation(description="Admins: the workspace's capture settings.")
    async def update_capture_settings(
        self, info: ContextInfo, input: CaptureSettingsInput
    ) -> CaptureSettings:
        scope = info.context.scope
        changed = await settings.update_settings(scope, input.to_input())
        return CaptureSettings.of(changed, scope.config.domain, scope.subject)

    @strawberry.mutation(description="Admins: a new capture address; the old one stops working.")
    async def rotate_capture_address(self, info: ContextInfo) -> CaptureSettings:
        scope = info.context.scope
        changed = await settings.rotate_inbound_key(scope)
        return CaptureSettings.of(changed, scope.config.domain, scope.subject)

    @strawberry.mutation(description="Your own addresses and pause switch.")
    async def update_my_capture(self, info: ContextInfo, input: MyCaptureInput) -> CaptureSettings:
        scope = info.context.scope
        changed = await settings.update_my_capture(scope, input.to_input())
        return CaptureSettings.of(changed, scope.config.domain, scope.subject)

    @strawberry.mutation(
        description="Create the contact (the contacts service does, as you) and attach what "
        "was captured with the address to it."
    )
    async def accept_capture_suggestion(
        self, info: ContextInfo, id: strawberry.ID, input: AcceptSuggestionInput | None = None
    ) -> CaptureSuggestion:
        data = (input or AcceptSuggestionInput()).to_input()
        return CaptureSuggestion.of(await suggestions.accept(info.context.scope, str(id), data))

    @strawberry.mutation(description="Never suggest this address again.")
    async def reject_capture_suggestion(
        self, info: ContextInfo, id: strawberry.ID
    ) -> CaptureSuggestion:
        return CaptureSuggestion.of(await suggestions.reject(info.context.scope, str(id)))

    @strawberry.mutation(description="Poll one of your mailboxes over IMAP.")
    async def add_mailbox(self, info: ContextInfo, input: AddMailboxInput) -> Mailbox:
        return Mailbox.of(await mailboxes.add_account(info.context.scope, input.to_input()))

    @strawberry.mutation(description="Stop polling a mailbox and forget its password.")
    async def remove_mailbox(self, info: ContextInfo, id: strawberry.ID) -> Mailbox:
        return Mailbox.of(await mailboxes.remove_account(info.context.scope, str(id)))

    @strawberry.mutation(description="Admins: track a site's visits.")
    async def create_tracking_site(
        self, info: ContextInfo, input: TrackingSiteInput
    ) -> TrackingSite:
        scope = info.context.scope
        site = await sites.create_site(scope, input.to_input())
        return TrackingSite.of(site, scope.config.public_url)

    @strawberry.mutation
    async def update_tracking_site(
        self, info: ContextInfo, id: strawberry.ID, input: TrackingSiteInput
    ) -> TrackingSite:
        scope = info.context.scope
        site = await sites.update_site(scope, str(id), input.to_input())
        return TrackingSite.of(site, scope.config.public_url)
