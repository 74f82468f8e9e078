"""The owners' export page endpoints over NATS request/reply
(`crm_contracts.export_pages`). Each request is signed as the imports party for the person
who asked for the export, so the owner reads the page with that person's rights."""

from __future__ import annotations

from typing import Any

from crm_contracts.export_pages import ExportPageReply, ExportPageRequest, page_subject
from crm_kit.context import RequestContext

from .sinks import NatsSinks


class NatsPages(NatsSinks):
    """The owners' endpoints asked as the import batches are (`NatsSinks`): a refusal
    is `SinkRefused`, an owner that does not answer `SinkUnavailable`."""

    async def page(
        self,
        caller: RequestContext,
        record_type: str,
        filter: dict[str, Any],
        after: str | None,
        limit: int,
    ) -> ExportPageReply:
        request = ExportPageRequest(filter=filter, after=after, limit=limit)
        data = await self._call(page_subject(record_type), caller, request.wire())
        return ExportPageReply.model_validate(data)
