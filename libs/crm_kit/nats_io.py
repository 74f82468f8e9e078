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

from nats.aio.client import Client
from nats.errors import Error as NatsError
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


class ReplyLost(NatsError):
    """The connection a request went out on broke: its reply will not come. Raised at once
    instead of after the request's timeout (a JetStream publish waits 5 s), so a caller
    tries again as soon as the client has reconnected. Like a timeout it means "maybe
    done", which every caller already allows for (publishes carry their `Nats-Msg-Id`,
    acks are idempotent, a request/reply caller gets PeerUnavailable). Not a TimeoutError:
    nats-py turns any of those into its own plain timeout."""

    def __str__(self) -> str:
        return "nats: the connection was lost before the reply came"


def fail_requests_in_flight(client: Client) -> int:
    """Fail every request of `client` still waiting for its reply (see `ReplyLost`); the
    number failed. nats-py keeps them in `_resp_map` and fails none of them when its
    connection breaks: a reply sent to the server that died never comes, and each waited
    out its whole timeout. Requests made during the reconnect are sent once it is back."""
    waiting = getattr(client, "_resp_map", None)
    if not isinstance(waiting, dict):
        return 0  # another nats-py: requests end at their timeouts, as before
    failed = 0
    for future in list(waiting.values()):
        if isinstance(future, asyncio.Future) and not future.done():
            future.set_exception(ReplyLost())
            failed += 1
    return failed


async def connect(url: str, *, user: str, name: str | None = None, **options: Any) -> Client:
    """Connect as the platform party `user` (its nkey seed: see `nats_auth`). `url` may
    list several servers separated by commas (a cluster). When the connection breaks, the
    requests waiting for replies fail at once (`ReplyLost`)."""
    client = Client()
    also_disconnected = options.pop("disconnected_cb", None)

    async def disconnected() -> None:
        if failed := fail_requests_in_flight(client):
            log.warning("NATS connection lost: %d requests in flight failed", failed)
        if also_disconnected is not None:
            await also_disconnected()

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
        "disconnected_cb": disconnected,
        **options,
    }
    if seed is not None:
        settings["nkeys_seed"] = str(seed)
    servers = [server.strip() for server in url.split(",") if server.strip()]
    await client.connect(servers, **settings)
    return client


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
