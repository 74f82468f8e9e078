"""The owners' export page endpoints over NATS request/reply
(`crm_contracts.export_pages`). Each request is signed as the imports party for the person
who asked for the export, so the owner reads the page with that person's rights."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nats.aio.client import Client
from nats.errors import Error as NatsError

from crm_contracts.export_pages import ExportPageReply, ExportPageRequest, page_subject
from crm_kit.assertions import KeyRing
from crm_kit.context import RequestContext
from crm_kit.rpc import RpcError, rpc_call

from .port import SinkRefused, SinkUnavailable
from .sinks import REFUSALS


class NatsPages:
    def __init__(
        self, nc: Callable[[], Client], keys: Callable[[], KeyRing], timeout: float
    ) -> None:
        self._nc = nc
        self._keys = keys
        self._timeout = timeout

    async def page(
        self,
        caller: RequestContext,
        record_type: str,
        filter: dict[str, Any],
        after: str | None,
        limit: int,
    ) -> ExportPageReply:
        subject = page_subject(record_type)
        request = ExportPageRequest(filter=filter, after=after, limit=limit)
        try:
            data = await rpc_call(
                self._nc(), subject, caller, request.wire(), keys=self._keys(),
                timeout=self._timeout,
            )  # fmt: skip
        except RpcError as error:
            if error.code in REFUSALS:
                raise SinkRefused(error.code, error.message) from None
            raise SinkUnavailable(f"{subject}: {error.code} {error.message}") from None
        except (NatsError, TimeoutError) as error:
            raise SinkUnavailable(f"{subject}: {type(error).__name__}") from None
        return ExportPageReply.model_validate(data)
