"""One client for the request/reply endpoints of the other services (`crm_kit.rpc`).

A service's ports that ask another service (a deal's company exists, a task's deal, an
import batch's references, an automation's stage move) all need the same three things: the
connection and the signing keys as the runtime holds them once started (callables, because
the port is built before the lifespan connects), a timeout, and one meaning for "the peer
did not answer". That last is `PeerUnavailable`: not connected, no responders, or a
timeout. It is SERVICE_UNAVAILABLE and retryable, because nothing was decided: the port
refuses its write and the client asks again. What the peer did answer, including its
refusals, comes back as `RpcError` with the peer's code, for the port to interpret."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nats.aio.client import Client
from nats.errors import Error as NatsError

from .assertions import KeyRing
from .context import RequestContext
from .errors import ServiceUnavailable
from .rpc import rpc_call


class PeerUnavailable(ServiceUnavailable):
    """The service behind `subject` did not answer; `service` names it for the message."""

    def __init__(self, subject: str, why: str) -> None:
        self.subject = subject
        self.service = subject.split(".")[1] if subject.count(".") >= 1 else subject
        self.why = why
        super().__init__(
            f"the {self.service} service did not answer ({why}); nothing was written, try again",
            retryable=True,
        )


class RpcClient:
    """Calls endpoints as the party whose keys `keys` returns, for the caller each call
    names (`rpc_call` signs the body for that caller)."""

    def __init__(
        self,
        nc: Callable[[], Client | None],
        keys: Callable[[], KeyRing | None],
        timeout: float = 2.0,
    ) -> None:
        self._nc = nc
        self._keys = keys
        self.timeout = timeout

    async def call(
        self,
        subject: str,
        caller: RequestContext,
        body: dict[str, Any],
        *,
        timeout: float | None = None,
    ) -> Any:
        """The endpoint's `data`. Raises `RpcError` with the peer's code when it refused,
        `PeerUnavailable` when it did not answer."""
        nc, keys = self._nc(), self._keys()
        if nc is None or keys is None:
            raise PeerUnavailable(subject, "not connected to NATS")
        try:
            return await rpc_call(
                nc, subject, caller, body, keys=keys, timeout=timeout or self.timeout
            )
        except (NatsError, TimeoutError) as error:
            raise PeerUnavailable(subject, type(error).__name__) from None
