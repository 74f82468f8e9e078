"""The SMTP door's answers when something of ours fails: a temporary 451 (the sending
server tries again later), never aiosmtpd's 500 for an exception, which would bounce the
message for good; and each answer is counted for the operators."""

from __future__ import annotations

from aiosmtpd.smtp import Envelope
from prometheus_client import REGISTRY
from pymongo.errors import ServerSelectionTimeoutError

from crm_capture.entrypoints.smtp import CaptureHandler
from crm_capture.store.memory import memory_store
from crm_capture.usecases.routing import Routes

from .conftest import World


def _count(outcome: str) -> float:
    labels = {"service": "capture", "door": "smtp", "outcome": outcome}
    return REGISTRY.get_sample_value("crm_inbound_total", labels) or 0.0


async def test_a_recipient_lookup_failure_is_a_temporary_answer(world: World) -> None:
    store = memory_store(world.db)

    async def unreachable(_: str) -> None:
        raise ServerSelectionTimeoutError("no server")

    store.workspace_of_inbound_key = unreachable  # type: ignore[method-assign]
    handler = CaptureHandler(Routes(store, world.scopes), world.config)
    envelope = Envelope()
    envelope.mail_from = "rita@ourco.example"
    failed = _count("failed")
    reply = await handler.handle_RCPT(
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        envelope,
        f"abc@{world.config.domain}",
        [],
    )
    assert reply.startswith("451 ")
    assert envelope.rcpt_tos == [] and _count("failed") == failed + 1


async def test_refusals_are_counted_as_the_senders(world: World) -> None:
    handler = CaptureHandler(Routes(memory_store(world.db), world.scopes), world.config)
    envelope = Envelope()
    envelope.mail_from = "rita@ourco.example"
    refused = _count("refused")
    reply = await handler.handle_RCPT(
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        envelope,
        "someone@elsewhere.example",
        [],
    )
    assert reply.startswith("550 ") and _count("refused") == refused + 1
