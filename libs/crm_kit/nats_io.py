"""NATS connections (authenticated, one party each) and JetStream stream set-up.

Streams are created and updated only by the provisioner (`python -m crm_kit.nats_setup
streams`, run by the local stack, the test fixtures and the Kubernetes init Job); the
services may only look them up (`require_stream`), so none of them can reconfigure,
purge or delete a stream.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from crm_contracts.streams import DEAD_LETTER_STREAM, SERVICES, StreamSpec, stream_for

from .auth import development_mode
from .nats_auth import SEED_FILE_ENV, inbox_prefix, seed_file_for

log = logging.getLogger(__name__)

# JetStream forgets a Nats-Msg-Id after this window; the outbox relay re-sends well within
# it (its sweep runs every few seconds), so a re-send after a crash is always recognised.
DUPLICATE_WINDOW_SECONDS = 15 * 60


async def _report_error(error: Exception) -> None:
    # A permission violation does not close the connection: the refused request just gets
    # no answer. Logging the server's words is what tells an operator why.
    log.error("NATS: %s", error)


async def connect(url: str, *, user: str, name: str | None = None, **options: Any) -> Client:
    """Connect as the platform party `user` (its nkey seed: see `nats_auth`). `url` may
    list several servers separated by commas (a cluster)."""
    seed = seed_file_for(user)
    if seed is None and not development_mode():
        raise RuntimeError(f"{SEED_FILE_ENV} must name this party's NATS nkey seed in production")
    settings: dict[str, Any] = {
        "name": name or f"crm-{user}",
        "connect_timeout": 3,
        "reconnect_time_wait": 0.5,
        "max_reconnect_attempts": -1,
        "inbox_prefix": inbox_prefix(user),
        "error_cb": _report_error,
        **options,
    }
    if seed is not None:
        settings["nkeys_seed"] = str(seed)
    servers = [server.strip() for server in url.split(",") if server.strip()]
    return await nats.connect(servers, **settings)


def stream_config(spec: StreamSpec, replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        num_replicas=replicas,
    )


async def ensure_stream(js: JetStreamContext, spec: StreamSpec, replicas: int = 1) -> None:
    """Create the stream, or bring an existing one to this configuration (provisioner)."""
    config = stream_config(spec, replicas)
    try:
        info = await js.stream_info(spec.name)
    except NotFoundError:
        try:
            await js.add_stream(config)
            return
        except Exception:  # noqa: BLE001 - another provisioner created it first; update below
            info = await js.stream_info(spec.name)
    if (
        sorted(info.config.subjects or []) != sorted(spec.subjects)
        or info.config.duplicate_window != DUPLICATE_WINDOW_SECONDS
        or (info.config.num_replicas or 1) != replicas
    ):
        await js.update_stream(config)


def platform_streams() -> list[StreamSpec]:
    return [*(stream_for(service) for service in SERVICES), DEAD_LETTER_STREAM]


async def provision_streams(js: JetStreamContext, replicas: int = 1) -> None:
    """Every stream of the platform, with `replicas` copies each (3 on a 3-node cluster)."""
    for spec in platform_streams():
        await ensure_stream(js, spec, replicas)


async def require_stream(js: JetStreamContext, spec: StreamSpec, timeout: float = 30.0) -> None:
    """Wait until the provisioner has created `spec` (in Kubernetes the init Job may still
    be running when a service starts)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await js.stream_info(spec.name)
            return
        except NotFoundError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"JetStream stream {spec.name} does not exist; create the streams with "
                    "`python -m crm_kit.nats_setup streams`"
                ) from None
            await asyncio.sleep(0.5)
