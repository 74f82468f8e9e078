"""NATS connection and idempotent JetStream stream setup."""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from crm_contracts.streams import StreamSpec

log = logging.getLogger(__name__)

# JetStream forgets a Nats-Msg-Id after this window; the outbox relay re-sends well within
# it (its sweep runs every few seconds), so a re-send after a crash is always recognised.
DUPLICATE_WINDOW_SECONDS = 15 * 60


async def connect(url: str, name: str) -> Client:
    return await nats.connect(
        url,
        name=name,
        connect_timeout=3,
        reconnect_time_wait=0.5,
        max_reconnect_attempts=-1,
    )


async def ensure_stream(js: JetStreamContext, spec: StreamSpec) -> None:
    """Create the stream, or bring an existing one to this configuration."""
    config = StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
    )
    try:
        info = await js.stream_info(spec.name)
    except NotFoundError:
        try:
            await js.add_stream(config)
            return
        except Exception:  # noqa: BLE001 - another replica created it first; update below
            info = await js.stream_info(spec.name)
    if sorted(info.config.subjects or []) != sorted(spec.subjects) or (
        info.config.duplicate_window != DUPLICATE_WINDOW_SECONDS
    ):
        await js.update_stream(config)
